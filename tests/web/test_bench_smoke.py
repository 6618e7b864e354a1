"""CI smoke for the Chromium benchmarks: one join and one breakout round, every figure
produced (nothing about speed is asserted)."""

from __future__ import annotations

from bench.breakouts import run as run_breakouts
from bench.browser import PHASES, run


def test_browser_benchmark_produces_every_phase() -> None:
    results = run(1)
    for phase in PHASES:
        assert len(results[phase]) == 1, phase
    assert len(results["join → first frame"]) == 1
    assert len(results["chat"]) == 1


def test_breakout_benchmark_produces_every_figure() -> None:
    results = run_breakouts(1)
    assert results["missed"] == []
    for figure in ("open", "move", "close"):
        assert len(results[figure]) == 1, figure
        assert results[figure][0] >= 0, figure
