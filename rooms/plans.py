"""Session plans and private rooms, as two more small machines of the session.

A plan is a list of phases, each a layout by role. ``NextPhase`` compiles the next
phase's layout into breakout commands (close, delete, create, assign, open) and runs
each through the breakout machine inside its own transition, so every table and
rule applies: the close countdown when everyone comes back together, the child
rule, and a clinician in every room that holds a client (refused with
``no_clinician`` otherwise, and nothing changes).

A private room (``StepAside``) takes one person and a clinician out of whatever
room they are in, with or without breakouts open; ``BringBack`` returns both to
where the breakouts place them. The private room wins over any breakout in
``Session.room_of``, so media and chat follow it through ``rooms.visibility``.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from rooms import commands as c
from rooms import machine as m
from rooms.errors import DomainError, InvalidTransition, NoClinician, NotFound, PlanEnd
from rooms.events import CLINICIANS as TO_CLINICIANS
from rooms.events import Event
from rooms.events import EventKind as K
from rooms.model import (
    RELATIVES,
    Aside,
    Participant,
    PlanLayout,
    PlanPhase,
    PlanRun,
    PlanStatus,
    Role,
    Session,
)
from rooms.model import BreakoutPhase as BP

PL = PlanStatus

# --- transition tables --------------------------------------------------------------
PLAN_TABLE: dict[tuple[PlanStatus, type[c.Command]], PlanStatus] = {
    (PL.NONE, c.SetPlan): PL.READY,
    (PL.READY, c.SetPlan): PL.READY,
    (PL.FINISHED, c.SetPlan): PL.READY,
    (PL.READY, c.NextPhase): PL.RUNNING,
    (PL.RUNNING, c.NextPhase): PL.RUNNING,
    (PL.READY, c.EndPlan): PL.NONE,
    (PL.RUNNING, c.EndPlan): PL.FINISHED,
}


class AsideState(StrEnum):
    """Where one person stands with respect to private rooms."""

    IN_ROOMS = "in_rooms"  # main room or their breakout
    ASIDE = "aside"  # in a private room with a clinician


ASIDE_TABLE: dict[tuple[AsideState, type[c.Command]], AsideState] = {
    (AsideState.IN_ROOMS, c.StepAside): AsideState.ASIDE,
    (AsideState.ASIDE, c.BringBack): AsideState.IN_ROOMS,
}

MAX_PHASES = 20
MAX_PHASE_MINUTES = 240
NAME_MAX = 40


def aside_state(s: Session, pid: str) -> AsideState:
    return AsideState.ASIDE if s.aside_of(pid) is not None else AsideState.IN_ROOMS


_VERB = {c.SetPlan: "attach a plan", c.NextPhase: "move to the next phase",
         c.EndPlan: "end the plan"}  # refusals a clinician reads beside the button


def _plan_step(s: Session, cmd: c.Command) -> PlanStatus:
    new = PLAN_TABLE.get((s.plan.status, type(cmd)))
    if new is None:
        status = "no plan" if s.plan.status is PL.NONE else f"the plan is {s.plan.status.value}"
        raise InvalidTransition(f"cannot {_VERB.get(type(cmd), type(cmd).__name__)}: {status}")
    return new


# --- layouts: who goes where --------------------------------------------------------
Layout = list[tuple[str, list[str]]]  # (room name, participant ids), in room order


def _present(s: Session) -> list[Participant]:
    return [p for p in s.participants.values() if p.present and p.role is not Role.OBSERVER]


def _clinicians(s: Session) -> list[Participant]:
    """Present clinicians, the session's therapist first."""
    return sorted((p for p in _present(s) if p.clinician), key=lambda p: (p.id != s.owner, p.id))


def _with_guardians(s: Session, rooms: Layout) -> Layout:
    """Children not placed by the layout go to the room of one of their guardians."""
    where = {pid: i for i, (_, pids) in enumerate(rooms) for pid in pids}
    for p in _present(s):
        if p.role is Role.CHILD and p.id not in where:
            guardians = sorted(q for q, g in s.participants.items() if p.id in g.guardian_of)
            home = next((where[g] for g in guardians if g in where), None)
            if home is not None:
                rooms[home][1].append(p.id)
    return rooms


def _name(text: str) -> str:
    return " ".join(text.split())[:NAME_MAX] or "Room"


