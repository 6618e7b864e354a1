"""Relay benchmark: the same aiortc clients through each SFU, side by side.

    python -m bench.relay --scenarios 1x1,4x3 --repeats 3 --warmup 8 --window 20 --sfu janus,hearth
    python -m bench.relay --memory --cycles 100   # Hearth's memory: fresh process, then a soak
    python -m bench.relay --sfu hearth-simulcast,janus-simulcast --layer q   # 180p viewers
    python -m bench.relay --smoke          # loopback, p2p only, seconds long
    python -m bench.relay --smoke --sfu hearth   # plus `hearth serve` on loopback
    make bench-relay                       # the full run (bench/janus/janus-peer around it)

Each repeat runs the direct peer-to-peer baseline (1x1) and every scenario on every
SFU; the order alternates between repeats (the SFUs' order rotates, the baseline goes
first, then last), so neither SFU always runs on a warmer or busier host. Each run
spawns fresh client processes, measures a window after warm-up, and records:

* SFU CPU seconds per forwarded packet (utime+stime of the SFU's PIDs);
* forwarded packets/s against publishers x subscribers x the send rate;
* transit p50/p95/p99, and the same minus the baseline of that repeat;
* the host over the window: load average, steal time, other processes' CPU;
* each client process's CPU.

Simulcast runs give every viewer the layer ``--layer`` asks for (the highest by
default) on both SFUs, and after the warm-up wait (at most ``--settle`` seconds) until
every viewer slot receives it; the report says what each viewer really received.

A run is rejected, and listed with the reason, when any video packet was lost, when
the clients' namespace dropped UDP datagrams, or when a client process went above 80%
of a core: such a run says more about the host than about the SFU, so it never
becomes a ratio. ``--memory`` starts a fresh `hearth serve`, measures its idle RSS and
its RSS during a first room, then runs create → room → end cycles and reports the RSS
that stays. It writes bench/data/relay-*.json and its sections of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import json
import math
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import simulcast
from bench.adapters import make_adapter
from bench.clients import (
    CLK_TCK,
    FPS,
    clip_packet_rate,
    load_clip,
    read_cpu_ticks,
    read_rss_kb,
    worker_main,
)
from bench.common import (
    debian_version,
    host_load,
    host_sample,
    machine,
    md_table,
    percentiles,
    prune,
)
from bench.common import fmt as _f
from bench.doc import replace_section
from bench.workers import RunError, WorkerHandle

REPO = Path(__file__).resolve().parent.parent
CLIENT_IP = "198.18.77.1"
#: (first, second) SFU pairs whose CPU per packet is compared when both ran
RATIOS = (("hearth", "janus"), ("hearth-simulcast", "janus-simulcast"),
          ("hearth-simulcast", "hearth"))
SFU_NAMES = {"hearth": "Hearth", "janus": "Janus", "hearth-simulcast": "Hearth simulcast",
             "janus-simulcast": "Janus simulcast"}
CLIENT_CPU_LIMIT = 0.80  # of one core, per client process
CONNECT_TIMEOUT_S = 25.0
DATA_DIR = Path(__file__).resolve().parent / "data"
BEGIN, END = "<!-- bench.relay:begin -->", "<!-- bench.relay:end -->"
MEM_BEGIN, MEM_END = "<!-- bench.relay.memory:begin -->", "<!-- bench.relay.memory:end -->"
MAX_CYCLES = 200  # the soak is bounded in count (and each cycle in time)
MAX_SETTLE_S = 300.0


def udp_drops(pid: int | str = "self") -> int:
    """UDP RcvbufErrors in the network namespace of `pid` (/proc/PID/net/snmp)."""
    lines = [ln.split() for ln in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
             if ln.startswith("Udp:")]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


# ---------------------------------------------------------------- worker processes


def worker_handle(config: dict[str, Any]) -> WorkerHandle:
    """A client process of this benchmark (bench.clients.worker_main)."""
    return WorkerHandle(worker_main, config, start_limit=60, close_limit=15)


# ---------------------------------------------------------------- one run


#: a receipt joins the latest send of the same data by the same publisher at most this
#: long before it (a replayed clip repeats its data every CLIP_FRAMES / FPS = 3 s)
MATCH_HORIZON_S = 1.0
#: sends in the last this many seconds of the window are not yet due (late counts as lost)
DUE_MARGIN_S = 0.25


def _layer_order(rid: str) -> int:
    return simulcast.RIDS.index(rid) if rid in simulcast.RIDS else -1


def _segments(received: list[tuple[float, str]]) -> list[tuple[str, float, float]]:
    """(rid, from, until) by send time: the layer a viewer slot received, from the
    first send of each layer it switched to. ``received``: (send time, rid) sorted."""
    out: list[tuple[str, float, float]] = []
    for t, rid in received:
        if out and out[-1][0] == rid:
            continue
        if out:
            out[-1] = (out[-1][0], out[-1][1], t)
        out.append((rid, -math.inf if not out else t, math.inf))
    return out


def join_video(collected: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Join video sends and receipts by (publisher, ``video_key``) and say what each
    viewer slot (subscriber x publisher) should have received.

    A receipt joins the latest send of its publisher's data before it (within
    ``MATCH_HORIZON_S``): keys repeat only when the clip does, every 3 s. A slot
    should get one layer at a time, the one the SFU chose: what it is expected to
    receive is every packet of the layer(s) it received, each from the send of the
    first packet it got of that layer until the next layer's (``_segments``); a slot
    that received no video is expected to have received its publisher's lowest layer.
    So a simulcast run is judged on the layer each viewer is given, and any packet of
    it that went missing is loss.

    Returns ``transit`` (ms), ``received`` (video packets), ``loss`` (share of the due
    (packet, slot) pairs, sent in [t0, t1 - DUE_MARGIN_S], that never arrived by t1),
    ``expected`` (video packets the slots should have received in [t0, t1)),
    ``layers`` (slots per rid they mostly received; "" is a single layer, "none" no
    video), ``ended`` (slots per rid of the last packet they received) and
    ``unmatched`` (receipts joined to no send).
    """
    streams: dict[tuple[int, str], list[float]] = {}
    by_key: dict[tuple[int, int], list[tuple[float, str, int]]] = {}
    raw: dict[tuple[int, str], list[tuple[float, int]]] = {}
    for part in collected:
        for publisher, rid, key, t in part["sent_video"]:
            raw.setdefault((publisher, rid), []).append((t, key))
    for (publisher, rid), sends in raw.items():
        sends.sort()
        streams[(publisher, rid)] = [t for t, _ in sends]
        for index, (t, key) in enumerate(sends):
            by_key.setdefault((publisher, key), []).append((t, rid, index))
    for sends_of_key in by_key.values():
        sends_of_key.sort()
    lowest: dict[int, str] = {}
    for publisher, rid in streams:
        if publisher not in lowest or _layer_order(rid) < _layer_order(lowest[publisher]):
            lowest[publisher] = rid
    transit: list[float] = []
    received = unmatched = due = missing = expected = 0
    layers: dict[str, int] = {}
    ended: dict[str, int] = {}
    due_until = t1 - DUE_MARGIN_S
    for part in collected:
        for sub in part["subscribers"].values():
            got: dict[int, list[tuple[float, str]]] = {}
            matched: set[tuple[int, str, int]] = set()
            for publisher, key, t in sub["video"]:
                received += 1
                sends_of_key = by_key.get((publisher, key), [])
                at = bisect.bisect_right(sends_of_key, (t, "\uffff", 0)) - 1
                if at < 0 or t - sends_of_key[at][0] > MATCH_HORIZON_S:
                    unmatched += 1
                    continue
                t_send, rid, index = sends_of_key[at]
                transit.append((t - t_send) * 1000)
                got.setdefault(publisher, []).append((t_send, rid))
                matched.add((publisher, rid, index))
            for publisher in lowest:
                slot = sorted(got.get(publisher, []))
                counts: dict[str, int] = {}
                for _, rid in slot:
                    counts[rid] = counts.get(rid, 0) + 1
                main = max(counts, key=lambda r: counts[r]) if counts else "none"
                layers[main] = layers.get(main, 0) + 1
                last = slot[-1][1] if slot else "none"
                ended[last] = ended.get(last, 0) + 1
                segments = _segments(slot) or [(lowest[publisher], -math.inf, math.inf)]
                for rid, since, until in segments:
                    times = streams.get((publisher, rid), [])
                    lo = bisect.bisect_left(times, max(since, t0))
                    expected += bisect.bisect_left(times, min(until, t1)) - lo
                    for index in range(lo, bisect.bisect_left(times, min(until, due_until))):
                        due += 1
                        if (publisher, rid, index) not in matched:
                            missing += 1
    return {"transit": transit, "received": received, "loss": missing / due if due else None,
            "expected": expected, "layers": dict(sorted(layers.items())),
            "ended": dict(sorted(ended.items())), "unmatched": unmatched}


