"""The discreet check-in: a client asks the clinicians, and only them, for a private word.

Nothing in the session changes: no command runs, no state version moves, no notice
or chat is written. The clinicians' sockets get one ``checkin`` event; the sender
gets the ack. Everyone else receives nothing, so a partner glancing at their own
screen, or reading their own socket, cannot tell it happened. One check-in per
person per ``COOLDOWN`` seconds (across nodes, through the store); each one is
audited.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.errors import DomainError, Forbidden
from rooms.model import CLINICIANS, ParticipantStatus, Role
from signaling.registry import Caller, Empty, Registry
from signaling.service import Signaling

COOLDOWN = 30.0  # seconds between two check-ins of one person
Once = Callable[[str, float], Awaitable[bool]]  # key, ttl → True the first time
Audit = Callable[[str, dict[str, Any]], Awaitable[None]]


class TooSoon(DomainError):
    code = "too_soon"


def register_checkin(r: Registry, sig: Signaling, *, once: Once | None, audit: Audit | None,
                     clock: Callable[[], float] = time.time) -> None:
    @r.event("checkin", Empty, who="clients, partners, parents, family and children")
    async def checkin(caller: Caller, body: Empty) -> dict[str, Any]:
        """Ask the clinicians, and nobody else, for a private word (the others see nothing)."""
        session = await sig.state(caller)
        me = session.participants[caller.participant_id]
        if me.role in CLINICIANS or me.role is Role.OBSERVER:
            raise Forbidden("clinicians and observers have no check-in")
        if me.status in (ParticipantStatus.REMOVED, ParticipantStatus.DENIED,
                         ParticipantStatus.LEFT):
            raise Forbidden("you are not in the session")
        if once is not None and not await once(
                f"checkin:{session.id}:{me.id}", COOLDOWN):
            raise TooSoon("Your check-in was already sent; your therapist has it.")
        clinicians = [p.id for p in session.participants.values()
                      if p.role in CLINICIANS and p.status in (
                          ParticipantStatus.ADMITTED, ParticipantStatus.CONNECTED,
                          ParticipantStatus.RECONNECTING)]
        cue = {"participant_id": me.id, "name": me.display_name, "at": clock()}
        await sig.outbox.to(session.id, clinicians, "checkin", cue)
        if audit is not None:
            await audit("checkin", {"session": session.id, "actor": me.id, "subject": me.id})
        return {"sent": True}
