"""Private clinician notes: sealed at rest, read only over REST by clinicians.

A note belongs to one session and one author (a clinician's participant id). Its
body is sealed with AES-GCM under the data key; the associated data names the
session, the author and the note, so a ciphertext moved to another session, author
or note does not open. Only opaque ids are in the clear: the store key
``note:<session>:<author>:<note>`` and the session's index of ``<author>:<note>``.

Notes never travel on a socket: no socket event reads them and no sink sees them.
The author may share a note with the other clinicians of the session; an unshared
note is readable by its author only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from rooms.model import Session
from rooms.stores import Store
from rooms.visibility import location
from server.records.sealed import RecordError, Sealer, reseal_keys

MAX_TEXT = 20000
MAX_NOTES = 500  # per session


class NoteError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Note:
    id: str
    session_id: str
    author: str
    author_name: str
    room: str  # "main" or a breakout id where the author was when it was started
    room_name: str
    phase: str | None
    text: str
    created: float
    updated: float
    shared: bool = False

    def view(self, me: str) -> dict[str, Any]:
        return {**asdict(self), "mine": self.author == me}


def phase_of(session: Session) -> str | None:
    """The name of the session plan's current phase, or None when no plan is running
    (the note is then filed under its room alone)."""
    current = session.plan.current
    return None if current is None else current.name


def room_of(session: Session, pid: str) -> tuple[str, str]:
    where = location(session, pid) or "main"
    if where == "main":
        return "main", "Main room"
    room = session.breakouts.room(where)
    return where, room.name if room is not None else where


def _key(session_id: str, author: str, note_id: str) -> str:
    return f"note:{session_id}:{author}:{note_id}"


def _index(session_id: str) -> str:
    return f"notes:{session_id}"


class NoteBook:
    def __init__(self, store: Store, sealer: Sealer,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock

    async def _put(self, note: Note) -> None:
        key = _key(note.session_id, note.author, note.id)
        fields = asdict(note)
        await self._store.put(key, self._sealer.seal(key, fields))

    async def _get(self, session_id: str, author: str, note_id: str) -> Note | None:
        key = _key(session_id, author, note_id)
        found = await self._store.get(key)
        if found is None:
            return None
        return Note(**self._sealer.open(key, found.value))

    async def reseal(self, session_id: str) -> int:
        """Rewrite the session's notes under the current data key (a key rotation)."""
        members = await self._store.set_members(_index(session_id))
        return await reseal_keys(self._store, self._sealer, [
            _key(session_id, *member.partition(":")[::2]) for member in sorted(members)])

    async def create(self, session: Session, author: str, author_name: str,
                     text: str) -> Note:
        if len(await self._store.set_members(_index(session.id))) >= MAX_NOTES:
            raise NoteError(422, "limit", f"a session keeps at most {MAX_NOTES} notes")
        room, room_name = room_of(session, author)
        now = self._clock()
        note = Note(secrets.token_hex(8), session.id, author, author_name, room, room_name,
                    phase_of(session), text, now, now)
        await self._put(note)
        await self._store.set_add(_index(session.id), f"{author}:{note.id}")
        return note

    async def _own(self, session_id: str, author: str, note_id: str) -> Note:
        note = await self._get(session_id, author, note_id)
        if note is None:
            raise NoteError(404, "not_found", "no such note of yours")
        return note

    async def update(self, session_id: str, author: str, note_id: str, *,
                     text: str | None = None, shared: bool | None = None) -> Note:
        note = await self._own(session_id, author, note_id)
        if text is not None:
            note.text = text
        if shared is not None:
            note.shared = shared
        note.updated = self._clock()
        await self._put(note)
        return note

    async def delete(self, session_id: str, author: str, note_id: str) -> None:
        await self._own(session_id, author, note_id)
        await self._store.delete(_key(session_id, author, note_id))
        await self._store.set_remove(_index(session_id), f"{author}:{note_id}")

    async def readable(self, session_id: str, reader: str | None) -> list[Note]:
        """The notes ``reader`` may read: their own, and those shared with the session's
        clinicians (``reader`` None: shared notes only). Oldest first."""
        out = []
        for member in await self._store.set_members(_index(session_id)):
            author, _, note_id = member.partition(":")
            try:
                note = await self._get(session_id, author, note_id)
            except RecordError:
                continue
            if note is not None and (note.author == reader or note.shared):
                out.append(note)
        return sorted(out, key=lambda n: (n.created, n.id))