def assign(
    publishers: int, subscribers: int, workers: int
) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Which worker hosts which publisher and subscriber.

    With 3+ workers, publishers get their own process(es) (a third, at least
    one) so that their send bursts do not delay the subscribers' receive
    timestamps; with 2, both roles are spread round-robin.
    """
    pub_workers = max(1, workers // 3) if workers >= 3 else workers
    sub_workers = list(range(pub_workers, workers)) if workers >= 3 else list(range(workers))
    pub_of: list[list[int]] = [[] for _ in range(workers)]
    sub_of: list[list[tuple[int, int]]] = [[] for _ in range(workers)]
    for i in range(publishers):
        pub_of[i % pub_workers].append(i)
    for j in range(subscribers):
        offset = 0 if workers >= 3 else publishers
        sub_of[sub_workers[(offset + j) % len(sub_workers)]].append((j, subscribers))
    return pub_of, sub_of


async def _all_connected(handles: list[WorkerHandle], what: str) -> None:
    states = await asyncio.gather(
        *(h.call("wait_connected", CONNECT_TIMEOUT_S, limit_s=CONNECT_TIMEOUT_S + 10)
          for h in handles)
    )
    if any(s != "connected" for ws in states for s in ws):
        raise RunError(f"{what}: peer connections not connected: {states}")


#: each check of the layers the viewers receive looks at this many seconds of packets
SETTLE_PROBE_S = 1.5
SETTLE_EVERY_S = 1.0


async def settle(handles: list[WorkerHandle], rid: str,
                 limit_s: float) -> tuple[float, dict[str, int]]:
    """After the warm-up, wait (at most ``limit_s``) until every viewer slot's latest
    video is layer ``rid``: an SFU that raises a viewer's layer as its estimate of the
    viewer's link grows (Hearth) gets there later than one that is told the layer
    (Janus), and the window should compare them on the same layer. Returns the
    seconds waited and the slots per rid they ended on at the last check."""
    start = time.monotonic()
    while True:
        now = time.monotonic()
        collected = await asyncio.gather(
            *(h.call("collect", now - SETTLE_PROBE_S, now) for h in handles))
        ended: dict[str, int] = join_video(collected, now - SETTLE_PROBE_S, now)["ended"]
        waited = time.monotonic() - start
        if set(ended) == {rid} or waited >= limit_s:
            return waited, ended
        await asyncio.sleep(min(SETTLE_EVERY_S, max(0.0, limit_s - waited)))


async def run_one(
    sfu: str, options: dict[str, Any], publishers: int, subscribers: int, args: argparse.Namespace,
) -> dict[str, Any]:
    """Measure one scenario on one SFU with fresh client processes."""
    run: dict[str, Any] = {
        "sfu": sfu, "scenario": f"{publishers}x{subscribers}", "publishers": publishers,
        "subscribers": subscribers,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    adapter = make_adapter(sfu, options)
    sfu_pids = adapter.sfu_pids()
    rss_idle = sum(read_rss_kb(p) for p in sfu_pids)
    await adapter.setup_room(publishers, subscribers)
    layer = getattr(args, "layer", simulcast.RIDS[-1])
    settle_limit = float(getattr(args, "settle", 0.0))
    client_config = {**adapter.client_config(), "layer": layer}
    layered = bool(client_config.get("simulcast"))
    if layered:
        run["layer_asked"] = layer
    config = {
        "adapter": client_config, "host_ip": args.host_ip,
        "max_seconds": args.warmup + args.window + 120 + (settle_limit if layered else 0),
    }
    handles = [worker_handle(config) for _ in range(args.workers)]
    try:
        await asyncio.gather(*(h.started() for h in handles))
        t_setup = time.monotonic()
        n = len(handles)
        pub_of, sub_of = assign(publishers, subscribers, n)
        before = await asyncio.gather(*(h.call("mark") for h in handles))
        ids_by_worker = await asyncio.gather(
            *(h.call("publish", pub_of[w], limit_s=90) for w, h in enumerate(handles))
        )
        ids = [""] * publishers
        for w, worker_ids in enumerate(ids_by_worker):
            for i, pid in zip(pub_of[w], worker_ids, strict=True):
                ids[i] = pid
        run["publish_s"] = time.monotonic() - t_setup
        if adapter.name != "p2p":  # Janus offers a feed only once its publisher is connected
            await _all_connected(handles, "publishers")
            run["publishers_connected_s"] = time.monotonic() - t_setup
        await asyncio.gather(
            *(h.call("subscribe", sub_of[w], ids, limit_s=90) for w, h in enumerate(handles))
        )
        run["subscribed_s"] = time.monotonic() - t_setup
        await _all_connected(handles, "subscribers")
        run["connected_s"] = time.monotonic() - t_setup
        if not sfu_pids:  # p2p: the publishing client process stands in for the SFU
            sfu_pids = [h.pid for w, h in enumerate(handles) if pub_of[w]]
            rss_idle = sum(before[w][2] for w in range(n) if pub_of[w])
            run["sfu_cpu_source"] = "publishing client process (no SFU)"
        await asyncio.sleep(args.warmup)
        if layered and settle_limit > 0:
            run["settle_s"], run["settled_layers"] = await settle(handles, layer, settle_limit)

        marks0 = await asyncio.gather(*(h.call("mark") for h in handles))
        host0, self0 = host_sample(), read_cpu_ticks()
        sfu0 = sum(read_cpu_ticks(p) for p in sfu_pids)
        drops0 = (udp_drops(), udp_drops(sfu_pids[0]))
        t0 = time.monotonic()
        await asyncio.sleep(args.window)
        t1 = time.monotonic()
        sfu1 = sum(read_cpu_ticks(p) for p in sfu_pids)
        host1, self1 = host_sample(), read_cpu_ticks()
        drops1 = (udp_drops(), udp_drops(sfu_pids[0]))
        rss = sum(read_rss_kb(p) for p in sfu_pids)
        marks1 = await asyncio.gather(*(h.call("mark") for h in handles))
        collected = await asyncio.gather(*(h.call("collect", t0, t1) for h in handles))
    finally:
        await asyncio.gather(*(h.close() for h in handles), return_exceptions=True)
        with contextlib.suppress(Exception):
            await adapter.teardown_room()

    window = t1 - t0
    sent = sum(c["sent_packets"] for c in collected)
    received = sum(s["packets"] for c in collected for s in c["subscribers"].values())
    cpu_s = (sfu1 - sfu0) / CLK_TCK
    video = join_video(collected, t0, t1)
    values, video_received, video_loss = video["transit"], video["received"], video["loss"]
    sent_video = sum(1 for c in collected for v in c["sent_video"] if t0 <= v[3] < t1)
    # every subscriber should get every publisher's audio and, of its video, the
    # layer the SFU gives that viewer (all of it, for a single layer)
    expected = (sent - sent_video) * subscribers + video["expected"]
    client_cpu = [
        ((m1[1] - m0[1]) / CLK_TCK) / (m1[0] - m0[0]) for m0, m1 in zip(marks0, marks1, strict=True)
    ]
    decoders = [d for c in collected for s in c["subscribers"].values() for d in s["decoders"]]
    client_ticks = sum(m1[1] - m0[1] for m0, m1 in zip(marks0, marks1, strict=True))
    clients = {h.pid for h in handles}
    own = client_ticks + (self1 - self0) + (
        0 if set(sfu_pids) <= clients else sfu1 - sfu0)  # p2p: the SFU is a client
    run.update({
        "window_s": window,
        "sfu_pids": sfu_pids,
        "sfu_cpu_s": cpu_s,
        "sfu_cpu_share": cpu_s / window,
        "cpu_us_per_packet": cpu_s / received * 1e6 if received else None,
        "sent_pps": sent / window,
        "forwarded_pps": received / window,
        "expected_pps": expected / window,
        "count_deficit": 1 - received / expected if expected else None,
        "loss": video_loss,
        "rss_kb": rss,
        "rss_idle_kb": rss_idle,
        "rss_per_connection_kb": (rss - rss_idle) / (publishers + subscribers),
        "host": host_load(host0, host1, own, window),
        "transit_ms": percentiles(values),
        "transit_matched": len(values),
        "transit_match_ratio": len(values) / video_received if video_received else None,
        "video_unmatched": video["unmatched"],
        "video_layers": video["layers"],
        "video_layers_end": video["ended"],
        "video_expected_pps": video["expected"] / window,
        "client_cpu": client_cpu,
        "root_netns_udp_drops": drops1[0] - drops0[0],
        "sfu_netns_udp_drops": drops1[1] - drops0[1],
        "unrouted_packets": sum(
            s["unrouted"] for c in collected for s in c["subscribers"].values()
        ),
        "decoders": len(decoders),
        "decode_errors": sum(c["decode_errors"] for c in collected),
        "decoded_fps_min": min((d["frames"] / window for d in decoders), default=None),
        "decoded_size": decoders[0]["size"] if decoders else None,
        "decoded_frames": [d["frames"] for d in decoders],
    })
    judge(run)
    return run


# ---------------------------------------------------------------- summary and report


def judge(run: dict[str, Any]) -> None:
    """Reject a run that cannot be compared, and say why: any lost video packet, any
    UDP datagram dropped in the clients' namespace, or a client process above the CPU
    limit. A lossy run costs the SFU less CPU per delivered packet and shows transit
    of the packets that made it: it would flatter whichever SFU lost more.
    """
    run.pop("rejected", None)
    reasons = []
    loss = run.get("loss")
    if loss is None:
        reasons.append("video loss not measurable (no video in the window)")
    elif loss > 0:
        reasons.append(f"video loss {loss:.2%}")
    drops = run.get("root_netns_udp_drops", 0)
    if drops:
        reasons.append(f"{drops} UDP datagrams dropped in the clients' namespace")
    reasons += [f"client process {w} at {c:.0%} of a core (limit {CLIENT_CPU_LIMIT:.0%})"
                for w, c in enumerate(run.get("client_cpu", [])) if c > CLIENT_CPU_LIMIT]
    if reasons:
        run["rejected"] = "; ".join(reasons)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per (scenario, sfu) over accepted runs; transit minus that repeat's baseline."""
    baseline = {r["repeat"]: r for r in runs if r["sfu"] == "p2p" and r.get("ok")}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["sfu"]), []).append(r)
    rows = []
    for (scenario, sfu), group in groups.items():
        ok = [r for r in group if r.get("ok") and not r.get("rejected")]
        row: dict[str, Any] = {"scenario": scenario, "sfu": sfu, "runs": len(group),
                               "accepted": len(ok)}
        for field in ("cpu_us_per_packet", "forwarded_pps", "expected_pps", "loss",
                      "rss_per_connection_kb", "decoded_fps_min", "sfu_cpu_share",
                      "count_deficit"):
            row[field] = _median([r.get(field) for r in ok])
        row["client_cpu_max"] = max((max(r["client_cpu"]) for r in ok), default=None)
        hosts = [r["host"] for r in ok if r.get("host")]
        row["load1_max"] = max((h["loadavg"][0] for h in hosts), default=None)
        row["steal_max"] = max((h["steal_share"] for h in hosts), default=None)
        row["other_cpu_max"] = max((h["other_cpu_cores"] for h in hosts
                                    if h["other_cpu_cores"] is not None), default=None)
        row["decode_errors"] = sum(r.get("decode_errors", 0) for r in ok)
        row["video_layers"] = _layers_seen(ok)
        row["video_layers_end"] = _layers_seen(ok, "video_layers_end")
        row["layer_asked"] = ", ".join(sorted({r["layer_asked"] for r in ok
                                               if r.get("layer_asked")}))
        row["settle_s_max"] = max((r["settle_s"] for r in ok if r.get("settle_s") is not None),
                                  default=None)
        row["loss_max"] = max((r["loss"] for r in ok if r.get("loss") is not None), default=None)
        for q in ("p50", "p95", "p99"):
            row[f"transit_{q}"] = _median([r["transit_ms"][q] for r in ok])
            added = []
            for r in ok:
                base = baseline.get(r["repeat"])
                if base and base["transit_ms"][q] is not None and r["transit_ms"][q] is not None:
                    added.append(r["transit_ms"][q] - base["transit_ms"][q])
            row[f"added_{q}"] = _median(added) if sfu != "p2p" else 0.0
        rows.append(row)
    return rows


