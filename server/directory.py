"""Session records a therapist manages (title, schedule, owner) and the links issued.

The live state of a session (lobby, participants, breakouts) belongs to the
rooms domain; this is the clinic-facing directory around it: who owns which
session, when it is scheduled, and which link ids were issued to whom so that
they can be revoked or re-issued.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass

from rooms.stores import Store


@dataclass(frozen=True)
class SessionRecord:
    id: str
    owner: str
    title: str
    starts_at: float | None
    ends_at: float | None
    created: float


@dataclass(frozen=True)
class IssuedLink:
    participant_id: str
    jti: str
    not_before: float
    expires: float


class Directory:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self, owner: str, title: str, starts_at: float | None, ends_at: float | None
    ) -> SessionRecord:
        record = SessionRecord(uuid.uuid4().hex, owner, title, starts_at, ends_at, time.time())
        await self._store.put(f"sessionmeta:{record.id}", json.dumps(asdict(record)).encode())
        await self._store.set_add(f"sessions-of:{owner}", record.id)
        return record

    async def get(self, session_id: str) -> SessionRecord | None:
        found = await self._store.get(f"sessionmeta:{session_id}")
        return None if found is None else SessionRecord(**json.loads(found.value))

    async def list_for(self, owner: str) -> list[SessionRecord]:
        records = []
        for sid in await self._store.set_members(f"sessions-of:{owner}"):
            record = await self.get(sid)
            if record is not None:
                records.append(record)
        return sorted(records, key=lambda r: (r.starts_at or r.created, r.created))

    async def record_link(self, session_id: str, link: IssuedLink) -> IssuedLink | None:
        """Remember the participant's current link; return the one it replaces."""
        key = f"link-of:{session_id}:{link.participant_id}"
        previous = await self._store.get(key)
        await self._store.put(key, json.dumps(asdict(link)).encode())
        return None if previous is None else IssuedLink(**json.loads(previous.value))

    async def current_link(self, session_id: str, participant_id: str) -> IssuedLink | None:
        found = await self._store.get(f"link-of:{session_id}:{participant_id}")
        return None if found is None else IssuedLink(**json.loads(found.value))
