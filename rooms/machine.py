"""The pure session state machine: ``handle(state, command, now) -> (state, events)``.

Three small machines, each an explicit transition table in the style of h11:
the session phase, each participant's status, and the breakout phase. A
(state, command) pair missing from its table raises InvalidTransition and the
caller keeps the old state (states are immutable, so nothing half-changes).
Moves that are not a machine's own command (the session ending, a deadline
passing) are in trigger tables, like h11's state-triggered transitions; entering
from a link is ``Enter``, the lobby's steps in one transition (``ENTER_STEPS``).
Timers are data: ``next_deadline`` says when to wake, and ``Tick`` applies
every deadline that has passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from typing import Any

from rooms import commands as c
from rooms.errors import Forbidden, InvalidTransition, Limit, NoClinician, NotFound
from rooms.events import CLINICIANS as TO_CLINICIANS
from rooms.events import EVERYONE, Event, to
from rooms.events import EventKind as K
from rooms.model import (
    RELATIVES,
    BreakoutPhase,
    BreakoutRoom,
    Limits,
    Participant,
    Role,
    Session,
    SessionPhase,
)
from rooms.model import ParticipantStatus as PS
from rooms.policy import authorize
from rooms.visibility import visibility_differs

SP = SessionPhase
BP = BreakoutPhase
LIVE_PHASES = (SP.SCHEDULED, SP.OPEN, SP.LIVE)

# --- transition tables --------------------------------------------------------
# There is no GoLive command: the session goes live implicitly when the first
# person is admitted (a therapist's own knock admits them, so joining is enough).
# Knocking is accepted while scheduled, because links work from shortly before
# the start; OpenSession only records that the therapist opened the room.
SESSION_TABLE: dict[tuple[SP, type[c.Command]], SP] = {
    (SP.SCHEDULED, c.OpenSession): SP.OPEN,
    **{(p, c.EndSession): SP.ENDED for p in LIVE_PHASES},
    **{(p, c.Admit): SP.LIVE for p in LIVE_PHASES},
    **{(p, c.AdmitAll): SP.LIVE for p in LIVE_PHASES},
}
# Commands whose session phase is not in SESSION_TABLE are allowed in any live phase.
PHASE_GATED = frozenset(cmd for (_, cmd) in SESSION_TABLE)

_PRESENT = (PS.ADMITTED, PS.CONNECTED, PS.RECONNECTING)
_ACTIVE = (PS.ADMITTED, PS.CONNECTED)
PARTICIPANT_TABLE: dict[tuple[PS, type[c.Command]], PS] = {
    (PS.INVITED, c.Knock): PS.WAITING,
    (PS.LEFT, c.Knock): PS.WAITING,  # rejoining after leaving goes through the lobby again
    (PS.WAITING, c.Knock): PS.WAITING,  # a reload while waiting keeps the place
    (PS.WAITING, c.Admit): PS.ADMITTED,
    (PS.WAITING, c.Deny): PS.DENIED,
    (PS.WAITING, c.LobbyMessage): PS.WAITING,
    **{(s, c.SendBackToLobby): PS.WAITING for s in _PRESENT},
    **{(s, c.HandOverHost): s for s in _ACTIVE},  # the new host is in the room
    (PS.ADMITTED, c.Connect): PS.CONNECTED,
    (PS.CONNECTED, c.Connect): PS.CONNECTED,  # a second tab takes over
    (PS.RECONNECTING, c.Connect): PS.CONNECTED,
    (PS.ADMITTED, c.Disconnect): PS.RECONNECTING,
    (PS.CONNECTED, c.Disconnect): PS.RECONNECTING,
    (PS.RECONNECTING, c.Disconnect): PS.RECONNECTING,
    (PS.WAITING, c.Disconnect): PS.LEFT,
    **{(s, c.Leave): PS.LEFT for s in (PS.WAITING, *_PRESENT)},
    **{(s, c.RemoveParticipant): PS.REMOVED
       for s in (PS.INVITED, PS.WAITING, PS.DENIED, PS.LEFT, *_PRESENT)},
    **{(s, cmd): s for s in _ACTIVE
       for cmd in (c.SetMedia, c.RaiseHand, c.LowerHand, c.MuteRequest, c.CameraOffRequest,
                   c.AskToUnmute, c.AskForHelp)},
    **{(s, c.SetMedia): s for s in (PS.INVITED, PS.WAITING, PS.RECONNECTING)},
    # Only after a restore can a removed or denied person be given a link again.
    **{(s, c.RestoreParticipant): PS.INVITED for s in (PS.REMOVED, PS.DENIED)},
    **{(s, c.RevokeLink): s for s in PS},
    **{(s, c.SetChildSafe): s for s in PS},
    **{(s, c.SetDisplayName): s for s in (PS.INVITED, PS.WAITING, *_PRESENT)},
}

# Entering from a link is the lobby's own steps as one transition: Enter applies the
# step of the status it finds, then the step of the status that leads to, each step
# at most once (a knock that admits on the spot connects too). A status with no row
# cannot enter. The therapist's Enter first opens a scheduled session.
ENTER_STEPS: dict[PS, type[c.Command]] = {
    PS.INVITED: c.Knock,
    PS.LEFT: c.Knock,
    PS.WAITING: c.Knock,
    PS.ADMITTED: c.Connect,
    PS.RECONNECTING: c.Connect,
    PS.CONNECTED: c.Connect,
}
ENTER_OPENS = frozenset({Role.THERAPIST})

_EDITABLE = (BP.NONE, BP.DRAFT, BP.CLOSED)
BREAKOUT_TABLE: dict[tuple[BP, type[c.Command]], BP] = {
    **{(p, c.CreateBreakouts): BP.DRAFT for p in _EDITABLE},
    **{(p, cmd): BP.DRAFT for p in (BP.DRAFT, BP.CLOSED)
       for cmd in (c.RenameBreakout, c.DeleteBreakout, c.Assign, c.AssignAuto)},
    **{(p, c.AssignByRole): BP.DRAFT for p in _EDITABLE},
    **{(p, c.SetRequireClinician): p for p in BP},
    (BP.DRAFT, c.OpenBreakouts): BP.OPEN,
    (BP.CLOSED, c.OpenBreakouts): BP.OPEN,
    (BP.OPEN, c.MoveParticipant): BP.OPEN,
    (BP.OPEN, c.Visit): BP.OPEN,
    (BP.CLOSING, c.Visit): BP.CLOSING,
    (BP.OPEN, c.ExtendBreakouts): BP.OPEN,
    (BP.CLOSING, c.ExtendBreakouts): BP.OPEN,  # extending cancels the countdown
    (BP.OPEN, c.Broadcast): BP.OPEN,
    (BP.CLOSING, c.Broadcast): BP.CLOSING,
    (BP.OPEN, c.AskForHelp): BP.OPEN,
    (BP.CLOSING, c.AskForHelp): BP.CLOSING,
    (BP.OPEN, c.CloseAll): BP.CLOSING,
    (BP.CLOSING, c.CloseAll): BP.CLOSING,  # "close now": the countdown can only shorten
}
BREAKOUT_GATED = frozenset(cmd for (_, cmd) in BREAKOUT_TABLE)


class Trigger(StrEnum):
    """What moves a participant or the breakouts without being their command: the end
    of the session, or a deadline a Tick finds passed. The value is how the generated
    tables name it."""

    SESSION_ENDED = "EndSession"
    GRACE_OVER = "Tick (reconnect grace over)"
    TIME_UP = "Tick (breakout time up)"
    COUNTDOWN_OVER = "Tick (countdown over)"


# State-triggered transitions, in the style of h11's: a state whose pair is missing is
# not affected by the trigger (someone denied stays denied when the session ends).
PARTICIPANT_TRIGGERS: dict[tuple[PS, Trigger], PS] = {
    **{(s, Trigger.SESSION_ENDED): PS.LEFT
       for s in (PS.INVITED, PS.WAITING, *_PRESENT, PS.LEFT)},
    (PS.RECONNECTING, Trigger.GRACE_OVER): PS.LEFT,
}
BREAKOUT_TRIGGERS: dict[tuple[BP, Trigger], BP] = {
    (BP.OPEN, Trigger.TIME_UP): BP.CLOSING,
    (BP.CLOSING, Trigger.COUNTDOWN_OVER): BP.CLOSED,
    **{(p, Trigger.SESSION_ENDED): BP.CLOSED for p in BP if p is not BP.NONE},
}

Result = tuple[Session, list[Event]]


def new_session(
    session_id: str,
    *,
    owner_id: str,
    owner_name: str,
    title: str,
    now: float,
    max_participants: int = 50,
    max_breakouts: int = 20,
    reconnect_grace: float = 60.0,
    close_grace: float = 60.0,
) -> Session:
    """A scheduled session whose only participant is its therapist."""
    owner = Participant(owner_id, Role.THERAPIST, owner_name)
    return Session(
        id=session_id, owner=owner_id, title=title, phase=SP.SCHEDULED,
        participants={owner_id: owner}, created=now,
        limits=Limits(max_participants, max_breakouts, reconnect_grace, close_grace),
    )


# --- helpers --------------------------------------------------------------------
def _get(s: Session, pid: str) -> Participant:
    p = s.participants.get(pid)
    if p is None:
        raise NotFound("no such participant")
    return p


def _move(s: Session, p: Participant, cmd: c.Command, **changes: Any) -> Session:
    """Apply the participant table to ``p`` for ``cmd``."""
    new_status = PARTICIPANT_TABLE.get((p.status, type(cmd)))
    if new_status is None:
        raise InvalidTransition(f"cannot {type(cmd).__name__} while {p.status.value}")
    return s.with_participant(replace(p, status=new_status, **changes))


def _breakouts(s: Session, **changes: Any) -> Session:
    return replace(s, breakouts=replace(s.breakouts, **changes))


def _triggered(p: Participant, trigger: Trigger, **changes: Any) -> Participant:
    """Apply the participant trigger table to ``p`` (unchanged when its row is absent)."""
    new_status = PARTICIPANT_TRIGGERS.get((p.status, trigger))
    return p if new_status is None else replace(p, status=new_status, **changes)


def _breakouts_triggered(s: Session, trigger: Trigger, **changes: Any) -> Session:
    """Apply the breakout trigger table (the phase is kept when its row is absent)."""
    phase = BREAKOUT_TRIGGERS.get((s.breakouts.phase, trigger), s.breakouts.phase)
    return _breakouts(s, phase=phase, **changes)


def _room(s: Session, room_id: str | None) -> str | None:
    if room_id is not None and s.breakouts.room(room_id) is None:
        raise NotFound("no such breakout room")
    return room_id


MAX_SECONDS = 24 * 3600.0  # no breakout timer or countdown runs longer than a day


def _seconds(value: float, what: str, *, zero_ok: bool = False) -> float:
    """A timer length from a command: finite, positive (or zero) and at most a day."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok) \
            or value > MAX_SECONDS:
        raise InvalidTransition(f"{what} must be between 0 and {MAX_SECONDS:.0f} seconds")
    return float(value)


