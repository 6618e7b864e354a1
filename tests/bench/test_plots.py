"""The relay charts are drawn from a report's summary rows alone (no measurement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.plots import CPU_PNG, TRANSIT_PNG, write_relay_plots
from bench.relay import render

PNG = b"\x89PNG\r\n\x1a\n"


def row(scenario: str, sfu: str, cpu: float | None, p50: float | None,
        p95: float | None) -> dict[str, Any]:
    return {"scenario": scenario, "sfu": sfu, "cpu_us_per_packet": cpu, "added_p50": p50,
            "added_p95": p95}


def synthetic() -> dict[str, Any]:
    return {
        "date": "2026-01-01 00:00 UTC",
        "args": {"scenarios": ["1x1", "4x3", "12x11"]},
        "summary": [
            row("1x1", "p2p", 240.0, 0.0, 0.0),
            row("1x1", "janus", 150.0, -0.1, -1.0),
            row("1x1", "hearth", 190.0, 0.0, -1.5),
            row("4x3", "janus", 60.0, 0.2, 0.5),
            row("4x3", "hearth", 50.0, 0.3, 1.4),
            row("12x11", "janus", 58.0, 211.0, 780.0),
            row("12x11", "hearth", None, None, None),  # every run failed
        ],
    }


def test_writes_both_charts_as_png(tmp_path: Path) -> None:
    paths = write_relay_plots(synthetic(), tmp_path / "charts")
    assert [p.name for p in paths] == [CPU_PNG, TRANSIT_PNG]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 5000  # axes, bars and labels, not an empty canvas


def test_p2p_only_report_draws_nothing(tmp_path: Path) -> None:
    report = {"date": "d", "summary": [row("1x1", "p2p", 240.0, 0.0, 0.0)]}
    assert write_relay_plots(report, tmp_path) == []
    assert not list(tmp_path.iterdir())


def test_relay_section_links_the_charts() -> None:
    report: dict[str, Any] = {
        "date": "d", "command": "python -m bench.relay", "packet_rate": 165.0,
        "machine": {"cpu": "c", "nproc": "2", "kernel": "k", "python": "3.11",
                    "packages": "p", "janus": "j", "free_m": "m"},
        "args": {"warmup": 1, "window": 2, "repeats": 1, "sfu": ["hearth"], "workers": 2},
        "summary": [], "runs": [], "json": "x.json",
    }
    text = render(report, ["benchmarks/relay-cpu.png", "benchmarks/relay-transit.png"])
    assert "![relay-cpu](benchmarks/relay-cpu.png)" in text
    assert "![relay-transit](benchmarks/relay-transit.png)" in text
