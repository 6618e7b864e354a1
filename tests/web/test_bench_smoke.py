"""CI smoke for the Chromium benchmark: one join, every phase figure produced."""

from __future__ import annotations

from bench.browser import PHASES, run


def test_browser_benchmark_produces_every_phase() -> None:
    results = run(1)
    for phase in PHASES:
        assert len(results[phase]) == 1, phase
    assert len(results["join → first frame"]) == 1
    assert len(results["chat"]) == 1
