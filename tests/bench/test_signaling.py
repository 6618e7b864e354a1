"""The signaling load harness still runs end to end: 20 clients, 2 sessions, embedded store.

Asserts that every figure is produced and sane, never how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.signaling import BEGIN, END, PHASES

REPO = Path(__file__).resolve().parents[2]
ACKED = ("join_therapist", "join_knock", "admit", "join_connect", "chat_send", "set_media",
         "hand", "breakouts_create", "breakouts_auto", "breakouts_open", "breakouts_close")
SEEN = ("connect", "admitted_seen", "chat_delivered", "breakouts_closed_seen")


def test_smoke_run_produces_every_figure(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.signaling", "--smoke", "--results-dir", str(tmp_path),
         "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=110, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = tmp_path.glob("signaling-smoke-*.json")
    report = json.loads(result.read_text())
    (run,) = report["runs"]
    assert run["ok"], run.get("error")
    assert run["store"] == "embedded"
    assert run["connected"] == 20
    for name in ACKED + SEEN:
        event = run["events"][name]
        assert event["n"] > 0, name
        assert 0 <= event["p50_ms"] <= event["p99_ms"] <= event["max_ms"], name
    for name in ACKED:  # every ack is counted by outcome, errors included
        assert sum(run["events"][name]["outcomes"].values()) >= run["events"][name]["n"]
    assert run["events"]["join_knock"]["n"] == 18  # 9 members knock in each session
    assert run["events"]["admit"]["outcomes"].get("ok") == 18
    assert run["rss_idle_kb"] > 0
    assert run["rss_joined_kb"] > 0
    assert run["rss_per_connection_kb"] is not None
    assert isinstance(run["rate_limited"], int)
    for phase in PHASES:
        info = run["phases"][phase]
        assert info["server_cpu_ms_per_event"] is not None, phase
        assert info["server_cpu_ms_per_event"] >= 0, phase
        assert len(info["client_cpu"]) == 2, phase  # clients spread over processes
        assert all(c >= 0 for c in info["client_cpu"]), phase
    assert run["phases"]["steady"]["states_received"] > 0
    text = doc.read_text()
    assert BEGIN in text
    assert END in text
    assert "python -m bench.signaling --smoke" in text
    assert "| chat_send |" in text
    assert "server RSS per connection, kB" in text
