"""The safety panel's data: where each person is, whom to call, their safety plan.

- Clinic settings (``safety:settings``, plain JSON, no person in it): whether a
  location is asked at each pre-join, and the crisis-line table by region.
- A person's confirmed location for one session: free text plus a state or country,
  sealed with AES-GCM (the store key is the associated data), one per session and
  participant. Only a clinician of the session reads it, over REST.
- ``LocationGate`` wraps the admission gate: when the clinic asks for locations, a
  client's knock is refused with ``location_required`` until they confirmed one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rooms.errors import Forbidden
from rooms.model import CLINICIANS, Participant, Role, Session
from rooms.stores import Store
from server.records.sealed import Sealer, reseal_keys

SETTINGS_KEY = "safety:settings"
# Roles asked where they are: everyone of the family (clinicians and observers are not).
ASKED = frozenset(Role) - CLINICIANS - {Role.OBSERVER}


class LocationRequired(Forbidden):
    """A client knocks before confirming where they are (the clinic asks for it)."""

    code = "location_required"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


Region = Field(min_length=2, max_length=60, pattern=r"^[^\x00-\x1f<>]+$")


class CrisisLine(Strict):
    region: str = Field(min_length=1, max_length=60, pattern=r"^[^\x00-\x1f<>]+$",
                        description="a state or country as people type it, or * for any")
    label: str = Field(min_length=1, max_length=80)
    phone: str = Field(min_length=1, max_length=40, pattern=r"^[0-9+() .#*-]+$")


class SafetySettings(Strict):
    location_at_join: bool = False
    crisis_lines: list[CrisisLine] = Field(default_factory=list, max_length=200)

    def lines_for(self, region: str | None) -> list[CrisisLine]:
        """Crisis lines for a region (case-insensitive), then the ``*`` fallback."""
        if region:
            found = [c for c in self.crisis_lines if c.region.casefold() == region.casefold()]
            if found:
                return found
        return [c for c in self.crisis_lines if c.region == "*"]


class Location(Strict):
    place: str = Field(min_length=2, max_length=200, description="Where you are right now")
    region: str = Region


def _location_key(session_id: str, participant_id: str) -> str:
    return f"safety:location:{session_id}:{participant_id}"


class SafetyBook:
    def __init__(self, store: Store, sealer: Sealer,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock

    async def settings(self) -> SafetySettings:
        found = await self._store.get(SETTINGS_KEY)
        if found is None:
            return SafetySettings()
        return SafetySettings.model_validate(json.loads(found.value))

    async def set_settings(self, settings: SafetySettings) -> SafetySettings:
        await self._store.put(SETTINGS_KEY, settings.model_dump_json().encode())
        return settings

    async def confirm(self, session_id: str, participant_id: str, where: Location) -> float:
        key = _location_key(session_id, participant_id)
        at = self._clock()
        await self._store.put(key, self._sealer.seal(key, {**where.model_dump(), "at": at}))
        return at

    async def reseal(self, session_id: str, participant_ids: Iterable[str]) -> int:
        """Rewrite the session's confirmed locations under the current data key."""
        return await reseal_keys(self._store, self._sealer,
                                 [_location_key(session_id, pid) for pid in participant_ids])

    async def location(self, session_id: str, participant_id: str) -> dict[str, Any] | None:
        key = _location_key(session_id, participant_id)
        found = await self._store.get(key)
        return None if found is None else self._sealer.open(key, found.value)


class LocationGate:
    """The admission gate with one more check before a knock (see module doc)."""

    def __init__(self, inner: Any, book: SafetyBook) -> None:
        self.inner = inner
        self.book = book

    async def check_knock(self, session: Session, p: Participant) -> None:
        if self.inner is not None:
            await self.inner.check_knock(session, p)
        if p.role in ASKED and (await self.book.settings()).location_at_join \
                and await self.book.location(session.id, p.id) is None:
            raise LocationRequired("Please confirm where you are right now on the pre-join "
                                   "page before joining.")

    async def check_admit(self, session: Session, pid: str) -> None:
        if self.inner is not None:
            await self.inner.check_admit(session, pid)

    async def hold_reason(self, session: Session, pid: str) -> str | None:
        if self.inner is None:
            return None
        reason: str | None = await self.inner.hold_reason(session, pid)
        return reason
