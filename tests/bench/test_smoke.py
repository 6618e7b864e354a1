"""The relay harness still runs end to end: loopback p2p baseline and Hearth, seconds long.

Asserts that every figure is produced, never how fast anything is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import percentiles
from bench.relay import BEGIN, END, assign, write_doc

REPO = Path(__file__).resolve().parents[2]
FIGURES = (
    "sfu_cpu_s", "cpu_us_per_packet", "sent_pps", "forwarded_pps", "expected_pps", "loss",
    "rss_per_connection_kb", "transit_match_ratio", "client_cpu", "decoded_fps_min",
    "decode_errors", "root_netns_udp_drops", "unrouted_packets",
)


def test_write_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\n## Join\nkept\n")
    write_doc(doc, f"{BEGIN}\nfirst\n{END}\n")
    write_doc(doc, f"{BEGIN}\nsecond\n{END}\n")
    text = doc.read_text()
    assert "kept" in text
    assert "second" in text
    assert "first" not in text
    assert text.count(BEGIN) == 1


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


@pytest.mark.timeout(300)
def test_smoke_run_produces_every_figure_for_p2p_and_hearth(tmp_path: Path) -> None:
    """The loopback p2p baseline, then `hearth serve` on 127.0.0.1 (no namespace) through
    the Hearth adapter, in one smoke run of seconds. Stray HEARTH_* settings in the
    caller's environment do not reach the server."""
    doc = tmp_path / "benchmarks.md"
    env = {**os.environ, "HEARTH_REDIS_URL": "redis://127.0.0.1:1/0",
           "HEARTH_CONFIG": str(tmp_path / "missing.toml")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--smoke", "--sfu", "hearth",
         "--results-dir", str(tmp_path), "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=280, check=False, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = tmp_path.glob("relay-smoke-*.json")
    report = json.loads(result.read_text())
    runs = {r["sfu"]: r for r in report["runs"]}
    assert set(runs) == {"p2p", "hearth"}
    text = doc.read_text()
    assert BEGIN in text
    assert "python -m bench.relay --smoke" in text
    p2p = runs["p2p"]
    assert p2p["ok"], p2p.get("error")
    assert p2p["scenario"] == "1x1"
    for field in FIGURES:
        assert p2p[field] is not None, field
    assert all(p2p["transit_ms"][q] is not None for q in ("p50", "p95", "p99"))
    assert p2p["forwarded_pps"] > 0
    assert p2p["decoders"] == 1
    assert p2p["decoded_fps_min"] > 0  # frames really decode
    assert len(p2p["client_cpu"]) >= 2  # clients spread over processes
    row = next(r for r in report["summary"] if r["sfu"] == "p2p")
    # On a busy host the run may be rejected (loss, drops): then it says why, never a figure.
    if row["accepted"] == 1:
        assert "| 1x1 | p2p | 1/1 |" in text
    else:
        assert "| 1x1 | p2p | 0/1 |" in text
        assert f"repeat 0 1x1 p2p: {p2p['rejected']}" in text
    assert p2p["host"]["loadavg"]
    assert p2p["host"]["other_cpu_cores"] is not None
    run = runs["hearth"]
    assert run["ok"], run.get("error")
    for field in FIGURES:
        assert run[field] is not None, field
    assert all(run["transit_ms"][q] is not None for q in ("p50", "p95", "p99"))
    assert run["forwarded_pps"] > 0
    assert run["decoders"] == 1  # the empty relay slots are not handed to the harness
    assert run["decoded_fps_min"] > 0  # frames survive the relay and decode
    assert run["sfu_pids"]
    assert run["sfu_pids"] != runs["p2p"]["sfu_pids"]  # the server, not a client process
    assert "| 1x1 | hearth | " in text
    # the server is stopped when the coordinator exits
    for pid in run["sfu_pids"]:
        assert not Path(f"/proc/{pid}").exists() or b"hearth" not in Path(
            f"/proc/{pid}/cmdline").read_bytes()


@pytest.mark.timeout(300)
def test_memory_smoke_run_on_loopback(tmp_path: Path) -> None:
    """A fresh server's idle RSS, a first room, and two create → room → end cycles."""
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--memory", "--smoke",
         "--results-dir", str(tmp_path), "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=280, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = tmp_path.glob("relay-memory-smoke-*.json")
    report = json.loads(result.read_text())
    assert len(report["cycles"]) == 2
    assert report["idle_kb"] > 10_000  # a real server process, measured
    assert all(c["after_kb"] > 0 for c in report["cycles"])
    assert report["retained_kb"] == report["cycles"][-1]["after_kb"] - report["idle_kb"]
    text = doc.read_text()
    assert "Hearth's memory: a fresh process, then a soak" in text
    assert "retained after 2 cycles" in text


def test_a_server_that_cannot_start_says_why() -> None:
    """A refused setting surfaces as the server's own one-line error, not a bare exit code."""
    from bench.hearth_adapter import HearthError, HearthServer

    with pytest.raises(HearthError, match="HEARTH_MAX_PARTICIPANTS"):
        HearthServer("127.0.0.1", 1, None, "127.0.0.1", max_participants=1)


def test_assign_gives_publishers_their_own_process_from_three_workers() -> None:
    pubs, subs = assign(6, 5, 3)
    assert pubs == [[0, 1, 2, 3, 4, 5], [], []]
    assert sorted(j for w in subs for j, _ in w) == list(range(5))
    assert subs[0] == []
    pubs, subs = assign(4, 3, 2)
    assert sorted(i for w in pubs for i in w) == [0, 1, 2, 3]
    assert all(w for w in pubs)  # both processes publish with only two workers
