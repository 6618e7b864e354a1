"""Where a breakout switch spends its time, stage by stage, on the server.

A command that moves people between rooms goes: received → committed (the first sink
runs) → every snapshot sent → the relay re-pointed for each person whose visibility
changed (the first of them, then the last) → each of them told their new slot layout
→ acked. (Chat histories for the new rooms follow, off this path.) The namespace starts a
stopwatch for the commands in ``TIMED``; the outbox and the visibility port stamp the
stages as the command passes them (a context variable: a stamp outside a timed command
is a no-op); at the ack each stage is reported as seconds since the command arrived.

Observers (``server.metrics``: ``hearth_breakout_stage_seconds{stage}``) see only the
stage name and a duration: no ids.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

TIMED = frozenset({"breakouts_open", "breakouts_close", "breakouts_move"})
# In path order; ``relay`` and ``layout`` keep the last of their per-person stamps.
STAGES = ("committed", "snapshot", "relay_first", "relay", "layout", "acked")
Observer = Callable[[str, float], None]


@dataclass
class Stopwatch:
    started: float
    stamps: dict[str, float] = field(default_factory=dict)


_current: ContextVar[Stopwatch | None] = ContextVar("hearth_stopwatch", default=None)
_observers: list[weakref.WeakMethod[Observer]] = []


def subscribe(observer: Observer) -> None:
    """Report every finished timed command to ``observer(stage, seconds)``: a bound
    method, held weakly (an app's metrics go when the app goes)."""
    _observers.append(weakref.WeakMethod(observer))


def start(event: str) -> Stopwatch | None:
    """Begin timing ``event`` in the current context, when it is one of ``TIMED``."""
    if event not in TIMED:
        return None
    watch = Stopwatch(time.perf_counter())
    _current.set(watch)
    return watch


def stamp(stage: str) -> None:
    """The current timed command reached ``stage`` (a later stamp of a stage wins)."""
    watch = _current.get()
    if watch is not None:
        watch.stamps[stage] = time.perf_counter() - watch.started


def first(stage: str) -> None:
    """Like ``stamp``, but only the first time the command reaches ``stage``."""
    watch = _current.get()
    if watch is not None and stage not in watch.stamps:
        watch.stamps[stage] = time.perf_counter() - watch.started


def finish(watch: Stopwatch | None) -> dict[str, float]:
    """End ``watch``: stamp ``acked``, report each stage to the observers, return them."""
    if watch is None:
        return {}
    _current.set(None)
    watch.stamps["acked"] = time.perf_counter() - watch.started
    alive = []
    for ref in _observers:
        observer = ref()
        if observer is None:
            continue
        alive.append(ref)
        for stage in STAGES:
            if stage in watch.stamps:
                observer(stage, watch.stamps[stage])
    _observers[:] = alive
    return dict(watch.stamps)
