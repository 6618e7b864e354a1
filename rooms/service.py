"""RoomService: the only code that persists session state.

1. load under a per-session lock (in process) and compare-and-set on the store's
   version (across processes and nodes);
2. apply the pure ``handle``;
3. save; on a lost race, reload and apply again (bounded);
4. hand the new state and its events to the ports (signaling outbox), and tell
   the media port whose visibility changed.

Events carry the state version, so a port that sees the same version twice can
ignore the repeat. Timers come from ``next_deadline``: the service arms
``loop.call_later`` and feeds a ``Tick`` back through ``execute``. A tick that
finds nothing due (a timer fired early, or another node already applied it)
re-arms from the stored state, so a deadline is never lost.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from rooms.commands import SYSTEM, Command, Tick
from rooms.errors import Conflict, DomainError, NotFound
from rooms.events import Event, EventKind
from rooms.machine import handle, next_deadline
from rooms.model import Session, from_json, to_json
from rooms.stores import Store, StoreError
from rooms.visibility import all_visibility, visibility_changes

log = logging.getLogger("hearth.rooms")
MAX_ATTEMPTS = 8
# One commit's change: the loaded state in, the new state and its events out.
Step = Callable[[Session], Awaitable[tuple[Session, list[Event]]]]


class EventSink(Protocol):
    """A port that reacts to committed changes (signaling outbox, media relay)."""

    async def publish(self, session: Session, events: Sequence[Event]) -> None: ...


class VisibilityPort(Protocol):
    """The relay's one way in: who ``subscriber_id`` should receive, as a full set.

    Called only for participants whose set changed; the relay reconciles desired
    against actual, so a repeated call is harmless. It may be a plain method (like
    ``media.relay.Relay.set_visible``) or a coroutine; a returned awaitable is awaited.
    """

    def set_visible(
        self, session_id: str, subscriber_id: str, publisher_ids: frozenset[str]
    ) -> object: ...


def _key(session_id: str) -> str:
    return f"room:{session_id}"


class RoomService:
    def __init__(
        self,
        store: Store,
        *,
        sinks: Sequence[EventSink] = (),
        media: VisibilityPort | None = None,
        later_sinks: Sequence[EventSink] = (),
        clock: Callable[[], float] = time.time,
        arms: Callable[[str], bool] = lambda session_id: True,
    ) -> None:
        self._store = store
        # Only the process a session is placed on runs its timers (its relay must follow).
        self._arms = arms
        # ``sinks`` (people told) run before the media port re-points the relay, which
        # is the privacy cut-off of a room change; ``later_sinks`` (records, other
        # nodes) run after it, so their writes never delay it.
        self.sinks = list(sinks)
        self.later_sinks = list(later_sinks)
        self.media = media
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}  # deadline, handle
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

        async def step(state: Session) -> tuple[Session, list[Event]]:
            return handle(state, cmd, now=self._clock())

        # A tick that changes nothing fired early or was applied elsewhere: re-arm.
        return await self._commit(session_id, step, rearm_unchanged=isinstance(cmd, Tick))

    async def execute_many(self, session_id: str, cmds: Sequence[Command]
                           ) -> tuple[Session, list[Event]]:
        """Apply several commands in one commit (a batch of disconnects): a command the
        machine refuses is skipped, the others are written and published together."""

        async def step(state: Session) -> tuple[Session, list[Event]]:
            new, events = state, []
            for cmd in cmds:
                try:
                    new, more = handle(new, cmd, now=self._clock())
                except DomainError:
                    continue
                events += more
                await asyncio.sleep(0)  # a big batch must not stall other sessions
            return new, events

        return await self._commit(session_id, step)

    async def _commit(self, session_id: str, step: Step, *, rearm_unchanged: bool = False
                      ) -> tuple[Session, list[Event]]:
        """Load, ``step``, compare-and-set (reloading on a lost race), then hand the
        result to the ports. ``step`` returns its input unchanged when nothing happened."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            for _ in range(MAX_ATTEMPTS):
                found = await self._store.get(_key(session_id))
                if found is None:
                    raise NotFound("no such session")
                state = from_json(found.value)
                new, events = await step(state)
                if new is state:
                    if rearm_unchanged:
                        self._arm(state)
                    return state, []
                written = await self._store.cas(
                    _key(session_id), to_json(new), expected_version=found.version
                )
                if written is not None:
                    break
            else:
                raise Conflict("the session is busy; try again")
        await self._publish(self.sinks, new, events)
        changed = any(e.kind is EventKind.VISIBILITY_CHANGED for e in events)
        if self.media is not None and changed:
            await self._set_visible(new, visibility_changes(state, new))
        await self._publish(self.later_sinks, new, events)
        self._arm(new)
        return new, events

    async def _publish(self, sinks: Sequence[EventSink], session: Session,
                       events: Sequence[Event]) -> None:
        for sink in sinks:
            try:
                await sink.publish(session, events)
            except Exception:  # a failing port must not undo a committed change
                log.exception("event sink failed", extra={"session": session.id})

    async def _set_visible(self, session: Session, changes: dict[str, frozenset[str]]) -> None:
        assert self.media is not None
        for pid, publishers in sorted(changes.items()):
            try:
                result = self.media.set_visible(session.id, pid, publishers)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the relay reconciles again on the next change
                log.exception("media port failed", extra={"session": session.id})

    async def reconcile_media(self, session_id: str) -> Session:
        """Push everyone's full visibility to the media port (after a relay restart)."""
        session = await self.get(session_id)
        if session is None:
            raise NotFound("no such session")
        if self.media is not None:
            await self._set_visible(session, all_visibility(session))
        return session

    # --- timers -----------------------------------------------------------------------
    def _arm(self, session: Session) -> None:
        old = self._timers.pop(session.id, None)
        if old is not None:
            old[1].cancel()
        deadline = next_deadline(session)
        if deadline is None or self._closed or not self._arms(session.id):
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self._clock())
        self._timers[session.id] = (deadline, loop.call_later(delay, self._fire, session.id))

    def armed_deadline(self, session_id: str) -> float | None:
        """The clock time this process will next tick the session at, if armed."""
        armed = self._timers.get(session_id)
        return None if armed is None else armed[0]

    async def tick(self, session_id: str) -> Session:
        """The timer's wake-up: apply every deadline due by the clock now, then re-arm
        from the resulting state (even when nothing was due yet)."""
        armed = self._timers.pop(session_id, None)
        if armed is not None:
            armed[1].cancel()
        session, _ = await self.execute(session_id, Tick(actor=SYSTEM, now=self._clock()))
        return session

    def _fire(self, session_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._tick(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick(self, session_id: str) -> None:
        try:
            await self.tick(session_id)
        except NotFound:
            return  # deleted: nothing left to wake for
        except (DomainError, StoreError) as exc:
            log.warning("tick failed; retrying in 1 s",
                        extra={"session": session_id, "reason": type(exc).__name__})
            if not self._closed and session_id not in self._timers:
                handle_ = asyncio.get_running_loop().call_later(1.0, self._fire, session_id)
                self._timers[session_id] = (self._clock() + 1.0, handle_)

    async def resume(self, session_id: str) -> None:
        """Re-arm a session's timer (after a restart or when a node takes a session over)."""
        session = await self.get(session_id)
        if session is not None:
            self._arm(session)

    async def close(self) -> None:
        self._closed = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
