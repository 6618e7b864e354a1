"""Who sees and hears whom, and which chat threads reach whom: one pure function each.

The media relay and the chat fan-out both use exactly these, so "what you see"
and "what you read" can never disagree.
"""

from __future__ import annotations

from rooms.model import Participant, Role, Session


def location(session: Session, pid: str) -> str | None:
    """``main`` for the main room, a breakout id, a private room (``aside-…``, which
    wins over any breakout), or None when not present."""
    p = session.participants.get(pid)
    if p is None or not p.present:
        return None
    return session.room_of(pid) or "main"


def members(session: Session, where: str) -> frozenset[str]:
    """Everyone present in a room (``main`` or a breakout id)."""
    return frozenset(pid for pid in session.participants if location(session, pid) == where)


def visible_publishers(session: Session, pid: str) -> frozenset[str]:
    """Whose media ``pid`` receives: present people in the same room, never observers,
    never themselves. Nobody in the lobby sees or is seen."""
    where = location(session, pid)
    if where is None:
        return frozenset()
    return frozenset(
        q for q in members(session, where)
        if q != pid and session.participants[q].role is not Role.OBSERVER
    )


# --- the whole session at once -----------------------------------------------------
# Visibility depends only on each person's room and whether they publish, so the whole
# session's is one pass over the participants (who is where, who publishes in each
# room), not ``visible_publishers`` per person, which rescans everyone each time.

_Rooms = tuple[dict[str, str], dict[str, frozenset[str]]]


def _rooms(session: Session) -> _Rooms:
    """Where each present participant is, and who publishes in each room."""
    where: dict[str, str] = {}
    publishing: dict[str, set[str]] = {}
    for pid, p in session.participants.items():
        room = location(session, pid)
        if room is None:
            continue
        where[pid] = room
        if p.role is not Role.OBSERVER:
            publishing.setdefault(room, set()).add(pid)
    return where, {room: frozenset(pids) for room, pids in publishing.items()}


def _visible(rooms: _Rooms, pid: str) -> frozenset[str]:
    where, publishing = rooms
    room = where.get(pid)
    if room is None:
        return frozenset()
    return publishing.get(room, frozenset()) - {pid}


def all_visibility(session: Session) -> dict[str, frozenset[str]]:
    """Visibility for every participant, for the relay to reconcile at once
    (``visible_publishers`` of each)."""
    rooms = _rooms(session)
    return {pid: _visible(rooms, pid) for pid in session.participants}


def visibility_changes(before: Session | None, after: Session) -> dict[str, frozenset[str]]:
    """The new visible-publisher set of every participant of ``after`` whose set differs
    from ``before``. Someone who stays in a room whose publishers did not change is
    skipped without building their set, so a change that moves nobody (a disconnect
    within the grace, a hand raised) costs one pass over the participants."""
    old = _rooms(before) if before is not None else ({}, {})
    new = _rooms(after)
    same = {room for room in new[1].keys() | old[1].keys()
            if old[1].get(room) == new[1].get(room)}
    changes: dict[str, frozenset[str]] = {}
    for pid in after.participants:
        room = new[0].get(pid)
        if room == old[0].get(pid) and (room is None or room in same):
            continue
        if (now := _visible(new, pid)) != _visible(old, pid):
            changes[pid] = now
    return changes


def visibility_differs(before: Session, after: Session) -> bool:
    """Whether ``all_visibility`` of the two differs (someone added or removed counts)."""
    return (before.participants.keys() != after.participants.keys()
            or bool(visibility_changes(before, after)))


def room_chat_scope(session: Session, pid: str) -> str | None:
    """The chat thread of the room ``pid`` is in: ``main`` or ``breakout:<id>``."""
    where = location(session, pid)
    if where is None:
        return None
    return "main" if where == "main" else f"breakout:{where}"


# Children (in child-safe mode, on for them by default) chat only with clinicians and
# observers never with clients, so neither reads a room thread (the adults' conversation).
def reads_room_chat(p: Participant) -> bool:
    """Observers never read a room's chat; nor does anyone in child-safe mode."""
    return p.role is not Role.OBSERVER and not p.is_child_safe


def _room_readers(session: Session, where: str) -> frozenset[str]:
    return frozenset(q for q in members(session, where)
                     if reads_room_chat(session.participants[q]))


def readers(session: Session, scope: str) -> frozenset[str]:
    """Who receives messages of a chat thread (the inverse of ``chat_threads``).

    ``main`` / ``breakout:<id>``: present people in that room, except children
    and observers.
    ``private:<pid>``: that person and every present clinician.
    ``clinical``: the clinicians' backchannel, which clients never see.
    """
    clinicians = {q for q, p in session.participants.items() if p.clinician and p.present}
    if scope == "clinical":
        return frozenset(clinicians)
    if scope == "main":
        return _room_readers(session, "main")
    if scope.startswith("breakout:"):
        return _room_readers(session, scope.removeprefix("breakout:"))
    if scope.startswith("private:"):
        owner = scope.removeprefix("private:")
        p = session.participants.get(owner)
        return frozenset(clinicians | ({owner} if p is not None and p.present else set()))
    return frozenset()


def chat_threads(session: Session, pid: str) -> frozenset[str]:
    """Every chat thread that reaches ``pid`` now (history to send, messages to deliver).

    Exactly the threads whose ``readers`` include ``pid``; nobody outside the
    session's rooms (lobby, left, removed) reads anything.
    """
    p = session.participants.get(pid)
    where = location(session, pid)
    if p is None or where is None:
        return frozenset()
    threads = set()
    if reads_room_chat(p):
        threads.add("main" if where == "main" else f"breakout:{where}")
    if p.clinician:
        threads.add("clinical")
        threads.update(f"private:{q}" for q, other in session.participants.items()
                       if not other.clinician)
    else:
        threads.add(f"private:{pid}")
    return frozenset(threads)


def all_threads(session: Session) -> frozenset[str]:
    """Every chat thread the session can have right now (for reconciling fan-out)."""
    return frozenset({"main", "clinical",
                      *(f"breakout:{r.id}" for r in session.breakouts.rooms),
                      *(f"breakout:{a.room_id}" for a in session.asides),
                      *(f"private:{q}" for q, p in session.participants.items()
                        if not p.clinician)})