def _layers_seen(runs: list[dict[str, Any]], field: str = "video_layers") -> str:
    """Which layer the viewer slots of these runs received (``field``: mostly, or
    ``video_layers_end``: at the end of the window), e.g. "q: 30" or "f: 29, h: 1"
    (slots summed over the runs; "" is a single layer)."""
    seen: dict[str, int] = {}
    for r in runs:
        for rid, slots in (r.get(field) or {}).items():
            seen[rid] = seen.get(rid, 0) + slots
    return ", ".join(f"{rid or 'single'}: {n}" for rid, n in sorted(seen.items()))


def layer_protocol(rid: str, settle: float | None) -> str:
    """How the simulcast runs chose each viewer's layer, for the report."""
    spec = simulcast.layer_spec(rid)
    w, h = simulcast.tile_size(rid)
    wait = (f"after the warm-up, the run waits (at most {settle:.0f} s) until every "
            f"viewer slot receives it, then measures. " if settle else "")
    return (f"Simulcast: every viewer is asked for layer {rid} ({spec.height}p, encoded "
            f"at up to {spec.bitrate / 1000:.0f} kbit/s) of every publisher: on Hearth each viewer "
            f"reports each video tile as {w}x{h} (`media_view`, as a browser reports its "
            f"tiles), on Janus it asks for substream {simulcast.substream(rid)} (`join` and "
            f"`configure`). Hearth still adapts within its estimate of each viewer's link; "
            + wait + "The layer column shows what the viewers really received.")


