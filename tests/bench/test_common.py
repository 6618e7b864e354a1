"""The benchmarks' shared helpers and the rules that keep a relay figure honest.

Pure functions only (no process, no network): these run in `make test-fast`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.common import (
    CLK_TCK,
    DATA_BUDGET_BYTES,
    DATA_DIR,
    HostSample,
    committed_size,
    fmt,
    host_load,
    md_table,
    pct,
    percentiles,
    prune,
)
from bench.relay import judge, plan_runs, render, summarize


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert pct([3.0], 0.99) == 3.0
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    with pytest.raises(ValueError):
        pct([], 0.5)


def test_markdown_table_and_figures() -> None:
    assert md_table(("a", "b"), [(1, "x|y")]) == ["| a | b |", "|---|---|", "| 1 | x\\|y |"]
    assert fmt(None, ".1f") == "—"
    assert fmt(0.123, ".1%") == "12.3%"


def test_host_load_counts_other_processes_and_steal() -> None:
    before = HostSample(total=10_000, idle=6_000, steal=0, loadavg=(1.0, 1.0, 1.0))
    after = HostSample(total=12_000, idle=6_500, steal=100, loadavg=(3.5, 2.0, 1.0))
    load = host_load(before, after, own_ticks=500, window_s=10.0)
    assert load["loadavg"] == (3.5, 2.0, 1.0)
    assert load["steal_share"] == pytest.approx(0.05)
    assert load["busy_share"] == pytest.approx(0.75)
    # 1,500 busy ticks, 500 of them ours: 1,000 ticks over 10 s by others
    assert load["other_cpu_cores"] == pytest.approx(1000 / CLK_TCK / 10.0)


def test_prune_keeps_the_latest_run_per_benchmark(tmp_path: Path) -> None:
    names = ["relay-20260101T000000Z.json", "relay-20260102T000000Z.json",
             "relay-smoke-20260103T000000Z.json", "signaling-20260101T000000Z.json",
             "relay-memory-20260101T000000Z.json", "notes.json"]
    for name in names:
        (tmp_path / name).write_text("{}")
    removed = prune(tmp_path)
    assert [p.name for p in removed] == ["relay-20260101T000000Z.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


def test_committed_results_stay_within_the_budget() -> None:
    assert committed_size() <= DATA_BUDGET_BYTES
    assert prune(DATA_DIR, keep=DATA_DIR.glob("*.json")) == []
    stems = [p.name.rsplit("-", 1)[0] for p in DATA_DIR.glob("*.json")]
    assert len(stems) == len(set(stems)), "one raw run per benchmark"


def a_run(**changes: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "ok": True, "repeat": 0, "scenario": "6x5", "sfu": "hearth", "loss": 0.0,
        "root_netns_udp_drops": 0, "client_cpu": [0.3, 0.4], "cpu_us_per_packet": 50.0,
        "forwarded_pps": 4700.0, "expected_pps": 4700.0, "rss_per_connection_kb": 1.0,
        "decoded_fps_min": 30.0, "sfu_cpu_share": 0.2, "count_deficit": 0.0,
        "decode_errors": 0, "transit_ms": {"p50": 2.0, "p95": 6.0, "p99": 9.0},
        "host": {"loadavg": (1.0, 1.0, 1.0), "steal_share": 0.0, "busy_share": 0.5,
                 "other_cpu_cores": 0.1},
    }
    run.update(changes)
    return run


@pytest.mark.parametrize(("changes", "reason"), [
    ({"loss": 0.0001}, "video loss 0.01%"),
    ({"loss": None}, "not measurable"),
    ({"root_netns_udp_drops": 3}, "3 UDP datagrams dropped"),
    ({"client_cpu": [0.3, 0.9]}, "client process 1 at 90%"),
])
def test_a_run_with_loss_drops_or_a_busy_client_is_rejected(changes: dict[str, Any],
                                                             reason: str) -> None:
    run = a_run(**changes)
    judge(run)
    assert reason in run["rejected"]
    clean = a_run()
    judge(clean)
    assert "rejected" not in clean


def test_rejected_runs_never_become_a_ratio() -> None:
    runs = [a_run(sfu="p2p", scenario="1x1"), a_run(sfu="janus", cpu_us_per_packet=60.0),
            a_run(sfu="hearth", loss=0.3)]
    for run in runs:
        judge(run)
    report = {
        "machine": {"cpu": "x", "nproc": "2", "kernel": "k", "python": "3", "packages": "p",
                    "janus": "1.1.2", "free_m": ""},
        "args": {"warmup": 1, "window": 1, "repeats": 1, "sfu": ["janus", "hearth"],
                 "workers": 2},
        "date": "d", "command": "c", "packet_rate": 165.0, "runs": runs,
        "summary": summarize(runs), "json": "j",
    }
    text = render(report)
    assert "not compared: no accepted run for Hearth" in text
    assert "| 6x5 | not compared" in text
    assert "repeat 0 6x5 hearth: video loss 30.00%" in text


def test_the_order_alternates_between_repeats() -> None:
    plan = plan_runs(2, [(6, 5)], ["janus", "hearth"])
    assert plan == [(0, "p2p", 1, 1), (0, "janus", 6, 5), (0, "hearth", 6, 5),
                    (1, "hearth", 6, 5), (1, "janus", 6, 5), (1, "p2p", 1, 1)]
    assert plan_runs(1, [(1, 1)], []) == [(0, "p2p", 1, 1)]


def test_the_benchmark_server_inherits_no_setting(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    from bench.hearth_adapter import server_env

    monkeypatch.setenv("HEARTH_REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("HEARTH_CONFIG", "/etc/hearth.toml")
    env = server_env("127.0.0.1", 8090, "http://127.0.0.1:8090", tmp_path, "127.0.0.1", 200)
    assert "HEARTH_REDIS_URL" not in env
    assert "HEARTH_CONFIG" not in env
    assert env["HEARTH_PORT"] == "8090"
    assert "PATH" in env
    # the hearth-simulcast adapter's server takes the relay's layers; the other not
    assert env["HEARTH_SIMULCAST"] == "false"
    simulcast = server_env("127.0.0.1", 8091, "http://127.0.0.1:8091", tmp_path, "127.0.0.1",
                           200, simulcast=True)
    assert simulcast["HEARTH_SIMULCAST"] == "true"
