"""Disconnects of one session that arrive together become one commit.

When a whole crowd's sockets die at once (a clinic's Wi-Fi drops, a client process
is killed) every socket's disconnect arrives in the same few ticks. One commit (and
one state round) each would be 200 rounds to 210 people; a batch is one commit for
everyone whose disconnect arrived while the previous batch was being written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from rooms import commands as c
from rooms.service import RoomService


@dataclass
class _Batch:
    done: asyncio.Future[None]
    pids: list[str] = field(default_factory=list)


class LeaveBatcher:
    """Applies ``Disconnect`` for many people of a session in one ``execute_many``."""

    def __init__(self, rooms: RoomService) -> None:
        self._rooms = rooms
        self._pending: dict[str, _Batch] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.commits = 0

    async def leave(self, session_id: str, participant_id: str) -> None:
        """Returns once the batch holding this disconnect is committed (or raises its
        store error, like a single command would)."""
        batch = self._pending.get(session_id)
        if batch is None:
            batch = _Batch(asyncio.get_running_loop().create_future())
            self._pending[session_id] = batch
            task = asyncio.get_running_loop().create_task(self._commit(session_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.pids.append(participant_id)
        await asyncio.shield(batch.done)

    async def _commit(self, session_id: str) -> None:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            await asyncio.sleep(0)  # this tick's other disconnects join the batch
            batch = self._pending.pop(session_id)
            try:
                self.commits += 1
                await self._rooms.execute_many(
                    session_id, [c.Disconnect(actor=pid) for pid in batch.pids])
            except Exception as exc:  # each waiter sees it, as with one command
                if not batch.done.done():
                    batch.done.set_exception(exc)
            finally:
                if not batch.done.done():
                    batch.done.set_result(None)
                if session_id not in self._pending:
                    self._locks.pop(session_id, None)
