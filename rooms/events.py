"""Events: what changed, for whom. Signaling resolves an audience to sockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    SESSION = "session"  # everyone connected to the session
    ROOM = "room"  # everyone present in one room (target: breakout id, or None = main)
    PARTICIPANT = "participant"  # one person (target: participant id)
    CLINICIANS = "clinicians"  # therapist and co-therapists only


@dataclass(frozen=True)
class Audience:
    scope: Scope
    target: str | None = None


EVERYONE = Audience(Scope.SESSION)
CLINICIANS = Audience(Scope.CLINICIANS)


def to(participant_id: str) -> Audience:
    return Audience(Scope.PARTICIPANT, participant_id)


@dataclass(frozen=True)
class Event:
    """``kind`` is a stable name from KINDS; ``version`` is the state version it produced;
    ``actor`` is the verified id behind the command (``system`` for timers)."""

    kind: str
    audience: Audience
    data: Mapping[str, Any] = field(default_factory=dict)
    session_id: str = ""
    version: int = 0
    actor: str = ""  # who issued the command (for the audit log)


KINDS = {
    "state_changed": "the session's state changed; clients get a fresh snapshot",
    "knock": "someone is waiting in the lobby (clinicians)",
    "admitted": "a person was let in",
    "denied": "a waiting person was not let in",
    "lobby_message": "a clinician's one-to-one message to a waiting person",
    "sent_back": "a person was sent back to the lobby",
    "removed": "a person was removed from the session",
    "session_ended": "the session ended: revoke links, close sockets",
    "link_revoked": "a person's link was revoked or re-issued: close sockets holding the old one",
    "mute_requested": "a clinician muted this person's microphone",
    "camera_off_requested": "a clinician turned this person's camera off",
    "unmute_requested": "a clinician asks this person to unmute (they decide)",
    "settings_changed": "a clinician changed a session setting (lock, auto-admit, screen "
    "share; for the audit log)",
    "moved": "a clinician moved a person to another breakout room (for the audit log)",
    "breakouts_opened": "everyone moved to their breakout room",
    "broadcast": "a clinician's message to every room",
    "help_requested": "someone in a breakout asked for a clinician",
    "close_all_started": "breakouts close after a countdown",
    "breakouts_closed": "everyone is back in the main room",
    "child_returned": "a child was moved to the main room because no clinician or "
    "guardian remained with them",
    "visibility_changed": "who sees and hears whom changed; media must reconcile",
}