def _guardians(s: Session, child_id: str) -> set[str]:
    return {q for q, p in s.participants.items() if child_id in p.guardian_of}


def _lonely_children(s: Session) -> list[str]:
    """Present children in a breakout with no present clinician or guardian of theirs."""
    lonely = []
    for pid, p in s.participants.items():
        room = s.room_of(pid)
        if p.role is not Role.CHILD or not p.present or room is None:
            continue
        guardians = _guardians(s, pid)
        company = [
            q for q, other in s.participants.items()
            if q != pid and other.present and s.room_of(q) == room
            and (other.clinician or q in guardians)
        ]
        if not company:
            lonely.append(pid)
    return lonely


def _check_child_rule(s: Session) -> None:
    if s.breakouts.active and _lonely_children(s):
        raise InvalidTransition("a child would be in a breakout without a clinician or guardian")


def _check_clinician_rule(s: Session) -> None:
    if not (s.breakouts.require_clinician and s.breakouts.active):
        return
    for room in s.breakouts.rooms:
        present = [q for q, p in s.participants.items() if p.present and s.room_of(q) == room.id]
        if present and not any(s.participants[q].clinician for q in present):
            raise NoClinician(f"{room.name} has no clinician")


def _return_all(s: Session) -> Session:
    """The countdown is over: everyone back to the main room; visits end."""
    parts = {pid: replace(p, visiting=None) if p.visiting else p
             for pid, p in s.participants.items()}
    return _breakouts_triggered(replace(s, participants=parts), Trigger.COUNTDOWN_OVER,
                                deadline=None, closing_deadline=None)


