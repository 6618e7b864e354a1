"""Who a (session, participant) is in the program: an optional household member.

Attendance and consent identify a person by session id + participant id. When the
program layer knows the household member behind a participant, it plugs a
resolver in here; records then also carry the member and household ids, and the
consent ledger keys on the member so a consent holds across occurrences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Member:
    member_id: str | None = None
    household_id: str | None = None


NOBODY = Member()


class Resolver(Protocol):
    async def member_of(self, session_id: str, participant_id: str) -> Member: ...


class NoProgram:
    """Default: participants are not (yet) linked to household members."""

    async def member_of(self, session_id: str, participant_id: str) -> Member:
        return NOBODY


def subject_key(session_id: str, participant_id: str, member: Member) -> str:
    """The stable join key of a person's records: the member if known, else the
    session's participant."""
    if member.member_id:
        return f"m:{member.member_id}"
    return f"p:{session_id}:{participant_id}"
