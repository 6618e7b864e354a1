"""A profiler for a process the benchmark starts (no py-spy needed).

Two records, appended to a JSON-lines file flushed twice a second by a thread, so a
process killed with SIGKILL still leaves them:

- CPU samples: ``SIGPROF`` every 2 ms of CPU time; its handler runs in the main
  thread, so the stack it records is what the event loop was running (a sampling
  thread would mostly catch the loop where it releases the GIL, in ``send``).
- Slow callbacks: every event-loop callback (a task step, a protocol callback) that
  held the loop for more than ``SLOW`` seconds, with what it was; and every garbage
  collection that long (it runs inside whichever callback allocated).

The benchmark turns it on with ``BENCH_SAMPLES=<path>`` and a ``sitecustomize`` that
calls ``start()``; ``summary`` then says, for a time window, where the loop spent it.

    python -m bench.sampler SAMPLES START END   # between two unix times
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import gc
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

INTERVAL = 0.002  # seconds of CPU time between samples
SLOW = 0.005  # a loop callback longer than this is recorded
_records: list[str] = []


def _stack(frame: FrameType | None) -> list[str]:
    out = []
    while frame is not None:
        code = frame.f_code
        out.append(f"{Path(code.co_filename).name}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return out[::-1]  # outermost first


def _on_prof(signum: int, frame: FrameType | None) -> None:
    _records.append(json.dumps(["s", time.time(), _stack(frame)]))


def _describe(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)}"
    return f"callback {getattr(callback, '__qualname__', callback)}"


def _patch_handles() -> None:
    run = asyncio.Handle._run

    def timed(self: asyncio.Handle) -> None:
        t0 = time.perf_counter()
        wall = time.time()
        run(self)
        spent = time.perf_counter() - t0
        if spent > SLOW:
            _records.append(json.dumps(["h", wall, round(spent * 1000, 1), _describe(self)]))

    asyncio.Handle._run = timed  # type: ignore[method-assign]


def _census_due() -> bool:
    """Once, after the benchmark's crowd joined (``BENCH_CENSUS`` seconds after start)."""
    after = os.environ.get("BENCH_CENSUS")
    return after is not None and time.time() - _STARTED > float(after)


_STARTED = time.time()


def _watch_gc() -> None:
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        spent = time.perf_counter() - started[0]
        if spent > SLOW:
            _records.append(json.dumps(["h", time.time() - spent, round(spent * 1000, 1),
                                        f"gc generation {info['generation']}"]))
        if info["generation"] == 2 and spent > SLOW and _census_due():
            os.environ.pop("BENCH_CENSUS")  # once: what the full collections walk
            census = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            _records.append(json.dumps(["c", time.time(), len(gc.get_objects()),
                                        census.most_common(40)]))

    gc.callbacks.append(on_gc)


def _flush(path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        while True:
            time.sleep(0.5)
            taken = _records[:]
            del _records[:len(taken)]
            out.write("".join(line + "\n" for line in taken))
            out.flush()


def start() -> None:
    """Start profiling this process if ``BENCH_SAMPLES`` is set (main thread only)."""
    path = os.environ.get("BENCH_SAMPLES")
    if not path or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGPROF, _on_prof)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
    atexit.register(signal.setitimer, signal.ITIMER_PROF, 0)
    _patch_handles()
    _watch_gc()
    threading.Thread(target=_flush, args=(f"{path}.{os.getpid()}",), daemon=True,
                     name="bench-sampler").start()


def summary(path: Path, start: float, end: float, top: int = 40) -> dict[str, Any]:
    """Between ``start`` and ``end``: CPU samples per 50 ms, the functions (file and
    name) found most often on the stack (inclusive) and at its top (self), and the
    slowest loop callbacks (seconds after ``start``, milliseconds, what)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    times: list[float] = []
    slow: list[tuple[float, float, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if not start <= record[1] < end:
            continue
        if record[0] == "c":
            continue
        if record[0] == "h":
            slow.append((round(record[1] - start, 3), record[2], record[3]))
            continue
        times.append(record[1])
        stack = record[2]
        inclusive.update({":".join(s.split(":")[:2]) for s in stack})
        own[":".join(stack[-1].split(":")[:2])] += 1
    buckets = collections.Counter(int((t - start) / 0.05) for t in times)
    return {"cpu_samples": len(times),
            "per_50ms": [buckets.get(i, 0) for i in range(int((end - start) / 0.05))],
            "slow_callbacks": sorted(slow, key=lambda s: -s[1])[:top],
            "inclusive": inclusive.most_common(top), "self": own.most_common(top)}


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])),
                     indent=1))
