"""CI smoke for the breakout-switch benchmark: it runs and yields every figure."""

from __future__ import annotations

from bench.switch import measure


async def test_switch_benchmark_produces_figures() -> None:
    first, switches = await measure(2)
    assert len(first) == 1
    assert len(switches) == 2
    assert all(s > 0 for s in switches + first)
