"""The serving node's catch-up pass: the store is the truth, the bus only a hint.

A change committed on another node (ending a session from the console, removing a
person) reaches the serving node through Redis pub/sub, which loses whatever is
published while a subscriber reconnects. So the serving node also re-reads the
version of each session it serves: on every heartbeat, and at once (``force``) when
one of its Redis connections comes back. What it finds it applies through two ports:

- ``ended(session)``: the session ended elsewhere: notice, close sockets, let the relay
  and the placement go;
- ``changed(session)``: the stored version is newer than any this node applied (or a
  connection was lost, so clients may have missed messages): fresh viewer-filtered
  snapshots to every client, people no longer present leave the relay, timers re-arm.

A newer version seen on a heartbeat is applied on the next pass if it is still
unapplied, since the bus message for it may simply be on its way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from rooms.events import Event
from rooms.model import Session, SessionPhase
from rooms.stores import StoreError
from server.tasks import stop_task

log = logging.getLogger("hearth.reconcile")
Port = Callable[[Session], Awaitable[None]]
Load = Callable[[str], Awaitable[Session | None]]


class Reconciler:
    """Versions this node applied, per served session, and the pass that catches up."""

    def __init__(self, load: Load, served: Callable[[], Iterable[str]], *,
                 ended: Port, changed: Port) -> None:
        self._load = load
        self._served = served
        self._ended = ended
        self._changed = changed
        self.applied: dict[str, int] = {}
        self._suspect: dict[str, int] = {}  # newer version seen once, not yet applied
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting_forced = False
        self._waiting_plain = False
        self.passes = 0
        self.caught_up = 0  # sessions this node brought up to date (for tests, /metrics)

    # --- what this node applied ------------------------------------------------------
    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        """A RoomService sink: a commit made here reaches its clients from here."""
        self.note(session.id, session.version)

    def note(self, session_id: str, version: int) -> None:
        if version > self.applied.get(session_id, -1):
            self.applied[session_id] = version

    def forget(self, session_id: str) -> None:
        self.applied.pop(session_id, None)
        self._suspect.pop(session_id, None)

    # --- the pass --------------------------------------------------------------------
    def request(self, *, force: bool) -> None:
        """Run a pass soon (from a heartbeat or a reconnect hook); never blocks them.

        At most one pass of each kind waits: a waiting forced pass covers any request,
        a waiting plain pass covers plain ones, so slow passes never pile up.
        """
        if self._waiting_forced or (not force and self._waiting_plain):
            return
        if force:
            self._waiting_forced = True
        else:
            self._waiting_plain = True
        task = asyncio.get_running_loop().create_task(self._guarded(force))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, force: bool) -> None:
        try:
            await self.run(force=force)
        except StoreError as exc:
            log.warning("reconcile pass stopped: store unavailable",
                        extra={"reason": str(exc)})
        except Exception:
            log.exception("reconcile pass failed")

    async def run(self, *, force: bool) -> None:
        async with self._lock:
            if force:
                self._waiting_forced = False
            else:
                self._waiting_plain = False
            self.passes += 1
            served = set(self._served())
            for gone in set(self.applied) - served:
                self.forget(gone)
            for session_id in sorted(served):
                session = await self._load(session_id)
                if session is None:
                    continue
                await self._check(session, force)

    async def _check(self, session: Session, force: bool) -> None:
        sid = session.id
        if session.phase is SessionPhase.ENDED:
            log.info("reconcile: session ended elsewhere", extra={"session": sid})
            self.forget(sid)
            self.caught_up += 1
            await self._ended(session)
            return
        known = self.applied.get(sid)
        if known is None:  # first sight since this node took it: the joiners got it
            self.note(sid, session.version)
            return
        if not force and session.version <= known:
            self._suspect.pop(sid, None)
            return
        if not force and sid not in self._suspect:
            self._suspect[sid] = session.version  # the bus may be delivering it now
            return
        self._suspect.pop(sid, None)
        if session.version > known:
            log.info("reconcile: applying missed versions",
                     extra={"session": sid, "from": known, "to": session.version})
            self.caught_up += 1
        self.note(sid, session.version)
        await self._changed(session)

    async def close(self) -> None:
        for task in list(self._tasks):
            await stop_task(task, "reconcile pass")
