"""What every benchmark shares: the machine description, percentiles, Markdown tables,
host load over a window, and the size budget of the raw results kept in the repository.

Nothing here measures by itself; each benchmark module calls these so that the same
figure is computed the same way everywhere.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench" / "data"
PROFILES_DIR = REPO / "bench" / "profiles"
# Raw results committed with docs/benchmarks.md: the latest run of each benchmark only
# (older runs belong to release artifacts, not the tree), and this many bytes at most.
DATA_BUDGET_BYTES = 150_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the machine


def machine(packages: Iterable[str] = ()) -> dict[str, str]:
    """CPU model, cores, memory, kernel, Python and the versions that shape the figures."""
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    free = subprocess.run(["free", "-m"], capture_output=True, text=True, check=False).stdout
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return {"cpu": model, "nproc": str(os.cpu_count()), "mem_gb": f"{mem_kb / 2**20:.1f}",
            "free_m": free.strip(), "kernel": platform.release(),
            "python": platform.python_version(), "packages": ", ".join(versions)}


def debian_version(package: str) -> str:
    """The installed Debian package's version, or "not installed"."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                         text=True, check=False).stdout.strip()
    return out or "not installed"


# ---------------------------------------------------------------- statistics


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of a non-empty sample, by nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def percentiles(values: Sequence[float],
                qs: Sequence[float] = (0.50, 0.95, 0.99)) -> dict[str, float | None]:
    """``{"p50": …, "p95": …, "p99": …}`` by nearest rank (None for an empty sample)."""
    return {f"p{round(q * 100)}": pct(values, q) if values else None for q in qs}


def fmt(value: float | None, spec: str) -> str:
    """A figure for a table; an em dash when there is none."""
    return "—" if value is None else format(value, spec)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table as lines (cells are str()-ed; pipes inside cells are escaped)."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------- host load


@dataclass(frozen=True)
class HostSample:
    """Whole-host CPU counters (/proc/stat, in ticks) and the load average at one moment."""

    total: int
    idle: int
    steal: int
    loadavg: tuple[float, float, float]


def host_sample() -> HostSample:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is in user
    total = sum(fields[:8])
    load = tuple(float(x) for x in Path("/proc/loadavg").read_text().split()[:3])
    return HostSample(total=total, idle=fields[3] + fields[4], steal=fields[7],
                      loadavg=(load[0], load[1], load[2]))


def host_load(before: HostSample, after: HostSample, own_ticks: int,
              window_s: float) -> dict[str, Any]:
    """Load over a window: the load average at its end, steal time, and the CPU that
    processes other than ours used (in cores), from whole-host ticks minus ``own_ticks``
    (the SFU and client processes of the run)."""
    total = max(1, after.total - before.total)
    busy = total - (after.idle - before.idle)
    others = max(0, busy - own_ticks)
    return {"loadavg": after.loadavg, "steal_share": (after.steal - before.steal) / total,
            "busy_share": busy / total,
            "other_cpu_cores": others / CLK_TCK / window_s if window_s > 0 else None}


# ---------------------------------------------------------------- the size budget

# "relay-smoke-<stamp>.json" is the benchmark "relay-smoke": a smoke run never prunes a real one.
_STAMP = re.compile(r"^(?P<bench>[a-z0-9_-]+?)-(?P<stamp>\d{8}T\d{6}Z)\.json$")


def prune(results_dir: Path, keep: Iterable[Path] = ()) -> list[Path]:
    """Keep the latest raw JSON per benchmark in ``results_dir`` (and anything in ``keep``);
    remove older runs. Returns what was removed."""
    kept = {p.resolve() for p in keep}
    latest: dict[str, Path] = {}
    found: list[tuple[str, Path]] = []
    for path in sorted(results_dir.glob("*.json")):
        m = _STAMP.match(path.name)
        if m is None:
            continue
        found.append((m["bench"], path))
        if m["bench"] not in latest or path.name > latest[m["bench"]].name:
            latest[m["bench"]] = path
    removed = []
    for bench, path in found:
        if path != latest[bench] and path.resolve() not in kept:
            path.unlink()
            removed.append(path)
    return removed


def committed_size(dirs: Sequence[Path] = (DATA_DIR, PROFILES_DIR)) -> int:
    """Bytes of raw results and profiles under ``dirs``."""
    return sum(p.stat().st_size for d in dirs if d.exists() for p in d.rglob("*") if p.is_file())