# --- command handlers ----------------------------------------------------------------
# Every command but Tick comes from a participant: ``authorize`` has found them, so a
# handler receives its actor, declared here once. Tick is the clock's.
Handler = Callable[[Session, Any, Participant, float], Result]
Dispatch = Callable[[Session, Any, Participant | None, float], Result]
HANDLERS: dict[type[c.Command], Dispatch] = {}
#: what follows when open rooms' closing countdown ends, after everyone is back
#: (rooms/plans.py: a plan's next rooms form then)
AFTER_CLOSE: list[Callable[[Session, float], Result]] = []


def on(cmd_type: type[c.Command]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        def dispatch(s: Session, cmd: Any, actor: Participant | None, now: float) -> Result:
            if actor is None:
                raise Forbidden("not a participant of this session")
            return fn(s, cmd, actor, now)

        HANDLERS[cmd_type] = dispatch
        return fn

    return register


@on(c.OpenSession)
def _open(s: Session, cmd: c.OpenSession, actor: Participant, now: float) -> Result:
    return s, []


def _setting(s: Session, new: Session, name: str) -> Result:
    """A session setting; a real change is an event (the audit log records it)."""
    return new, ([Event(K.SETTINGS_CHANGED, TO_CLINICIANS, {"setting": name})]
                 if new != s else [])


@on(c.Lock)
def _lock(s: Session, cmd: c.Lock, actor: Participant, now: float) -> Result:
    return _setting(s, replace(s, locked=True), "locked")


@on(c.Unlock)
def _unlock(s: Session, cmd: c.Unlock, actor: Participant, now: float) -> Result:
    return _setting(s, replace(s, locked=False), "locked")


@on(c.EndSession)
def _end(s: Session, cmd: c.EndSession, actor: Participant, now: float) -> Result:
    parts = {pid: _triggered(p, Trigger.SESSION_ENDED, visiting=None)
             for pid, p in s.participants.items()}
    ended = _breakouts_triggered(replace(s, participants=parts), Trigger.SESSION_ENDED,
                                 deadline=None, closing_deadline=None)
    return ended, [Event(K.SESSION_ENDED, EVERYONE)]


@on(c.SetAutoAdmit)
def _auto(s: Session, cmd: c.SetAutoAdmit, actor: Participant, now: float) -> Result:
    return _setting(s, replace(s, auto_admit=frozenset(cmd.roles) - {Role.CHILD, Role.OBSERVER}),
                    "auto_admit")


@on(c.AllowScreenShare)
def _share(s: Session, cmd: c.AllowScreenShare, actor: Participant, now: float) -> Result:
    return _setting(s, replace(s, screen_share_relatives=cmd.allowed), "screen_share")


@on(c.AddParticipant)
def _add(s: Session, cmd: c.AddParticipant, actor: Participant, now: float) -> Result:
    if cmd.participant_id in s.participants:
        raise InvalidTransition("participant already exists")
    if len(s.participants) >= s.limits.max_participants:
        raise Limit(f"at most {s.limits.max_participants} participants")
    linked = []
    for other_id in cmd.guardian_of:
        other = _get(s, other_id)
        if cmd.role is Role.CHILD:
            if other.role not in RELATIVES:
                raise InvalidTransition("a child's guardian must be a relative")
            linked.append(replace(other, guardian_of=(*other.guardian_of, cmd.participant_id)))
        elif other.role is not Role.CHILD:
            raise InvalidTransition("guardian_of lists children")
    own = () if cmd.role is Role.CHILD else tuple(cmd.guardian_of)
    if own and cmd.role not in RELATIVES:
        raise InvalidTransition("only relatives can be guardians")
    new = s.with_participant(Participant(cmd.participant_id, cmd.role, cmd.display_name,
                                         guardian_of=own, household=cmd.household))
    for g in linked:
        new = new.with_participant(g)
    return new, []


@on(c.RemoveParticipant)
def _remove(s: Session, cmd: c.RemoveParticipant, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    new = _move(s, p, cmd, visiting=None, hand_raised=False)
    return new, [Event(K.REMOVED, to(p.id))]


@on(c.RestoreParticipant)
def _restore(s: Session, cmd: c.RestoreParticipant, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd, knocked_at=None, disconnected_at=None), []


@on(c.RevokeLink)
def _revoke_link(s: Session, cmd: c.RevokeLink, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd), [Event(K.LINK_REVOKED, to(p.id))]


@on(c.Knock)
def _knock(s: Session, cmd: c.Knock, actor: Participant, now: float) -> Result:
    if s.locked and not actor.clinician:
        raise InvalidTransition("the session is locked")
    muted = actor.role is Role.OBSERVER  # observers watch: never a microphone or camera
    new = _move(s, actor, cmd, consent_version=cmd.consent_version,
                mic_on=cmd.mic_on and not muted, camera_on=cmd.camera_on and not muted,
                knocked_at=now, hand_raised=False)
    if actor.id == s.owner or actor.role in s.auto_admit:
        waiting = _get(new, actor.id)
        new = _move(new, waiting, c.Admit(actor=actor.id, target=actor.id))
        return new, [Event(K.ADMITTED, to(actor.id))]
    if actor.status is PS.WAITING:
        return new, []
    return new, [Event(K.KNOCK, TO_CLINICIANS, {"participant_id": actor.id,
                                                 "name": actor.display_name})]


@on(c.Enter)
def _enter(s: Session, cmd: c.Enter, actor: Participant, now: float) -> Result:
    steps: list[c.Command] = []
    if actor.role in ENTER_OPENS and (s.phase, c.OpenSession) in SESSION_TABLE:
        steps.append(c.OpenSession(actor=actor.id))
    events: list[Event] = []
    taken: set[type[c.Command]] = set()
    for step in steps:
        s, more = _step(s, step, now)
        events += more
    while (kind := ENTER_STEPS.get(_get(s, actor.id).status)) is not None \
            and kind not in taken:
        taken.add(kind)
        step = c.Knock(actor=actor.id, consent_version=cmd.consent_version,
                       mic_on=cmd.mic_on, camera_on=cmd.camera_on) \
            if kind is c.Knock else kind(actor=actor.id)
        s, more = _step(s, step, now)
        events += more
    if not taken:
        raise InvalidTransition(f"cannot Enter while {actor.status.value}")
    return s, events


@on(c.Admit)
def _admit(s: Session, cmd: c.Admit, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd), [Event(K.ADMITTED, to(p.id))]


@on(c.AdmitAll)
def _admit_all(s: Session, cmd: c.AdmitAll, actor: Participant, now: float) -> Result:
    events = []
    for p in list(s.participants.values()):
        if p.status is PS.WAITING:
            s = _move(s, p, c.Admit(actor=cmd.actor, target=p.id))
            events.append(Event(K.ADMITTED, to(p.id)))
    return s, events


@on(c.Deny)
def _deny(s: Session, cmd: c.Deny, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd), [Event(K.DENIED, to(p.id), {"text": cmd.message or ""})]


@on(c.LobbyMessage)
def _lobby_message(s: Session, cmd: c.LobbyMessage, actor: Participant,
                   now: float) -> Result:
    p = _get(s, cmd.target)
    _move(s, p, cmd)  # validates that the target is waiting
    return s, [Event(K.LOBBY_MESSAGE, to(p.id), {"text": cmd.text})]


@on(c.SendBackToLobby)
def _send_back(s: Session, cmd: c.SendBackToLobby, actor: Participant,
               now: float) -> Result:
    p = _get(s, cmd.target)
    new = _move(s, p, cmd, visiting=None, hand_raised=False, disconnected_at=None)
    return new, [Event(K.SENT_BACK, to(p.id))]


@on(c.HandOverHost)
def _hand_over(s: Session, cmd: c.HandOverHost, actor: Participant, now: float) -> Result:
    new_host = _get(s, cmd.target)
    people = dict(s.participants)
    people[actor.id] = replace(actor, role=Role.CO_THERAPIST)
    people[new_host.id] = replace(new_host, role=Role.THERAPIST)
    return replace(s, participants=people), [
        Event(K.HOST_HANDED_OVER, TO_CLINICIANS, {"from": actor.id, "to": new_host.id})]


@on(c.Connect)
def _connect(s: Session, cmd: c.Connect, actor: Participant, now: float) -> Result:
    return _move(s, actor, cmd, disconnected_at=None), []


@on(c.Disconnect)
def _disconnect(s: Session, cmd: c.Disconnect, actor: Participant, now: float) -> Result:
    since = actor.disconnected_at if actor.status is PS.RECONNECTING else now
    return _move(s, actor, cmd, disconnected_at=since), []


@on(c.Leave)
def _leave(s: Session, cmd: c.Leave, actor: Participant, now: float) -> Result:
    return _move(s, actor, cmd, visiting=None, hand_raised=False), []


@on(c.SetMedia)
def _set_media(s: Session, cmd: c.SetMedia, actor: Participant, now: float) -> Result:
    return _move(s, actor, cmd, mic_on=cmd.mic_on, camera_on=cmd.camera_on), []


MAX_NAME = 80


@on(c.SetDisplayName)
def _rename_self(s: Session, cmd: c.SetDisplayName, actor: Participant,
                 now: float) -> Result:
    name = " ".join(cmd.display_name.split())
    if not name or len(name) > MAX_NAME:
        raise InvalidTransition(f"a display name has 1 to {MAX_NAME} characters")
    return _move(s, actor, cmd, display_name=name), []


@on(c.SetChildSafe)
def _child_safe(s: Session, cmd: c.SetChildSafe, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _setting(s, _move(s, p, cmd, child_safe=cmd.on), "child_safe")


@on(c.RaiseHand)
def _raise(s: Session, cmd: c.RaiseHand, actor: Participant, now: float) -> Result:
    return _move(s, actor, cmd, hand_raised=True), []


@on(c.LowerHand)
def _lower(s: Session, cmd: c.LowerHand, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target) if cmd.target else actor
    return _move(s, p, cmd, hand_raised=False), []


@on(c.MuteRequest)
def _mute(s: Session, cmd: c.MuteRequest, actor: Participant, now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd, mic_on=False), [Event(K.MUTE_REQUESTED, to(p.id))]


@on(c.CameraOffRequest)
def _camera_off(s: Session, cmd: c.CameraOffRequest, actor: Participant,
                now: float) -> Result:
    p = _get(s, cmd.target)
    return _move(s, p, cmd, camera_on=False), [Event(K.CAMERA_OFF_REQUESTED, to(p.id))]


@on(c.AskToUnmute)
def _ask_unmute(s: Session, cmd: c.AskToUnmute, actor: Participant,
                now: float) -> Result:
    p = _get(s, cmd.target)
    _move(s, p, cmd)  # validates that the target is in the session
    return s, [Event(K.UNMUTE_REQUESTED, to(p.id))]


@on(c.CreateBreakouts)
def _create(s: Session, cmd: c.CreateBreakouts, actor: Participant, now: float) -> Result:
    b = s.breakouts
    if len(b.rooms) + len(cmd.names) > s.limits.max_breakouts:
        raise Limit(f"at most {s.limits.max_breakouts} breakout rooms")
    rooms = list(b.rooms)
    n = b.next_room
    for name in cmd.names:
        rooms.append(BreakoutRoom(f"b{n}", name.strip() or f"Room {n}"))
        n += 1
    return _breakouts(s, rooms=tuple(rooms), next_room=n), []


@on(c.RenameBreakout)
def _rename(s: Session, cmd: c.RenameBreakout, actor: Participant, now: float) -> Result:
    _room(s, cmd.room_id)
    rooms = tuple(replace(r, name=cmd.name) if r.id == cmd.room_id else r
                  for r in s.breakouts.rooms)
    return _breakouts(s, rooms=rooms), []


@on(c.DeleteBreakout)
def _delete(s: Session, cmd: c.DeleteBreakout, actor: Participant, now: float) -> Result:
    _room(s, cmd.room_id)
    rooms = tuple(r for r in s.breakouts.rooms if r.id != cmd.room_id)
    assignment = {k: v for k, v in s.breakouts.assignment.items() if v != cmd.room_id}
    return _breakouts(s, rooms=rooms, assignment=assignment), []


def _assignable(s: Session, pid: str) -> Participant:
    p = _get(s, pid)
    if p.status in (PS.LEFT, PS.REMOVED, PS.DENIED):
        raise InvalidTransition(f"cannot assign someone who is {p.status.value}")
    return p


@on(c.Assign)
def _assign(s: Session, cmd: c.Assign, actor: Participant, now: float) -> Result:
    _assignable(s, cmd.target)
    room = _room(s, cmd.room_id)
    assignment = dict(s.breakouts.assignment)
    if room is None:
        assignment.pop(cmd.target, None)
    else:
        assignment[cmd.target] = room
    return _breakouts(s, assignment=assignment), []


def _relatives_in_order(s: Session) -> list[Participant]:
    return [p for p in s.participants.values()
            if p.role in RELATIVES and p.status not in (PS.LEFT, PS.REMOVED, PS.DENIED)]


def _place_children(s: Session, assignment: dict[str, str]) -> None:
    """Each child goes where one of their guardians is (or stays in the main room)."""
    for pid, p in s.participants.items():
        if p.role is not Role.CHILD:
            continue
        guardian_rooms = [assignment[g] for g in sorted(_guardians(s, pid)) if g in assignment]
        if guardian_rooms:
            assignment[pid] = guardian_rooms[0]
        else:
            assignment.pop(pid, None)


@on(c.AssignAuto)
def _assign_auto(s: Session, cmd: c.AssignAuto, actor: Participant, now: float) -> Result:
    rooms = s.breakouts.rooms
    if not rooms:
        raise InvalidTransition("create rooms first")
    assignment = {k: v for k, v in s.breakouts.assignment.items()
                  if s.participants[k].clinician}
    for i, p in enumerate(_relatives_in_order(s)):
        assignment[p.id] = rooms[i % len(rooms)].id
    _place_children(s, assignment)
    return _breakouts(s, assignment=assignment), []


@on(c.AssignByRole)
def _assign_by_role(s: Session, cmd: c.AssignByRole, actor: Participant,
                    now: float) -> Result:
    if cmd.plan != "each_client_with_clinician":
        raise InvalidTransition(f"unknown plan {cmd.plan!r}")
    relatives = _relatives_in_order(s)
    if not relatives:
        raise InvalidTransition("nobody to assign")
    b = s.breakouts
    rooms = list(b.rooms)
    n = b.next_room
    while len(rooms) < len(relatives):
        if len(rooms) >= s.limits.max_breakouts:
            raise Limit(f"at most {s.limits.max_breakouts} breakout rooms")
        rooms.append(BreakoutRoom(f"b{n}", f"Room {n}"))
        n += 1
    assignment: dict[str, str] = {p.id: rooms[i].id for i, p in enumerate(relatives)}
    clinicians = sorted((p for p in s.participants.values() if p.clinician
                         and p.status not in (PS.LEFT, PS.REMOVED)),
                        key=lambda p: (p.id != s.owner, p.id))
    for i, p in enumerate(clinicians[: len(relatives)]):
        assignment[p.id] = rooms[i].id
    _place_children(s, assignment)
    return _breakouts(s, rooms=tuple(rooms), assignment=assignment, next_room=n), []


@on(c.SetRequireClinician)
def _require(s: Session, cmd: c.SetRequireClinician, actor: Participant,
             now: float) -> Result:
    new = _breakouts(s, require_clinician=cmd.required)
    _check_clinician_rule(new)
    return new, []


@on(c.OpenBreakouts)
def _open_breakouts(s: Session, cmd: c.OpenBreakouts, actor: Participant,
                    now: float) -> Result:
    if not s.breakouts.rooms:
        raise InvalidTransition("create rooms first")
    deadline = None if cmd.duration is None else now + _seconds(cmd.duration, "duration")
    new = _breakouts(s, deadline=deadline, closing_deadline=None)
    _check_child_rule(new)
    _check_clinician_rule(new)
    return new, [Event(K.BREAKOUTS_OPENED, EVERYONE, {"deadline": deadline})]


@on(c.MoveParticipant)
def _move_participant(s: Session, cmd: c.MoveParticipant, actor: Participant,
                      now: float) -> Result:
    p = _assignable(s, cmd.target)
    room = _room(s, cmd.room_id)
    assignment = dict(s.breakouts.assignment)
    if room is None:
        assignment.pop(p.id, None)
    else:
        assignment[p.id] = room
    new = _breakouts(s, assignment=assignment)
    if p.visiting:
        new = new.with_participant(replace(p, visiting=None))
    _check_child_rule(new)
    _check_clinician_rule(new)
    moved = {"participant_id": p.id, "room_id": room}
    return new, [Event(K.PARTICIPANT_MOVED, TO_CLINICIANS, moved)]


@on(c.Visit)
def _visit(s: Session, cmd: c.Visit, actor: Participant, now: float) -> Result:
    if not actor.present:
        raise InvalidTransition("join the session first")
    room = _room(s, cmd.room_id)
    new = s.with_participant(replace(actor, visiting=room))
    _check_child_rule(new)
    return new, []


@on(c.ExtendBreakouts)
def _extend(s: Session, cmd: c.ExtendBreakouts, actor: Participant, now: float) -> Result:
    b = s.breakouts
    _seconds(cmd.seconds, "an extension")
    base = b.deadline if b.deadline is not None and b.deadline > now else now
    return _breakouts(s, deadline=base + cmd.seconds, closing_deadline=None), []


@on(c.Broadcast)
def _broadcast(s: Session, cmd: c.Broadcast, actor: Participant, now: float) -> Result:
    return s, [Event(K.BROADCAST, EVERYONE, {"text": cmd.text, "from": actor.id})]


@on(c.AskForHelp)
def _help(s: Session, cmd: c.AskForHelp, actor: Participant, now: float) -> Result:
    room = s.room_of(actor.id)
    if room is None:
        raise InvalidTransition("ask for help from a breakout room")
    _move(s, actor, cmd)
    return s, [Event(K.HELP_REQUESTED, TO_CLINICIANS,
                     {"participant_id": actor.id, "name": actor.display_name, "room": room})]


@on(c.CloseAll)
def _close_all(s: Session, cmd: c.CloseAll, actor: Participant, now: float) -> Result:
    grace = s.limits.close_grace if cmd.grace is None else _seconds(cmd.grace, "grace",
                                                                    zero_ok=True)
    deadline = now + grace
    if s.breakouts.phase is BP.CLOSING and s.breakouts.closing_deadline is not None:
        deadline = min(deadline, s.breakouts.closing_deadline)  # "close now": never later
    new = _breakouts(s, closing_deadline=deadline)
    return new, [Event(K.CLOSE_ALL_STARTED, EVERYONE, {"seconds": max(0.0, deadline - now),
                                                       "deadline": deadline})]


def _tick(s: Session, now: float) -> Result:
    """Apply every deadline at or before ``now``, each through its trigger row."""
    events: list[Event] = []
    b = s.breakouts
    if (b.phase, Trigger.TIME_UP) in BREAKOUT_TRIGGERS and b.deadline is not None \
            and b.deadline <= now:
        grace = s.limits.close_grace
        s = _breakouts_triggered(s, Trigger.TIME_UP, deadline=None,
                                 closing_deadline=now + grace)
        events.append(Event(K.CLOSE_ALL_STARTED, EVERYONE, {
            "seconds": grace, "deadline": now + grace}))
    b = s.breakouts
    if (b.phase, Trigger.COUNTDOWN_OVER) in BREAKOUT_TRIGGERS \
            and b.closing_deadline is not None and b.closing_deadline <= now:
        s = _return_all(s)
        events.append(Event(K.BREAKOUTS_CLOSED, EVERYONE))
        for follow in AFTER_CLOSE:
            s, more = follow(s, now)
            events.extend(more)
    for p in list(s.participants.values()):
        if ((p.status, Trigger.GRACE_OVER) in PARTICIPANT_TRIGGERS
                and p.disconnected_at is not None
                and p.disconnected_at + s.limits.reconnect_grace <= now):
            s = s.with_participant(_triggered(p, Trigger.GRACE_OVER, visiting=None,
                                              hand_raised=False))
    return s, events


HANDLERS[c.Tick] = lambda s, cmd, actor, now: _tick(s, now)


def next_deadline(s: Session) -> float | None:
    """The earliest moment a Tick would change something; None if nothing is pending."""
    if s.phase is SP.ENDED:
        return None
    times: list[float] = []
    b = s.breakouts
    if (b.phase, Trigger.TIME_UP) in BREAKOUT_TRIGGERS and b.deadline is not None:
        times.append(b.deadline)
    if (b.phase, Trigger.COUNTDOWN_OVER) in BREAKOUT_TRIGGERS \
            and b.closing_deadline is not None:
        times.append(b.closing_deadline)
    times.extend(p.disconnected_at + s.limits.reconnect_grace
                 for p in s.participants.values()
                 if (p.status, Trigger.GRACE_OVER) in PARTICIPANT_TRIGGERS
                 and p.disconnected_at is not None)
    return min(times) if times else None


# --- the entry point -------------------------------------------------------------
def _return_lonely_children(s: Session) -> tuple[Session, list[Event]]:
    """After someone leaves, a child left without company goes back to the main room."""
    events = []
    for child in _lonely_children(s):
        assignment = {k: v for k, v in s.breakouts.assignment.items() if k != child}
        s = _breakouts(s, assignment=assignment)
        events.append(Event(K.CHILD_RETURNED, TO_CLINICIANS, {"participant_id": child}))
    return s, events


def _end_broken_asides(s: Session) -> tuple[Session, list[Event]]:
    """A private room ends when its clinician or its guest is no longer present."""
    kept = tuple(a for a in s.asides
                 if all(p is not None and p.present
                        for p in (s.participants.get(a.clinician), s.participants.get(a.guest))))
    if kept == s.asides:
        return s, []
    events = [Event(K.ASIDE_ENDED, TO_CLINICIANS, {"participant_id": a.guest,
                                                   "clinician": a.clinician})
              for a in s.asides if a not in kept]
    return replace(s, asides=kept), events


def _phases(state: Session, kind: type[c.Command]) -> Session:
    """``state`` with the session and breakout phases the tables give ``kind``, or raise
    InvalidTransition. A command's handler runs on this, so its checks see the phase
    the command leads to (opening breakouts checks the child rule as open)."""
    new = state
    if kind in PHASE_GATED:
        phase = SESSION_TABLE.get((state.phase, kind))
        if phase is None:
            raise InvalidTransition(f"cannot {kind.__name__} while {state.phase.value}")
        new = replace(new, phase=phase)
    if kind in BREAKOUT_GATED:
        breakout_phase = BREAKOUT_TABLE.get((state.breakouts.phase, kind))
        if breakout_phase is None:
            raise InvalidTransition(
                f"cannot {kind.__name__} while breakouts are {state.breakouts.phase.value}")
        new = _breakouts(new, phase=breakout_phase)
    return new


def _step(s: Session, cmd: c.Command, now: float) -> Result:
    """One command inside another's transition (Enter's steps): authorized, gated by
    the tables and handled like a command of its own, but committed with its parent."""
    actor = authorize(s, cmd)
    return HANDLERS[type(cmd)](_phases(s, type(cmd)), cmd, actor, now)


def handle(state: Session, cmd: c.Command, *, now: float) -> Result:
    """Apply one command. Raises a DomainError and changes nothing when refused.

    Returns the same object (and no events) when nothing changed, so callers can
    skip the write.
    """
    actor = authorize(state, cmd)
    kind = type(cmd)
    if state.phase is SP.ENDED:
        if kind is c.Tick:
            return state, []
        raise InvalidTransition("the session has ended")
    handler = HANDLERS.get(kind)
    if handler is None:
        raise InvalidTransition(f"unknown command {kind.__name__}")
    now = cmd.now if isinstance(cmd, c.Tick) else now
    new, events = handler(_phases(state, kind), cmd, actor, now)
    if kind is not c.Tick and (due := next_deadline(new)) is not None and due <= now:
        # A deadline the command itself made due (closing with no countdown) is applied
        # in the same transition: one commit, and nobody waits for a timer to fire.
        new, ticked = _tick(new, now)
        events += ticked
    new, returned = _return_lonely_children(new)
    events += returned
    new, ended = _end_broken_asides(new)
    events += ended
    if new == state and not events:
        return state, []
    new = replace(new, version=state.version + 1)
    if visibility_differs(state, new):
        events.append(Event(K.VISIBILITY_CHANGED, EVERYONE))
    events.append(Event(K.STATE_CHANGED, EVERYONE))
    return new, [replace(e, session_id=new.id, version=new.version, actor=cmd.actor)
                 for e in events]


# Session plans and private rooms (rooms.plans): their tables and handlers register
# themselves on import.
from rooms import plans as _plans  # noqa: E402,F401

__all__ = ["handle", "new_session", "next_deadline"]