def layout_rooms(s: Session, phase: PlanPhase) -> Layout:
    """The rooms a phase's layout makes of the people present now (empty: together).
    Clinicians are placed, but not checked: the clinician rule does that on opening."""
    people = _present(s)
    clinicians = _clinicians(s)
    rooms: Layout = []
    if phase.layout is PlanLayout.EACH_CLIENT_WITH_CLINICIAN:
        rooms = [(_name(p.display_name), [p.id]) for p in people if p.role in RELATIVES]
        for i, clin in enumerate(clinicians[: len(rooms)]):
            rooms[i][1].append(clin.id)
        return _with_guardians(s, rooms)
    if phase.layout is PlanLayout.PARENTS_AND_CHILDREN:
        parents = [p.id for p in people if p.role in RELATIVES]
        children = [p.id for p in people if p.role is Role.CHILD]
        if clinicians:
            parents.append(clinicians[0].id)
            children.extend(q.id for q in clinicians[1:])
        return [(name, pids) for name, pids in (("Parents", parents), ("Children", children))
                if pids]
    if phase.layout is PlanLayout.HOUSEHOLDS:
        households: dict[str, list[str]] = {}
        for p in people:
            if p.role in RELATIVES or p.role is Role.CHILD:
                households.setdefault(p.household or "", []).append(p.id)
        rooms = [(f"Household {i + 1}", pids) for i, pids in enumerate(households.values())]
        for i, clin in enumerate(clinicians[: len(rooms)]):
            rooms[i][1].append(clin.id)
        return rooms
    if phase.layout is PlanLayout.CUSTOM:
        rooms = [(_name(rule.name), []) for rule in phase.rooms]
        for p in people:
            rule_index = next((i for i, rule in enumerate(phase.rooms) if p.role in rule.roles),
                              None)
            if rule_index is not None:
                rooms[rule_index][1].append(p.id)
        return _with_guardians(s, [r for r in rooms if r[1]])
    return []


def _run(s: Session, cmd: c.Command, now: float, events: list[Event]) -> Session:
    new, produced = m._step(s, cmd, now)
    events.extend(produced)
    return new


def _apply_layout(s: Session, phase: PlanPhase, actor: str, now: float,
                  grace: float | None) -> tuple[Session, list[Event]]:
    """Run the breakout commands the phase compiles to, in one transition."""
    events: list[Event] = []
    rooms = layout_rooms(s, phase)
    b = s.breakouts
    if not rooms:  # together: close open rooms after the usual countdown
        if b.phase is BP.OPEN:
            s = _run(s, c.CloseAll(actor=actor, grace=grace), now, events)
        return s, events
    if b.active:  # rooms re-form now: whatever countdown was left is cut short
        if b.phase is BP.OPEN:
            s = _run(s, c.CloseAll(actor=actor, grace=0), now, events)
        s = m._breakouts(s, closing_deadline=now)
        s, ticked = m._tick(s, now)
        events.extend(ticked)
    for room in s.breakouts.rooms:
        s = _run(s, c.DeleteBreakout(actor=actor, room_id=room.id), now, events)
    s = _run(s, c.SetRequireClinician(actor=actor, required=True), now, events)
    first = s.breakouts.next_room
    s = _run(s, c.CreateBreakouts(actor=actor, names=tuple(name for name, _ in rooms)),
             now, events)
    assignment = {pid: f"b{first + i}" for i, (_, pids) in enumerate(rooms) for pid in pids}
    s = m._breakouts(s, assignment={})
    for pid, room_id in assignment.items():
        s = _run(s, c.Assign(actor=actor, target=pid, room_id=room_id), now, events)
    s = _run(s, c.OpenBreakouts(actor=actor), now, events)
    return s, events


# --- handlers ------------------------------------------------------------------------
@m.on(c.SetPlan)
def _set_plan(s: Session, cmd: c.SetPlan, actor: Participant, now: float) -> m.Result:
    status = _plan_step(s, cmd)
    if not 1 <= len(cmd.phases) <= MAX_PHASES:
        raise InvalidTransition(f"a plan has 1 to {MAX_PHASES} phases")
    for phase in cmd.phases:
        if not 1 <= phase.minutes <= MAX_PHASE_MINUTES:
            raise InvalidTransition(f"a phase lasts 1 to {MAX_PHASE_MINUTES} minutes")
        if phase.layout is PlanLayout.CUSTOM and not 1 <= len(phase.rooms) \
                <= s.limits.max_breakouts:
            raise InvalidTransition(
                f"a custom phase has 1 to {s.limits.max_breakouts} rooms")
    run = PlanRun(status, cmd.plan_id, _name(cmd.name), tuple(cmd.phases))
    return replace(s, plan=run), [Event(K.PLAN_SET, TO_CLINICIANS, {"plan_id": cmd.plan_id})]