def unlike(first: dict[str, Any], second: dict[str, Any]) -> str:
    """A ratio's caveat when two simulcast rows' viewers did not receive the same
    layers: their packets differ in size and rate, so the ratio compares unlike work."""
    if not (first.get("layer_asked") and second.get("layer_asked")):
        return ""
    if first.get("video_layers") == second.get("video_layers"):
        return ""
    return (f" (not like for like: layers received {first.get('video_layers') or '—'} "
            f"vs {second.get('video_layers') or '—'})")


def layer_cell(row: dict[str, Any]) -> str:
    """The table's layer column: the layer asked for (simulcast), then the slots by the
    layer they mostly received and, when it differs, by the one they ended on."""
    mostly = row.get("video_layers") or "—"
    end = row.get("video_layers_end")
    cell = mostly if not end or end == mostly else f"{mostly}; at end {end}"
    asked = row.get("layer_asked")
    settle = row.get("settle_s_max")
    if asked:
        cell = f"{asked} asked: {cell}"
        if settle is not None:
            cell += f" (settled in ≤{settle:.0f} s)"
    return cell


def relay_machine() -> dict[str, str]:
    """The machine, the client stack's versions and the Janus package's."""
    return {**machine(("aiortc", "aioice", "av")), "janus": debian_version("janus")}


