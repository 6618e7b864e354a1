"""PNG charts of a relay benchmark report, so docs/benchmarks.md shows the comparison at a
glance; the tables stay the exact figures.

    python -m bench.plots bench/data/relay-20261127T050753Z.json   # → docs/benchmarks/

Reads only the report's ``summary`` rows (what ``bench.relay.summarize`` writes), so an
old JSON can be drawn again without measuring.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "docs" / "benchmarks"
CPU_PNG, TRANSIT_PNG = "relay-cpu.png", "relay-transit.png"
# Same SFU, same colour in both charts; Janus first, as the reference.
COLOURS = {"janus": "#4c72b0", "hearth": "#dd8452"}
SFU_ORDER = ("janus", "hearth")


def _scenarios(report: dict[str, Any]) -> list[str]:
    """Scenario order as run (args), falling back to the summary's order."""
    seen = [r["scenario"] for r in report["summary"] if r["sfu"] != "p2p"]
    ordered = [s for s in report.get("args", {}).get("scenarios", []) if s in seen]
    return ordered + [s for s in dict.fromkeys(seen) if s not in ordered]


def _label(scenario: str) -> str:
    pubs, subs = scenario.split("x")
    return f"{scenario}\n{pubs} pub, {subs} sub"


def _sfus(report: dict[str, Any]) -> list[str]:
    present = {r["sfu"] for r in report["summary"] if r["sfu"] != "p2p"}
    return [s for s in SFU_ORDER if s in present] + sorted(present - set(SFU_ORDER))


def _missing(ax: Axes, x: float, text: str = "no accepted run") -> None:
    ax.annotate(text, (x, 0), xytext=(0, 4), textcoords="offset points", ha="center",
                va="bottom", fontsize=7, rotation=90, color="#666666")


def plot_cpu(report: dict[str, Any], path: Path) -> None:
    """(a) SFU CPU µs per forwarded packet, per scenario, one bar per SFU."""
    by = {(r["scenario"], r["sfu"]): r for r in report["summary"]}
    scenarios, sfus = _scenarios(report), _sfus(report)
    width = 0.8 / max(1, len(sfus))
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    for k, sfu in enumerate(sfus):
        for i, scenario in enumerate(scenarios):
            x = i + (k - (len(sfus) - 1) / 2) * width
            value = by.get((scenario, sfu), {}).get("cpu_us_per_packet")
            if value is None:
                _missing(ax, x)
                continue
            ax.bar(x, value, width, color=COLOURS.get(sfu), label=sfu if i == 0 else None)
            ax.annotate(f"{value:.0f}", (x, value), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(scenarios)), [_label(s) for s in scenarios], fontsize=8)
    ax.set_ylabel("SFU CPU per forwarded packet (µs)")
    ax.set_title(f"Relay CPU cost per packet, lower is better ({report.get('date', '')})",
                 fontsize=10)
    _legend(ax, sfus)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_transit(report: dict[str, Any], path: Path) -> None:
    """(b) Added transit p50 (solid) and p95 (hatched) over the p2p baseline, per SFU."""
    by = {(r["scenario"], r["sfu"]): r for r in report["summary"]}
    scenarios, sfus = _scenarios(report), _sfus(report)
    series = [(sfu, q) for sfu in sfus for q in ("p50", "p95")]
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    for k, (sfu, q) in enumerate(series):
        for i, scenario in enumerate(scenarios):
            x = i + (k - (len(series) - 1) / 2) * width
            value = by.get((scenario, sfu), {}).get(f"added_{q}")
            if value is None:
                _missing(ax, x)
                continue
            ax.bar(x, value, width, color=COLOURS.get(sfu), hatch="//" if q == "p95" else None,
                   edgecolor="white", label=f"{sfu} {q}" if i == 0 else None)
            ax.annotate(f"{value:.1f}", (x, value), xytext=(0, 2 if value >= 0 else -2),
                        textcoords="offset points", ha="center",
                        va="bottom" if value >= 0 else "top", fontsize=6)
    # Symmetric log: small negative and positive differences stay visible next to the
    # hundreds of ms of an overloaded run.
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(scenarios)), [_label(s) for s in scenarios], fontsize=8)
    ax.set_ylabel("added transit vs p2p baseline (ms, symlog)")
    ax.set_title(f"Added transit p50 / p95, lower is better ({report.get('date', '')})",
                 fontsize=10)
    _legend(ax, sfus)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _legend(ax: Axes, sfus: list[str]) -> None:
    if sfus:
        ax.legend(fontsize=8, loc="upper left")


def write_relay_plots(report: dict[str, Any], out_dir: Path = OUT_DIR) -> list[Path]:
    """Both charts into ``out_dir``; nothing when the report has no SFU runs (p2p only)."""
    if not _sfus(report) or not _scenarios(report):
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    cpu, transit = out_dir / CPU_PNG, out_dir / TRANSIT_PNG
    plot_cpu(report, cpu)
    plot_transit(report, transit)
    return [cpu, transit]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.plots",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("report", type=Path, help="bench/data/relay-*.json")
    p.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    for path in write_relay_plots(json.loads(args.report.read_text()), args.out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
