"""The one place a verified link becomes an identity.

Links carry opaque ids only; the role and display name are read from the stored
session here, after the signature, time window and deny-list have been checked.
Every consumer (socket connect, the join page's link exchange) goes through
``identify``, so a new kind of link (a series link, say) is resolved in one spot.
"""

from __future__ import annotations

from rooms.model import ParticipantStatus, SessionPhase
from rooms.service import RoomService
from signaling.tokens import Identity, JoinClaims, LinkError

REFUSALS = {
    ParticipantStatus.REMOVED: ("removed", "you were removed from this session"),
    ParticipantStatus.DENIED: ("denied", "you were not let in to this session"),
}


async def identify(rooms: RoomService, claims: JoinClaims) -> Identity:
    """Role and name from the server for verified ``claims``; LinkError if the person is
    unknown to the session, removed or denied."""
    session = await rooms.get(claims.session_id)
    person = session.participants.get(claims.participant_id) if session else None
    if session is None or person is None:
        raise LinkError("invalid_token", "link is not valid")
    if session.phase is SessionPhase.ENDED:
        raise LinkError("session_ended", "this session has ended")
    refusal = REFUSALS.get(person.status)
    if refusal is not None:
        raise LinkError(*refusal)
    return Identity(claims.session_id, claims.participant_id, person.role.value,
                    person.display_name, claims.jti)
