"""Every (state, command) pair of each machine, legal and illegal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from rooms import commands as c
from rooms.errors import DomainError, InvalidTransition
from rooms.machine import (
    BREAKOUT_TABLE,
    BREAKOUT_TRIGGERS,
    ENTER_STEPS,
    PARTICIPANT_TABLE,
    PARTICIPANT_TRIGGERS,
    PHASE_GATED,
    SESSION_TABLE,
    Trigger,
    handle,
    next_deadline,
)
from rooms.model import (
    BreakoutPhase,
    BreakoutRoom,
    ParticipantStatus,
    Role,
    Session,
    SessionPhase,
)
from rooms.policy import PERMISSIONS
from tests.rooms.builders import CO, NOW, OBS, A, B, T, family, live_family, sample, status

PS = ParticipantStatus

# Commands a subject (actor or target) undergoes, built for subject `pid`.
SUBJECT_COMMANDS: dict[type[c.Command], Callable[[str], c.Command]] = {
    c.Knock: lambda pid: c.Knock(actor=pid, consent_version="v1"),
    c.Admit: lambda pid: c.Admit(actor=T, target=pid),
    c.Deny: lambda pid: c.Deny(actor=T, target=pid),
    c.LobbyMessage: lambda pid: c.LobbyMessage(actor=T, target=pid, text="hi"),
    c.SendBackToLobby: lambda pid: c.SendBackToLobby(actor=T, target=pid),
    c.Connect: lambda pid: c.Connect(actor=pid),
    c.Disconnect: lambda pid: c.Disconnect(actor=pid),
    c.Leave: lambda pid: c.Leave(actor=pid),
    c.RemoveParticipant: lambda pid: c.RemoveParticipant(actor=T, target=pid),
    c.RestoreParticipant: lambda pid: c.RestoreParticipant(actor=T, target=pid),
    c.RevokeLink: lambda pid: c.RevokeLink(actor=T, target=pid),
    c.SetMedia: lambda pid: c.SetMedia(actor=pid, mic_on=True, camera_on=False),
    c.SetDisplayName: lambda pid: c.SetDisplayName(actor=pid, display_name="Renamed"),
    c.RaiseHand: lambda pid: c.RaiseHand(actor=pid),
    c.LowerHand: lambda pid: c.LowerHand(actor=pid),
    c.MuteRequest: lambda pid: c.MuteRequest(actor=T, target=pid),
    c.CameraOffRequest: lambda pid: c.CameraOffRequest(actor=T, target=pid),
    c.AskToUnmute: lambda pid: c.AskToUnmute(actor=T, target=pid),
    c.SetChildSafe: lambda pid: c.SetChildSafe(actor=T, target=pid, on=True),
}


@pytest.mark.parametrize("st", list(PS), ids=str)
@pytest.mark.parametrize("kind", list(SUBJECT_COMMANDS), ids=lambda k: k.__name__)
def test_participant_table(st: ParticipantStatus, kind: type[c.Command]) -> None:
    s = status(family(), A, st)
    s = replace(s, phase=SessionPhase.LIVE)
    cmd = SUBJECT_COMMANDS[kind](A)
    expected = PARTICIPANT_TABLE.get((st, kind))
    if expected is None:
        with pytest.raises(InvalidTransition):
            handle(s, cmd, now=NOW)
        return
    new, _ = handle(s, cmd, now=NOW)
    assert new.participants[A].status is expected


def test_participant_table_refusal_leaves_state_unchanged() -> None:
    s = status(family(), A, PS.REMOVED)
    before = s
    with pytest.raises(InvalidTransition):
        handle(s, c.Knock(actor=A, consent_version="v1"), now=NOW)
    assert s == before


SESSION_COMMANDS = {
    c.OpenSession: c.OpenSession(actor=T),
    c.EndSession: c.EndSession(actor=T),
    c.Admit: c.Admit(actor=T, target=A),
    c.AdmitAll: c.AdmitAll(actor=T),
    c.Lock: c.Lock(actor=T),
}


@pytest.mark.parametrize("phase", list(SessionPhase), ids=str)
@pytest.mark.parametrize("kind", list(SESSION_COMMANDS), ids=lambda k: k.__name__)
def test_session_table(phase: SessionPhase, kind: type[c.Command]) -> None:
    s = replace(status(family(), A, PS.WAITING), phase=phase)
    cmd = SESSION_COMMANDS[kind]
    if phase is SessionPhase.ENDED:
        with pytest.raises(InvalidTransition, match="ended"):
            handle(s, cmd, now=NOW)
        return
    expected = SESSION_TABLE.get((phase, kind), phase)
    if (phase, kind) not in SESSION_TABLE and kind in {k for (_, k) in SESSION_TABLE}:
        with pytest.raises(InvalidTransition):
            handle(s, cmd, now=NOW)
        return
    new, _ = handle(s, cmd, now=NOW)
    assert new.phase is expected


ALL_KINDS = sorted(PERMISSIONS, key=lambda k: k.__name__)


@pytest.mark.parametrize("phase", list(SessionPhase), ids=str)
@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.__name__)
def test_every_command_in_every_session_phase(phase: SessionPhase,
                                              kind: type[c.Command]) -> None:
    """Ended refuses everything; a phase-gated command outside its row is refused; any
    command that succeeds lands in the phase its row names (or keeps the phase)."""
    s = replace(status(live_family(), A, PS.WAITING), phase=phase)
    s = replace(s, breakouts=replace(s.breakouts, phase=BreakoutPhase.DRAFT,
                                     rooms=(BreakoutRoom("b1", "One"),), next_room=2))
    cmd = sample(kind, T if kind is not c.AskForHelp else A)
    refused = phase is SessionPhase.ENDED or (
        kind in PHASE_GATED and (phase, kind) not in SESSION_TABLE)
    if refused:
        with pytest.raises(InvalidTransition):
            handle(s, cmd, now=NOW)
        return
    reason = ""
    try:
        new, _ = handle(s, cmd, now=NOW)
    except DomainError as exc:  # refused by another machine or rule: never for the phase
        reason = str(exc)
    expected = SESSION_TABLE.get((phase, kind), phase)
    if kind is c.Enter:  # the therapist's Enter opens a scheduled session: its first step
        expected = SESSION_TABLE.get((phase, c.OpenSession), phase)
    if reason:
        assert phase.value not in reason
    else:
        assert new.phase is expected


def test_ended_session_only_ticks() -> None:
    s, _ = handle(live_family(), c.EndSession(actor=T), now=NOW)
    new, events = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 1e6), now=NOW + 1e6)
    assert new is s
    assert events == []


def breakout_cmd(kind: type[c.Command]) -> c.Command:
    return {
        c.CreateBreakouts: c.CreateBreakouts(actor=T, names=("X",)),
        c.RenameBreakout: c.RenameBreakout(actor=T, room_id="b1", name="Y"),
        c.DeleteBreakout: c.DeleteBreakout(actor=T, room_id="b2"),
        c.Assign: c.Assign(actor=T, target=A, room_id="b1"),
        c.AssignAuto: c.AssignAuto(actor=T),
        c.AssignByRole: c.AssignByRole(actor=T),
        c.SetRequireClinician: c.SetRequireClinician(actor=T, required=False),
        c.OpenBreakouts: c.OpenBreakouts(actor=T, duration=600),
        c.MoveParticipant: c.MoveParticipant(actor=T, target=A, room_id="b2"),
        c.Visit: c.Visit(actor=T, room_id="b2"),
        c.ExtendBreakouts: c.ExtendBreakouts(actor=T, seconds=60),
        c.Broadcast: c.Broadcast(actor=T, text="two minutes"),
        c.AskForHelp: c.AskForHelp(actor=A),
        c.CloseAll: c.CloseAll(actor=T),
    }[kind]


BREAKOUT_KINDS = sorted({k for (_, k) in BREAKOUT_TABLE}, key=lambda k: k.__name__)


@pytest.mark.parametrize("phase", list(BreakoutPhase), ids=str)
@pytest.mark.parametrize("kind", BREAKOUT_KINDS, ids=lambda k: k.__name__)
def test_breakout_table(phase: BreakoutPhase, kind: type[c.Command]) -> None:
    s = live_family()
    rooms = (BreakoutRoom("b1", "One"), BreakoutRoom("b2", "Two"), BreakoutRoom("b3", "Three"))
    assignment = {A: "b1", CO: "b1", B: "b2", "child": "b2", T: "b3"}
    s = replace(s, breakouts=replace(s.breakouts, phase=phase, rooms=rooms,
                                     assignment=assignment, next_room=4))
    cmd = breakout_cmd(kind)
    expected = BREAKOUT_TABLE.get((phase, kind))
    if expected is None:
        with pytest.raises(InvalidTransition):
            handle(s, cmd, now=NOW)
        return
    try:
        new, _ = handle(s, cmd, now=NOW)
    except DomainError as exc:  # legal pair refused by a rule: must say why, change nothing
        pytest.fail(f"legal pair refused: {exc}")
    assert new.breakouts.phase is expected


def test_unknown_target_is_not_found() -> None:
    from rooms.errors import NotFound

    with pytest.raises(NotFound):
        handle(live_family(), c.Admit(actor=T, target="ghost"), now=NOW)


def test_tick_with_nothing_due_changes_nothing() -> None:
    s = live_family()
    new, events = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 5), now=NOW + 5)
    assert new is s
    assert events == []
    assert B  # builders imported for the tables above


# --- triggered transitions: the session ending and deadlines passing ------------------
@pytest.mark.parametrize("st", list(PS), ids=str)
def test_session_end_follows_the_participant_trigger_table(st: ParticipantStatus) -> None:
    s = status(live_family(), A, st)
    new, _ = handle(s, c.EndSession(actor=T), now=NOW)
    expected = PARTICIPANT_TRIGGERS.get((st, Trigger.SESSION_ENDED), st)
    assert new.participants[A].status is expected
    assert new.participants[A].visiting is None


@pytest.mark.parametrize("st", list(PS), ids=str)
def test_reconnect_grace_follows_the_participant_trigger_table(st: ParticipantStatus) -> None:
    s = live_family()
    s = s.with_participant(replace(s.participants[A], status=st, disconnected_at=NOW,
                                   hand_raised=True))
    later = NOW + s.limits.reconnect_grace
    before_due, _ = handle(s, c.Tick(actor=c.SYSTEM, now=later - 1), now=later - 1)
    assert before_due.participants[A].status is st
    new, _ = handle(s, c.Tick(actor=c.SYSTEM, now=later), now=later)
    expected = PARTICIPANT_TRIGGERS.get((st, Trigger.GRACE_OVER))
    if expected is None:
        assert new.participants[A] == s.participants[A]
    else:
        assert new.participants[A].status is expected
        assert new.participants[A].hand_raised is False


def _open_rooms(phase: BreakoutPhase, *, deadline: float | None,
                closing: float | None) -> Session:
    s = live_family()
    rooms = (BreakoutRoom("b1", "One"), BreakoutRoom("b2", "Two"))
    assignment = {A: "b1", CO: "b1", B: "b2", "child": "b2", T: "b2"}
    return replace(s, breakouts=replace(s.breakouts, phase=phase, rooms=rooms,
                                        assignment=assignment, next_room=3,
                                        deadline=deadline, closing_deadline=closing))


@pytest.mark.parametrize("phase", list(BreakoutPhase), ids=str)
def test_session_end_follows_the_breakout_trigger_table(phase: BreakoutPhase) -> None:
    s = _open_rooms(phase, deadline=NOW + 60, closing=NOW + 30)
    new, events = handle(s, c.EndSession(actor=T), now=NOW)
    assert new.breakouts.phase is BREAKOUT_TRIGGERS.get((phase, Trigger.SESSION_ENDED), phase)
    assert (new.breakouts.deadline, new.breakouts.closing_deadline) == (None, None)
    assert "session_ended" in [e.kind for e in events]


@pytest.mark.parametrize("phase", list(BreakoutPhase), ids=str)
@pytest.mark.parametrize("trigger", [Trigger.TIME_UP, Trigger.COUNTDOWN_OVER], ids=str)
def test_deadlines_follow_the_breakout_trigger_table(phase: BreakoutPhase,
                                                     trigger: Trigger) -> None:
    """A Tick past the deadline the trigger watches moves exactly the rows listed."""
    due = NOW + 10
    s = _open_rooms(phase, deadline=due if trigger is Trigger.TIME_UP else None,
                    closing=due if trigger is Trigger.COUNTDOWN_OVER else None)
    expected = BREAKOUT_TRIGGERS.get((phase, trigger))
    assert (next_deadline(s) == due) is (expected is not None)
    new, events = handle(s, c.Tick(actor=c.SYSTEM, now=due), now=due)
    if expected is None:
        assert new is s
        assert events == []
        return
    assert new.breakouts.phase is expected
    kind = "close_all_started" if trigger is Trigger.TIME_UP else "breakouts_closed"
    assert kind in [e.kind for e in events]
    if expected is BreakoutPhase.CLOSED:
        assert all(new.room_of(pid) is None for pid in new.participants)


def test_every_trigger_has_a_row() -> None:
    used = {t for (_, t) in PARTICIPANT_TRIGGERS} | {t for (_, t) in BREAKOUT_TRIGGERS}
    assert used == set(Trigger)


def test_handlers_get_their_actor_from_authorization() -> None:
    """A command from someone who is not in the session is refused before any handler."""
    from rooms.errors import Forbidden

    with pytest.raises(Forbidden):
        handle(live_family(), c.RaiseHand(actor="stranger"), now=NOW)


# --- Enter: the lobby's steps as one transition --------------------------------------
def three_commits(s: Session, pid: str, now: float) -> tuple[Session, list[str]]:
    """Entering as separate commands: OpenSession (the therapist, while scheduled),
    Knock from outside, Connect once admitted."""
    kinds: list[str] = []
    me = s.participants[pid]
    if me.role is Role.THERAPIST and s.phase is SessionPhase.SCHEDULED:
        s, events = handle(s, c.OpenSession(actor=pid), now=now)
        kinds += [e.kind for e in events]
    if me.status in (PS.INVITED, PS.LEFT, PS.WAITING):
        s, events = handle(s, c.Knock(actor=pid, consent_version="v1"), now=now)
        kinds += [e.kind for e in events]
    if s.participants[pid].status in (PS.ADMITTED, PS.RECONNECTING, PS.CONNECTED):
        s, events = handle(s, c.Connect(actor=pid), now=now)
        kinds += [e.kind for e in events]
    return s, kinds


def comparable(s: Session) -> Session:
    return replace(s, version=0)


@pytest.mark.parametrize("phase", [SessionPhase.SCHEDULED, SessionPhase.OPEN,
                                   SessionPhase.LIVE], ids=str)
@pytest.mark.parametrize("pid", [T, CO, A, OBS], ids=str)
@pytest.mark.parametrize("st", list(PS), ids=str)
def test_enter_is_the_three_commands_in_one_transition(
        phase: SessionPhase, pid: str, st: ParticipantStatus) -> None:
    s = replace(status(family(), pid, st), phase=phase)
    if st not in ENTER_STEPS:
        with pytest.raises(InvalidTransition, match=f"while {st.value}"):
            handle(s, c.Enter(actor=pid, consent_version="v1"), now=NOW)
        return
    expected, expected_kinds = three_commits(s, pid, NOW)
    new, events = handle(s, c.Enter(actor=pid, consent_version="v1"), now=NOW)
    assert comparable(new) == comparable(expected)
    if expected.version == s.version:  # nothing to do (already connected): no commit
        assert new is s
    else:
        assert new.version == s.version + 1  # one commit, however many steps
    once = [k for k in expected_kinds if k not in ("state_changed", "visibility_changed")]
    assert [e.kind for e in events if e.kind not in ("state_changed",
                                                     "visibility_changed")] == once


def test_enter_from_the_steps_table_reaches_the_status_it_names() -> None:
    s = family()
    new, _ = handle(s, c.Enter(actor=A, consent_version="v1", mic_on=False), now=NOW)
    assert new.participants[A].status is PARTICIPANT_TABLE[(PS.INVITED, ENTER_STEPS[PS.INVITED])]
    assert new.participants[A].mic_on is False
    owner, _ = handle(s, c.Enter(actor=T, consent_version="v1"), now=NOW)
    assert owner.participants[T].status is PS.CONNECTED  # the owner skips the lobby
    assert owner.phase is SessionPhase.OPEN


def test_enter_respects_the_lock() -> None:
    s, _ = handle(family(), c.Lock(actor=T), now=NOW)
    with pytest.raises(InvalidTransition, match="locked"):
        handle(s, c.Enter(actor=A, consent_version="v1"), now=NOW)


# --- session plans and private rooms --------------------------------------------------
from rooms.model import PlanLayout, PlanPhase, PlanRun, PlanStatus  # noqa: E402
from rooms.plans import ASIDE_TABLE, PLAN_TABLE, AsideState, aside_state  # noqa: E402

PLAN_PHASES = (PlanPhase("Joint", 20), PlanPhase("Apart", 15,
                                                  PlanLayout.EACH_CLIENT_WITH_CLINICIAN),
               PlanPhase("Joint again", 10))
PLAN_COMMANDS: dict[type[c.Command], c.Command] = {
    c.SetPlan: c.SetPlan(actor=T, plan_id="p1", name="Couples", phases=PLAN_PHASES),
    c.NextPhase: c.NextPhase(actor=T),
    c.EndPlan: c.EndPlan(actor=T),
}


def _with_plan(status: PlanStatus) -> Session:
    index = {PlanStatus.NONE: -1, PlanStatus.READY: -1, PlanStatus.RUNNING: 0,
             PlanStatus.FINISHED: 2}[status]
    phases = () if status is PlanStatus.NONE else PLAN_PHASES
    return replace(live_family(), plan=PlanRun(status, "p1", "Couples", phases, index,
                                               NOW if status is PlanStatus.RUNNING else None))


@pytest.mark.parametrize("st", list(PlanStatus), ids=str)
@pytest.mark.parametrize("kind", list(PLAN_COMMANDS), ids=lambda k: k.__name__)
def test_plan_table(st: PlanStatus, kind: type[c.Command]) -> None:
    s = _with_plan(st)
    expected = PLAN_TABLE.get((st, kind))
    if expected is None:
        said = "no plan" if st is PlanStatus.NONE else f"plan is {st.value}"
        with pytest.raises(InvalidTransition, match=said):
            handle(s, PLAN_COMMANDS[kind], now=NOW)
        return
    new, _ = handle(s, PLAN_COMMANDS[kind], now=NOW + 5)
    assert new.plan.status is expected


ASIDE_COMMANDS: dict[type[c.Command], c.Command] = {
    c.StepAside: c.StepAside(actor=T, target=A),
    c.BringBack: c.BringBack(actor=T, target=A),
}


@pytest.mark.parametrize("st", list(AsideState), ids=str)
@pytest.mark.parametrize("kind", list(ASIDE_COMMANDS), ids=lambda k: k.__name__)
def test_aside_table(st: AsideState, kind: type[c.Command]) -> None:
    s = live_family()
    if st is AsideState.ASIDE:
        s, _ = handle(s, c.StepAside(actor=T, target=A), now=NOW)
    assert aside_state(s, A) is st
    expected = ASIDE_TABLE.get((st, kind))
    if expected is None:
        with pytest.raises(InvalidTransition):
            handle(s, ASIDE_COMMANDS[kind], now=NOW)
        return
    new, _ = handle(s, ASIDE_COMMANDS[kind], now=NOW)
    assert aside_state(new, A) is expected
