"""Disconnects of one session that arrive together become one commit.

When a whole crowd's sockets die at once (a clinic's Wi-Fi drops, a client process
is killed) the disconnects reach the loop over many ticks, as the server reads each
socket's end. One commit (and one state round) each would be 200 rounds to 210 people,
and a round sent while the rest of the crowd is still being read goes to everyone not
yet marked gone. So a batch gathers until no disconnect arrived for ``QUIET`` seconds
(at most ``GATHER_AT_MOST`` after its first), and is one commit whose round reaches
only those who stayed.

A person whose socket closed and who connected again before the batch was written is
left out of it: the closed socket no longer says anything about them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from rooms import commands as c
from rooms.service import RoomService

QUIET = 0.02  # seconds without a new disconnect that close a batch
GATHER_AT_MOST = 0.5  # seconds a batch may gather for, however the crowd trickles in

Connected = Callable[[], bool]  # whether the person has a live socket here again


@dataclass
class _Batch:
    done: asyncio.Future[None]
    people: list[tuple[str, Connected]] = field(default_factory=list)


class LeaveBatcher:
    """Applies ``Disconnect`` for many people of a session in one ``execute_many``."""

    def __init__(self, rooms: RoomService) -> None:
        self._rooms = rooms
        self._pending: dict[str, _Batch] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.commits = 0
        self.skipped = 0  # people back before their batch was written

    async def leave(self, session_id: str, participant_id: str,
                    connected: Connected = lambda: False) -> None:
        """Returns once the batch holding this disconnect is committed (or raises its
        store error, like a single command would)."""
        batch = self._pending.get(session_id)
        if batch is None:
            batch = _Batch(asyncio.get_running_loop().create_future())
            self._pending[session_id] = batch
            task = asyncio.get_running_loop().create_task(self._commit(session_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.people.append((participant_id, connected))
        await asyncio.shield(batch.done)

    async def _gather(self, session_id: str) -> _Batch:
        """Wait until the batch stops growing (bounded), then take it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_AT_MOST
        batch = self._pending[session_id]
        size = -1
        while len(batch.people) != size and loop.time() < deadline:
            size = len(batch.people)
            await asyncio.sleep(QUIET)
        return self._pending.pop(session_id)

    async def _commit(self, session_id: str) -> None:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            batch = await self._gather(session_id)
            gone = [pid for pid, connected in batch.people if not connected()]
            self.skipped += len(batch.people) - len(gone)
            try:
                if gone:
                    self.commits += 1
                    await self._rooms.execute_many(
                        session_id, [c.Disconnect(actor=pid) for pid in gone])
            except Exception as exc:  # each waiter sees it, as with one command
                if not batch.done.done():
                    batch.done.set_exception(exc)
            finally:
                if not batch.done.done():
                    batch.done.set_result(None)
                if session_id not in self._pending:
                    self._locks.pop(session_id, None)
