"""Breakout switch time: from ``set_visible`` to the first decoded frame of the new source.

Real aiortc peers on 127.0.0.1 through the relay, in one process: two publishers with
painted frame codes and one subscriber that is switched between them, as opening and
closing breakouts do. Reports the median and p90 over the repeats and appends them to
docs/benchmarks.md. A benchmark, not a test: nothing here asserts a time.

    .venv/bin/python -m bench.switch --repeats 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time

from bench.common import pct
from bench.doc import replace_section
from media.config import RelayConfig
from media.relay import Relay
from testkit.rtc import Client, wait_for

BEGIN, END = "<!-- switch:begin -->", "<!-- switch:end -->"


async def measure(repeats: int) -> tuple[list[float], list[float]]:
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",)))
    a = Client(relay, "s", "a", code=0x11)
    b = Client(relay, "s", "b", code=0x22)
    sub = Client(relay, "s", "sub")
    first_frames: list[float] = []
    switches: list[float] = []
    try:
        for c in (a, b, sub):
            await c.join()
        await a.publish()
        await b.publish()
        relay.set_visible("s", "sub", ["a"])
        t0 = time.monotonic()
        await sub.subscribe()
        await wait_for(lambda: bool(sub.frames_of(0x11)), 10, "first frame")
        first_frames.append(sub.frames_of(0x11)[0].at - t0)
        target = 0x22
        for _ in range(repeats):
            await asyncio.sleep(0.5)  # steady state before each switch
            started = time.monotonic()
            relay.set_visible("s", "sub", ["b" if target == 0x22 else "a"])
            await wait_for(lambda t=target, s=started: bool(sub.frames_of(t, since=s)), 10,
                           "frame of the new source")
            switches.append(sub.frames_of(target, since=started)[0].at - started)
            target = 0x11 if target == 0x22 else 0x22
    finally:
        for c in (a, b, sub):
            await c.close()
        await relay.close()
    return first_frames, switches


def write(first: list[float], switches: list[float], command: str) -> str:
    section = "\n".join([
        BEGIN,
        "## Breakout switch (relay only)",
        "",
        f"Command: `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Real aiortc "
        "peers on loopback in one process; a subscriber is re-pointed between two "
        "publishers with `set_visible`, as opening and closing breakouts do, on the same "
        "connection (no renegotiation).",
        "",
        "| Figure | Median | p90 | Samples |",
        "|---|---|---|---|",
        f"| switch → first decoded frame of the new source | "
        f"{statistics.median(switches) * 1000:.0f} ms | {pct(switches, 0.9) * 1000:.0f} ms | "
        f"{len(switches)} |",
        f"| subscribe (ICE + DTLS + keyframe) → first decoded frame | "
        f"{statistics.median(first) * 1000:.0f} ms | — | {len(first)} |",
        END,
    ])
    replace_section(BEGIN, END, section)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    first, switches = asyncio.run(measure(max(1, min(args.repeats, 200))))
    print(write(first, switches, f"python -m bench.switch --repeats {args.repeats}"))


if __name__ == "__main__":
    main()
