"""What each person is shown: a state snapshot filtered for its viewer.

Clinicians see everyone, the lobby and every breakout. Anyone else sees only
the people in their own room (never observers), their own room's name and
timer, and nothing of the lobby.
"""

from __future__ import annotations

from typing import Any

from rooms.model import Participant, ParticipantStatus, PlanRun, Role, Session
from rooms.policy import chat_scopes, may_share_screen
from rooms.visibility import location


def _person(p: Participant, session: Session) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.display_name,
        "role": p.role.value,
        "status": p.status.value,
        "room": session.room_of(p.id),
        "visiting": p.visiting,
        "mic_on": p.mic_on,
        "camera_on": p.camera_on,
        "hand_raised": p.hand_raised,
        "child_safe": p.is_child_safe,
    }


def snapshot(session: Session, viewer_id: str, *, now: float) -> dict[str, Any]:
    viewer = session.participants[viewer_id]
    clinician = viewer.clinician
    where = location(session, viewer_id)
    if clinician:
        people = [p for p in session.participants.values() if p.present]
    elif where is None:
        people = []
    else:
        people = [
            p for p in session.participants.values()
            if (location(session, p.id) == where and p.role is not Role.OBSERVER)
            or p.id == viewer_id
        ]
    b = session.breakouts
    own_room = session.room_of(viewer_id)
    rooms = [
        {"id": r.id, "name": r.name,
         "members": sorted(k for k, v in b.assignment.items() if v == r.id)}
        for r in b.rooms
        if clinician or r.id == own_room
    ]
    if not clinician:
        for r in rooms:
            r["members"] = [m for m in r["members"] if location(session, m) == own_room]
    return {
        "version": session.version,
        "now": now,
        "session": {
            "id": session.id,
            "title": session.title,
            "phase": session.phase.value,
            "locked": session.locked,
            "screen_share_relatives": session.screen_share_relatives,
        },
        "me": {
            **_person(viewer, session),
            "may_share_screen": may_share_screen(session, viewer_id),
            "chat_scopes": list(chat_scopes(session, viewer_id)),
        },
        "participants": [_person(p, session) for p in people],
        "lobby": [
            {"id": p.id, "name": p.display_name, "role": p.role.value,
             "knocked_at": p.knocked_at}
            for p in session.participants.values() if p.status is ParticipantStatus.WAITING
        ] if clinician else [],
        "plan": _plan(session.plan) if clinician else None,
        "private_rooms": _private_rooms(session, viewer),
        "breakouts": {
            "phase": b.phase.value,
            "deadline": b.deadline,
            "closing_deadline": b.closing_deadline,
            "require_clinician": b.require_clinician,
            "rooms": rooms,
        },
    }


def _plan(run: PlanRun) -> dict[str, Any] | None:
    """The session plan and its current phase (clinicians only)."""
    if not run.phases:
        return None
    return {
        "name": run.name,
        "status": run.status.value,
        "index": run.index,
        "started_at": run.started_at,
        "pending": run.pending,
        "phases": [{"name": ph.name, "minutes": ph.minutes, "layout": ph.layout.value}
                   for ph in run.phases],
    }


def _private_rooms(session: Session, viewer: Participant) -> list[dict[str, Any]]:
    """Private rooms: every one for clinicians; one's own; and those whose clinician
    chose to tell the others ("Dr. X stepped out with Y")."""
    out = []
    for a in session.asides:
        if not (viewer.clinician or a.announce or viewer.id == a.guest):
            continue
        clinician, guest = session.participants[a.clinician], session.participants[a.guest]
        out.append({"room": a.room_id if viewer.clinician or viewer.id == a.guest else None,
                    "clinician": a.clinician, "clinician_name": clinician.display_name,
                    "guest": a.guest, "guest_name": guest.display_name,
                    "announce": a.announce})
    return out