@m.on(c.NextPhase)
def _next_phase(s: Session, cmd: c.NextPhase, actor: Participant, now: float) -> m.Result:
    """From one split phase to another, open rooms first count down like any close
    (their people are warned) and the next rooms form when it ends (``_form_pending``);
    asked again meanwhile, or with ``grace`` 0, they form now."""
    status = _plan_step(s, cmd)
    run = s.plan
    index = run.index + 1 if run.pending is None else run.pending
    if index >= len(run.phases):
        raise PlanEnd("this is the plan's last phase")
    phase = run.phases[index]
    grace = s.limits.close_grace if cmd.grace is None else cmd.grace
    if (run.pending is None and grace > 0 and s.breakouts.phase is BP.OPEN
            and layout_rooms(s, phase)):
        _start_phase(s, phase, actor.id, now)  # refused now, not after the countdown
        events: list[Event] = []
        new = _run(s, c.CloseAll(actor=actor.id, grace=grace), now, events)
        return replace(new, plan=replace(run, status=status, pending=index,
                                         pending_by=actor.id)), events
    run = replace(run, pending=None, pending_by="")
    new, events = _start_phase(replace(s, plan=run), phase, actor.id, now, cmd.grace)
    new = replace(new, plan=replace(run, status=status, index=index, started_at=now))
    events.append(Event(K.PHASE_STARTED, TO_CLINICIANS,
                        {"index": index, "name": phase.name, "minutes": phase.minutes}))
    return new, events


def _start_phase(s: Session, phase: PlanPhase, actor: str, now: float,
                 grace: float | None = None) -> tuple[Session, list[Event]]:
    try:
        return _apply_layout(s, phase, actor, now, grace)
    except NoClinician as exc:
        raise NoClinician(f"{phase.name}: {exc} (a clinician must be in every room "
                          "that holds a client)") from exc


def _form_pending(s: Session, now: float) -> tuple[Session, list[Event]]:
    """The closing countdown before a split phase ended: its rooms form now. If they
    cannot any more (a clinician left meanwhile), everyone stays together and the
    clinicians are told why; the plan stays on the phase before."""
    run = s.plan
    if run.pending is None or run.status is not PL.RUNNING:
        return s, []
    index, by = run.pending, run.pending_by
    run = replace(run, pending=None, pending_by="")
    s = replace(s, plan=run)
    phase = run.phases[index]
    try:
        new, events = _start_phase(s, phase, by, now)
    except DomainError as exc:
        return s, [Event(K.PHASE_REFUSED, TO_CLINICIANS, {
            "index": index, "name": phase.name, "reason": str(exc)})]
    new = replace(new, plan=replace(run, index=index, started_at=now))
    events.append(Event(K.PHASE_STARTED, TO_CLINICIANS,
                        {"index": index, "name": phase.name, "minutes": phase.minutes}))
    return new, events


m.AFTER_CLOSE.append(_form_pending)


@m.on(c.EndPlan)
def _end_plan(s: Session, cmd: c.EndPlan, actor: Participant, now: float) -> m.Result:
    status = _plan_step(s, cmd)
    return replace(s, plan=replace(s.plan, status=status, started_at=None, pending=None,
                                   pending_by="")), []


def _aside_step(s: Session, target: str, cmd: c.Command) -> AsideState:
    state = aside_state(s, target)
    new = ASIDE_TABLE.get((state, type(cmd)))
    if new is None:
        raise InvalidTransition(
            f"cannot {type(cmd).__name__}: the person is {state.value.replace('_', ' ')}")
    return new


@m.on(c.StepAside)
def _step_aside(s: Session, cmd: c.StepAside, actor: Participant, now: float) -> m.Result:
    guest = s.participants.get(cmd.target)
    if guest is None:
        raise NotFound("no such participant")
    _aside_step(s, guest.id, cmd)
    if guest.clinician or guest.id == actor.id:
        raise InvalidTransition("a private room is a clinician with one client")
    if not guest.present or not actor.present:
        raise InvalidTransition("both must be in the session")
    if s.aside_of(actor.id) is not None:
        raise InvalidTransition("you are already in a private room")
    aside = Aside(actor.id, guest.id, cmd.announce, now)
    new = replace(s, asides=(*s.asides, aside))
    new = new.with_participant(replace(actor, visiting=None))
    data = {"participant_id": guest.id, "clinician": actor.id, "announce": cmd.announce}
    return new, [Event(K.ASIDE_STARTED, TO_CLINICIANS, data)]


@m.on(c.BringBack)
def _bring_back(s: Session, cmd: c.BringBack, actor: Participant, now: float) -> m.Result:
    if cmd.target not in s.participants:
        raise NotFound("no such participant")
    _aside_step(s, cmd.target, cmd)
    aside = s.aside_of(cmd.target)
    assert aside is not None  # the table's ASIDE row
    new = replace(s, asides=tuple(a for a in s.asides if a != aside))
    data = {"participant_id": aside.guest, "clinician": aside.clinician}
    return new, [Event(K.ASIDE_ENDED, TO_CLINICIANS, data)]
