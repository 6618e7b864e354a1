"""RoomService: the only code that persists session state.

1. load under a per-session lock (in process) and compare-and-set on the store's
   version (across processes and nodes);
2. apply the pure ``handle``;
3. save; on a lost race, reload and apply again (bounded);
4. hand the new state and its events to the ports (signaling outbox, media).

Events carry the state version, so a port that sees the same version twice can
ignore the repeat. Timers come from ``next_deadline``: the service arms
``loop.call_later`` and feeds a ``Tick`` back through ``execute``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from rooms.commands import SYSTEM, Command, Tick
from rooms.errors import Conflict, DomainError, NotFound
from rooms.events import Event
from rooms.machine import handle, next_deadline
from rooms.model import Session, from_json, to_json
from rooms.stores import Store, StoreError

log = logging.getLogger("hearth.rooms")
MAX_ATTEMPTS = 8


class EventSink(Protocol):
    """A port that reacts to committed changes (signaling outbox, media relay)."""

    async def publish(self, session: Session, events: Sequence[Event]) -> None: ...


def _key(session_id: str) -> str:
    return f"room:{session_id}"


class RoomService:
    def __init__(
        self,
        store: Store,
        *,
        sinks: Sequence[EventSink] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.sinks = list(sinks)
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def create(self, session: Session) -> Session:
        if await self._store.cas(_key(session.id), to_json(session), expected_version=0) is None:
            raise Conflict("session already exists")
        return session

    async def get(self, session_id: str) -> Session | None:
        found = await self._store.get(_key(session_id))
        return None if found is None else from_json(found.value)

    async def execute(self, session_id: str, cmd: Command) -> tuple[Session, list[Event]]:
        """Apply ``cmd``; raises DomainError (nothing changed) or StoreError (fail closed)."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            for _ in range(MAX_ATTEMPTS):
                found = await self._store.get(_key(session_id))
                if found is None:
                    raise NotFound("no such session")
                state = from_json(found.value)
                new, events = handle(state, cmd, now=self._clock())
                if new is state:
                    return state, []
                written = await self._store.cas(
                    _key(session_id), to_json(new), expected_version=found.version
                )
                if written is not None:
                    break
            else:
                raise Conflict("the session is busy; try again")
        await self._publish(new, events)
        self._arm(new)
        return new, events

    async def _publish(self, session: Session, events: Sequence[Event]) -> None:
        for sink in self.sinks:
            try:
                await sink.publish(session, events)
            except Exception:  # a failing port must not undo a committed change
                log.exception("event sink failed", extra={"session": session.id})

    # --- timers -----------------------------------------------------------------------
    def _arm(self, session: Session) -> None:
        old = self._timers.pop(session.id, None)
        if old is not None:
            old.cancel()
        deadline = next_deadline(session)
        if deadline is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self._clock())
        self._timers[session.id] = loop.call_later(delay, self._fire, session.id)

    def _fire(self, session_id: str) -> None:
        self._timers.pop(session_id, None)
        task = asyncio.get_running_loop().create_task(self._tick(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick(self, session_id: str) -> None:
        try:
            await self.execute(session_id, Tick(actor=SYSTEM, now=self._clock()))
        except (DomainError, StoreError) as exc:
            log.warning("tick failed; retrying in 1 s",
                        extra={"session": session_id, "reason": type(exc).__name__})
            if not self._closed:
                handle_ = asyncio.get_running_loop().call_later(1.0, self._fire, session_id)
                self._timers[session_id] = handle_

    async def resume(self, session_id: str) -> None:
        """Re-arm a session's timer (after a restart or when a node takes a session over)."""
        session = await self.get(session_id)
        if session is not None:
            self._arm(session)

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