def render(report: dict[str, Any], images: list[str] | None = None) -> str:
    """The relay section of docs/benchmarks.md; ``images`` are chart paths relative to it."""
    m = report["machine"]
    a = report["args"]
    lines = [
        BEGIN,
        "## Relay vs Janus, side by side",
        "",
        f"Measured {report['date']} with:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs (nproc), kernel {m['kernel']}, "
        f"Python {m['python']}, {m['packages']}, Janus {m['janus']}.",
        "",
        "```",
        m["free_m"],
        "```",
        "",
        f"Protocol: warm-up {a['warmup']} s, window {a['window']} s, {a['repeats']} repeat(s) "
        f"of the p2p baseline (1x1) and each scenario on {', '.join(a['sfu']) or '—'}; "
        + ("the order alternates between repeats (SFUs rotate; the baseline first, then "
           "last). " if a.get("order") == "alternating" else
           "the same order in every repeat (the baseline first, then the SFUs as listed). ")
        +
        f"{a['workers']} client processes; clients send a pre-encoded VP8 clip "
        f"(~1 Mbps, {FPS} fps, keyframe every second) plus Opus 20 ms, "
        f"~{report['packet_rate']:.0f} packets/s per publisher. "
        "Medians over accepted runs only (a run with any loss or client-side drop is "
        "rejected). Added transit subtracts the same repeat's p2p baseline.",
        *(["", layer_protocol(a["layer"], a.get("settle"))]
          if a.get("layer") and any("simulcast" in sfu for sfu in a["sfu"]) else []),
        "",
        "| Scenario | SFU | Runs accepted | CPU µs/pkt | Fwd pkt/s | Expected | "
        "Layer received (slots) | "
        "Transit p50/p95/p99 ms | Added p50/p95/p99 ms | Client CPU max | "
        "Host load1 / steal / others' CPU (max) | Decoded fps min (errors) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
        lines.append(
            f"| {r['scenario']} | {r['sfu']} | {r['accepted']}/{r['runs']} | "
            f"{_f(r['cpu_us_per_packet'], '.1f')} | {_f(r['forwarded_pps'], '.0f')} | "
            f"{_f(r['expected_pps'], '.0f')} | {layer_cell(r)} | "
            f"{_f(r['transit_p50'], '.2f')} / {_f(r['transit_p95'], '.2f')} / "
            f"{_f(r['transit_p99'], '.2f')} | {_f(r['added_p50'], '.2f')} / "
            f"{_f(r['added_p95'], '.2f')} / {_f(r['added_p99'], '.2f')} | "
            f"{_f(r['client_cpu_max'], '.0%')} | {_f(r.get('load1_max'), '.1f')} / "
            f"{_f(r.get('steal_max'), '.1%')} / {_f(r.get('other_cpu_max'), '.2f')} | "
            f"{_f(r['decoded_fps_min'], '.1f')} "
            f"({r['decode_errors']}) |"
        )
    by = {(r["scenario"], r["sfu"]): r for r in report["summary"]}
    for first, second in RATIOS:
        ratios = [(s, by[(s, first)], by[(s, second)]) for s, sfu in by
                  if sfu == first and (s, second) in by]
        if not ratios:
            continue
        a, b = SFU_NAMES[first], SFU_NAMES[second]
        lines += ["", f"| Scenario | CPU/pkt {a} / {b} | Added p95 {a} - {b} ms |",
                  "|---|---|---|"]
        for s, h, j in ratios:
            if not (h["accepted"] and j["accepted"]):
                missing = " or ".join(n for n, row in ((a, h), (b, j))
                                      if not row["accepted"])
                lines.append(f"| {s} | not compared: no accepted run for {missing} | — |")
                continue
            ratio = (h["cpu_us_per_packet"] / j["cpu_us_per_packet"]
                     if h["cpu_us_per_packet"] and j["cpu_us_per_packet"] else None)
            diff = (h["added_p95"] - j["added_p95"]
                    if h["added_p95"] is not None and j["added_p95"] is not None else None)
            lines.append(f"| {s} | {_f(ratio, '.2f')}x{unlike(h, j)} | {_f(diff, '+.2f')} |")
    if images:
        lines += ["", "Charts (medians from the table above; drawn by `bench/plots.py`):", ""]
        lines += [f"![{Path(i).stem}]({i})" for i in images]
    rejected = [r for r in report["runs"] if r.get("rejected") or not r.get("ok")]
    lines += ["", "Rejected or failed runs (not in the medians):" if rejected
              else "No run was rejected."]
    for r in rejected:
        host = r.get("host") or {}
        during = (f" (host load1 {host['loadavg'][0]:.1f}, others' CPU "
                  f"{_f(host.get('other_cpu_cores'), '.2f')} cores)" if host else "")
        lines.append(f"- repeat {r['repeat']} {r['scenario']} {r['sfu']}: "
                     f"{r.get('rejected') or r.get('error')}{during}")
    lines += [
        "",
        "Notes:",
        "",
        "- CPU per packet: the SFU's utime+stime over the window divided by the packets the "
        "subscribers received. For the p2p row there is no SFU: it is the publishing client "
        "process's CPU per packet, for orientation only.",
        "- Fwd pkt/s counts every RTP packet (audio + video) the subscribers received; "
        "Expected is what they should have received of what the publishers sent: every "
        "publisher's audio and, of its video, the layer the SFU gives that viewer (for "
        "simulcast, the layer each viewer slot received, from its first packet of that "
        "layer on; a slot with no video expects the lowest layer). Layer received counts "
        "viewer slots by the layer they mostly received (and, where it differs, by the "
        "one they received last).",
        "- Loss is exact, for video: the share of (packet, viewer slot) pairs of that "
        "expected layer sent in the window (minus its last 0.25 s) that never arrived "
        "before the window closed. Any loss rejects the run.",
        "- Host: the 1-minute load average at the end of the window, the share of CPU time "
        "stolen by the hypervisor, and the CPU (in cores) that processes other than this "
        "run's SFU and clients used over the window (whole-host /proc/stat minus ours).",
        "- Memory is measured separately, on a fresh process (below): growth on a server "
        "that already served rooms says little.",
        "- Transit joins digests of each VP8 packet's data after its payload descriptor "
        "(which SFUs rewrite), per publisher, taken at the publisher's DTLS send and at "
        "the subscriber's receiver (after aiortc's DTLS task), both on CLOCK_MONOTONIC; it "
        "includes both clients' aiortc overhead, which the p2p baseline cancels.",
        "- One subscriber per publisher decodes that publisher's video; the others count "
        "packets before aiortc's jitter buffer. A run is also rejected when a client "
        f"process used more than {CLIENT_CPU_LIMIT:.0%} of a core over the window, or when "
        "the clients' namespace dropped UDP datagrams (receive-buffer errors).",
        "- The JSON also holds the SFU namespace's UDP drops, decode errors, unrouted "
        "packets, RSS and per-phase setup times.",
        f"Raw results: `{report['json']}`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_doc(path: Path, section: str) -> None:
    """Replace only the relay section, so other benchmarks' sections survive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_section(BEGIN, END, section, path)


def write_charts(report: dict[str, Any], doc: Path) -> list[str]:
    """Draw the charts into ``<doc's folder>/benchmarks/`` (docs/benchmarks/ for the real
    doc) and return their paths relative to the doc, for its links."""
    from bench.plots import write_relay_plots  # matplotlib only in the coordinator

    out = doc.parent / doc.stem
    return [str(p.relative_to(doc.parent)) for p in write_relay_plots(report, out)]


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default="1x1,4x3", help="PxS list, e.g. 1x1,4x3,6x5")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=float, default=8.0)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--sfu", default=None,
                   help="comma list of: janus, hearth (default janus; none with --smoke)")
    p.add_argument("--layer", default=simulcast.RIDS[-1], choices=simulcast.RIDS,
                   help="the simulcast layer every viewer asks for (default: the highest)")
    p.add_argument("--settle", type=float, default=120.0,
                   help="simulcast: after the warm-up, wait at most this many seconds "
                   "until every viewer receives --layer (0: do not wait)")
    p.add_argument("--workers", type=int, default=3,
                   help="client processes (at least 2; with 3+, publishers get their own)")
    p.add_argument("--janus-url", default="http://198.18.77.2:8088/janus")
    p.add_argument("--host-ip", default=None, help="the only ICE host candidate of the clients")
    p.add_argument("--doc", type=Path, default=None, help="markdown to update")
    p.add_argument("--results-dir", type=Path, default=DATA_DIR,
                   help="where the JSON goes (default bench/data, committed with the doc)")
    p.add_argument("--from-json", type=Path, default=None,
                   help="re-judge and re-render a results JSON instead of measuring")
    p.add_argument("--smoke", action="store_true",
                   help="loopback only, p2p baseline only, 1x1, seconds long")
    p.add_argument("--memory", action="store_true",
                   help="Hearth's memory: a fresh server, then create → room → end cycles")
    p.add_argument("--cycles", type=int, default=100, help="soak cycles (with --memory)")
    p.add_argument("--soak-scenario", default="6x5", help="the room of each soak cycle")
    args = p.parse_args(argv)
    if not 1 <= args.cycles <= MAX_CYCLES:
        p.error(f"--cycles must be 1-{MAX_CYCLES}")
    args.soak_scenario = tuple(int(x) for x in args.soak_scenario.lower().split("x"))
    if args.memory:
        args.sfu = "hearth"
        if args.smoke:
            args.cycles, args.soak_scenario = min(args.cycles, 2), (1, 1)
    if args.smoke:
        args.scenarios, args.repeats, args.warmup, args.window = "1x1", 1, 1.0, 2.0
        args.sfu = args.sfu or ""  # --smoke --sfu hearth: Hearth on loopback too
        args.host_ip = args.host_ip or "127.0.0.1"
        args.doc = args.doc or args.results_dir / "smoke.md"
    args.host_ip = args.host_ip or CLIENT_IP
    args.doc = args.doc or REPO / "docs" / "benchmarks.md"
    args.sfu = [s for s in (args.sfu if args.sfu is not None else "janus").split(",") if s]
    args.scenarios = [
        tuple(int(x) for x in s.lower().split("x")) for s in args.scenarios.split(",")
    ]
    if args.workers < 2:
        p.error("--workers must be at least 2 (clients must not be the bottleneck)")
    if args.repeats < 1 or args.repeats > 20 or args.window <= 0 or args.window > 600:
        p.error("repeats must be 1-20 and window 0-600 s")
    if not 0 <= args.settle <= MAX_SETTLE_S:
        p.error(f"--settle must be 0-{MAX_SETTLE_S:.0f} s")
    return args


def _check_network(host_ip: str) -> None:
    """Refuse to run if the client address is not on this host (e.g. janus-peer not started)."""
    if host_ip == "127.0.0.1":
        return
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                         check=False).stdout
    if f" {host_ip}/" not in out:
        sys.exit(f"{host_ip} is not configured here: run bench/janus/janus-peer start")


async def main_async(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    _check_network(args.host_ip)
    clip = load_clip()  # encode once here, before the workers race for the cache
    loopback = args.host_ip == "127.0.0.1"  # Hearth then serves on loopback, not in the netns
    hearth: dict[str, Any] = {"netns": None, "host": "127.0.0.1"} if loopback else {}
    options = {"janus": {"url": args.janus_url}, "janus-simulcast": {"url": args.janus_url},
               "hearth": hearth, "hearth-simulcast": {**hearth, "simulcast": True}, "p2p": {}}
    for sfu in args.sfu:  # fail fast (e.g. hearth not implemented, janus not running)
        try:
            make_adapter(sfu, options[sfu])
        except (NotImplementedError, RuntimeError, KeyError) as exc:
            sys.exit(f"--sfu {sfu}: {exc}")
    if args.memory:
        return await memory(args, argv, options["hearth"])
    runs: list[dict[str, Any]] = []
    plan = plan_runs(args.repeats, args.scenarios, args.sfu)
    for i, (rep, sfu, publishers, subscribers) in enumerate(plan, 1):
        label = f"[{i}/{len(plan)}] repeat {rep} {publishers}x{subscribers} {sfu}"
        print(label, "...", flush=True)
        try:
            run = await run_one(sfu, options[sfu], publishers, subscribers, args)
            run["ok"] = True
        except Exception as exc:
            run = {"sfu": sfu, "scenario": f"{publishers}x{subscribers}", "ok": False,
                   "error": repr(exc)}
        run["repeat"] = rep
        runs.append(run)
        if run["ok"]:
            transit = run["transit_ms"]
            print(f"  cpu/pkt {_f(run['cpu_us_per_packet'], '.1f')} µs, fwd "
                  f"{run['forwarded_pps']:.0f}/{run['expected_pps']:.0f} pkt/s, loss "
                  f"{_f(run['loss'], '.2%')}, transit p50/p95 "
                  f"{_f(transit['p50'], '.2f')}/{_f(transit['p95'], '.2f')} ms, "
                  f"clients {[f'{c:.0%}' for c in run['client_cpu']]}"
                  + (f", layer {run['layer_asked']} asked, slots mostly {run['video_layers']}"
                     f", at end {run['video_layers_end']}"
                     + (f", settled in {run['settle_s']:.1f} s to {run['settled_layers']}"
                        if "settle_s" in run else "")
                     if run.get("layer_asked") else "")
                  + (f"  REJECTED: {run['rejected']}" if run.get("rejected") else ""), flush=True)
        else:
            print(f"  FAILED: {run['error']}", flush=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"relay-{'smoke-' if args.smoke else ''}{stamp}.json"
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.relay " + shlex.join(argv),
        "args": {"warmup": args.warmup, "window": args.window, "repeats": args.repeats,
                 "sfu": args.sfu, "workers": args.workers, "host_ip": args.host_ip,
                 "layer": args.layer, "settle": args.settle,
                 "order": "alternating",
                 "scenarios": [f"{p}x{s}" for p, s in args.scenarios]},
        "machine": relay_machine(),
        "packet_rate": clip_packet_rate(clip),
        "runs": runs,
        "summary": summarize(runs),
        "json": str(json_path.relative_to(REPO) if json_path.is_relative_to(REPO) else json_path),
    }
    json_path.write_text(json.dumps(report, indent=1, default=str))
    prune(args.results_dir, keep=[json_path])  # the latest run per benchmark stays
    write_doc(args.doc, render(report, write_charts(report, args.doc)))
    print(f"wrote {json_path} and {args.doc}")
    return report


def plan_runs(repeats: int, scenarios: list[tuple[int, int]],
              sfus: list[str]) -> list[tuple[int, str, int, int]]:
    """(repeat, sfu, publishers, subscribers) in measuring order. The SFUs' order rotates
    per repeat and the p2p baseline alternates between first and last, so that a host
    warming up or getting busier does not always favour the same side."""
    plan: list[tuple[int, str, int, int]] = []
    for rep in range(repeats):
        k = rep % len(sfus) if sfus else 0
        order = sfus[k:] + sfus[:k]
        runs = [(rep, sfu, p, s) for p, s in scenarios for sfu in order]
        baseline = (rep, "p2p", 1, 1)
        plan += [baseline, *runs] if rep % 2 == 0 else [*runs, baseline]
    return plan


# ---------------------------------------------------------------- memory


async def memory(args: argparse.Namespace, argv: list[str],
                 options: dict[str, Any]) -> dict[str, Any]:
    """A fresh `hearth serve`: its idle RSS, its RSS during a first room, then ``cycles``
    create → room → end cycles, with the RSS that stays after each."""
    publishers, subscribers = args.soak_scenario
    adapter = make_adapter("hearth", options)  # the first use starts a fresh process
    pids = adapter.sfu_pids()
    await asyncio.sleep(2.0)  # let start-up settle
    idle_kb = sum(read_rss_kb(p) for p in pids)
    load_before = host_sample().loadavg
    cycles: list[dict[str, Any]] = []
    for i in range(args.cycles):
        print(f"[{i + 1}/{args.cycles}] {publishers}x{subscribers} cycle ...", flush=True)
        run: dict[str, Any] = {}
        error = None
        try:
            run = await run_one("hearth", options, publishers, subscribers, args)
        except Exception as exc:
            error = repr(exc)
        await asyncio.sleep(1.0)  # the session's end reaches the relay
        after_kb = sum(read_rss_kb(p) for p in adapter.sfu_pids())
        cycles.append({"ok": error is None, "error": error, "during_kb": run.get("rss_kb"),
                       "after_kb": after_kb, "loss": run.get("loss"),
                       "rejected": run.get("rejected")})
        print(f"  RSS during {_f(run.get('rss_kb'), '.0f')} kB, after {after_kb} kB"
              + (f"  FAILED: {error}" if error else ""), flush=True)
    people = publishers + subscribers
    first = cycles[0]
    half = cycles[len(cycles) // 2:]
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.relay " + shlex.join(argv),
        "machine": relay_machine(), "scenario": f"{publishers}x{subscribers}",
        "cycles": cycles, "idle_kb": idle_kb,
        "first_room_per_person_kb": ((first["during_kb"] - idle_kb) / people
                                     if first["ok"] and first["during_kb"] else None),
        "retained_after_first_kb": first["after_kb"] - idle_kb,
        "retained_kb": cycles[-1]["after_kb"] - idle_kb,
        "growth_per_cycle_kb": ((half[-1]["after_kb"] - half[0]["after_kb"]) / (len(half) - 1)
                                if len(half) > 1 else None),
        "failed": sum(1 for c in cycles if not c["ok"]),
        "rejected": sum(1 for c in cycles if c["rejected"]),
        "loadavg": [load_before, host_sample().loadavg],
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"relay-memory-{'smoke-' if args.smoke else ''}{stamp}.json"
    report["json"] = str(json_path.relative_to(REPO) if json_path.is_relative_to(REPO)
                         else json_path)
    json_path.write_text(json.dumps(report, indent=1, default=str))
    prune(args.results_dir, keep=[json_path])
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    replace_section(MEM_BEGIN, MEM_END, render_memory(report), args.doc)
    print(f"wrote {json_path} and {args.doc}")
    report["runs"] = [{"ok": c["ok"]} for c in cycles]
    return report


def render_memory(report: dict[str, Any]) -> str:
    """The memory section of docs/benchmarks.md."""
    m = report["machine"]
    rows = [
        ("idle, fresh process", f"{report['idle_kb'] / 1024:.1f} MB"),
        (f"per person in the first {report['scenario']} room",
         f"{_f(report['first_room_per_person_kb'], '.0f')} kB"),
        ("retained after the first room ended",
         f"{report['retained_after_first_kb'] / 1024:.1f} MB"),
        (f"retained after {len(report['cycles'])} cycles",
         f"{report['retained_kb'] / 1024:.1f} MB"),
        ("growth per cycle, second half", f"{_f(report['growth_per_cycle_kb'], '.0f')} kB"),
        ("cycles that failed to connect / had loss or drops",
         f"{report['failed']} / {report.get('rejected', 0)}"),
        ("host load average (1, 5, 15 min) before → after",
         " → ".join(" ".join(f"{x:.1f}" for x in la) for la in report.get("loadavg", []))),
    ]
    lines = [
        MEM_BEGIN, "## Hearth's memory: a fresh process, then a soak", "",
        f"Measured {report['date']} with:", "", "```", report["command"], "```", "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['mem_gb']} GB RAM, kernel {m['kernel']}, "
        f"Python {m['python']}.", "",
        "A fresh `hearth serve` (new data dir): its VmRSS once started; then each cycle "
        f"creates a session, connects a {report['scenario']} room through the relay, "
        "measures, ends the session and reads VmRSS one second later. RSS does not depend "
        "on the host's load; a cycle that failed to connect still ended its session.", "",
        *md_table(("Figure", "Value"), rows), "",
        f"Raw results: `{report['json']}`.", MEM_END,
    ]
    return "\n".join(lines) + "\n"


def rerender(args: argparse.Namespace) -> dict[str, Any]:
    """Apply the current rules and layout to stored runs (no measurement)."""
    report: dict[str, Any] = json.loads(args.from_json.read_text())
    for run in report["runs"]:
        if run.get("ok"):
            judge(run)
    report["summary"] = summarize(report["runs"])
    path = args.from_json.resolve()  # where the JSON lives now (results may have moved)
    report["json"] = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    args.from_json.write_text(json.dumps(report, indent=1, default=str))
    write_doc(args.doc, render(report, write_charts(report, args.doc)))
    print(f"re-rendered {args.from_json} into {args.doc}")
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = rerender(args) if args.from_json else asyncio.run(main_async(args, argv))
    if not any(r.get("ok") for r in report["runs"]):
        sys.exit("no run succeeded")


if __name__ == "__main__":
    main()
