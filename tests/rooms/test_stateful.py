"""Hypothesis: random commands from random roles never break the session's invariants."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from rooms import commands as c
from rooms.errors import DomainError
from rooms.events import KINDS, Event, EventKind, Scope
from rooms.machine import handle, next_deadline
from rooms.model import (
    CLINICIANS,
    BreakoutPhase,
    Participant,
    ParticipantStatus,
    Role,
    Session,
    from_json,
    to_json,
)
from rooms.visibility import (
    all_threads,
    all_visibility,
    chat_threads,
    location,
    members,
    readers,
    visibility_changes,
    visible_publishers,
)
from tests.rooms.builders import NOW, family

PEOPLE = ["therapist", "cotherapist", "client", "partner", "child", "observer"]
pid = st.sampled_from(PEOPLE)
# Half the time a clinician acts (so deep states are reached), half the time anyone
# (so forbidden attempts from every role keep being made).
actor_st = st.one_of(st.sampled_from(["therapist", "cotherapist"]), pid)
room = st.sampled_from([None, "b1", "b2", "b3"])


def assert_visibility_diff(before: Session, after: Session, events: list[Event]) -> None:
    """The fast whole-session visibility agrees with ``visible_publishers`` person by
    person, and VISIBILITY_CHANGED is announced exactly when someone's set changed."""
    old = {q: visible_publishers(before, q) for q in before.participants}
    new = {q: visible_publishers(after, q) for q in after.participants}
    assert all_visibility(after) == new
    assert visibility_changes(before, after) == {
        q: pubs for q, pubs in new.items() if old.get(q, frozenset()) != pubs}
    announced = any(e.kind is EventKind.VISIBILITY_CHANGED for e in events)
    assert announced == (after is not before and old != new)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.s: Session = family()
        self.now = NOW
        self.steps = 0

    @initialize(knocked=st.sets(st.sampled_from(PEOPLE)), data=st.data())
    def some_arrive(self, knocked: set[str], data: st.DataObject) -> None:
        """Start from a varied lobby: some knocked, some of those admitted and connected."""
        for p in sorted(knocked):
            self.apply(c.Knock(actor=p, consent_version="v"))
        for p in sorted(data.draw(st.sets(st.sampled_from(sorted(knocked) or PEOPLE)))):
            self.apply(c.Admit(actor="therapist", target=p))
            self.apply(c.Connect(actor=p))

    def apply(self, cmd: c.Command) -> bool:
        """Apply ``cmd``; True if it was accepted."""
        self.steps += 1
        before = self.s
        snapshot = to_json(before)
        try:
            self.s, events = handle(self.s, cmd, now=self.now)
        except DomainError:
            assert self.s is before
            assert to_json(before) == snapshot
            return False
        assert all(e.version == self.s.version and e.session_id == "s1" for e in events)
        for e in events:
            assert e.kind in KINDS
            if e.audience.scope is Scope.PARTICIPANT:
                assert e.audience.target in self.s.participants
        assert self.s.version == before.version + (self.s is not before)
        assert_visibility_diff(before, self.s, events)
        return True

    @rule(admit=st.booleans())
    def everyone_comes_in(self, admit: bool) -> None:
        """A macro a real session goes through: everyone knocks, is admitted, connects
        (or, half the time, stays in the lobby for the clinicians to handle)."""
        for p in PEOPLE:
            self.apply(c.Knock(actor=p, consent_version="v"))
        if admit:
            self.apply(c.AdmitAll(actor="therapist"))
        for p in PEOPLE:
            self.apply(c.Connect(actor=p))

    @rule(minutes=st.sampled_from([None, 1.0]))
    def therapist_opens_by_role(self, minutes: float | None) -> None:
        self.apply(c.AssignByRole(actor="therapist"))
        self.apply(c.OpenBreakouts(actor="therapist", duration=minutes * 60 if minutes else None))

    @rule(actor=actor_st)
    def knock(self, actor: str) -> None:
        self.apply(c.Knock(actor=actor, consent_version="v"))

    @rule(actor=actor_st, who=pid, everyone=st.sampled_from([False, False, True]))
    def admit(self, actor: str, who: str, everyone: bool) -> None:
        self.apply(c.AdmitAll(actor=actor) if everyone else c.Admit(actor=actor, target=who))

    @rule(actor=actor_st)
    def connect(self, actor: str) -> None:
        self.apply(c.Connect(actor=actor))

    @rule(actor=actor_st)
    def disconnect(self, actor: str) -> None:
        self.apply(c.Disconnect(actor=actor))

    @rule(actor=actor_st)
    def leave(self, actor: str) -> None:
        self.apply(c.Leave(actor=actor))

    @rule(actor=actor_st, who=pid)
    def send_back(self, actor: str, who: str) -> None:
        self.apply(c.SendBackToLobby(actor=actor, target=who))

    @rule(actor=actor_st, who=pid)
    def remove(self, actor: str, who: str) -> None:
        self.apply(c.RemoveParticipant(actor=actor, target=who))

    @rule(actor=actor_st, n=st.integers(1, 3))
    def create(self, actor: str, n: int) -> None:
        self.apply(c.CreateBreakouts(actor=actor, names=tuple(f"R{i}" for i in range(n))))

    @rule(actor=actor_st, who=pid, where=room)
    def assign(self, actor: str, who: str, where: str | None) -> None:
        self.apply(c.Assign(actor=actor, target=who, room_id=where))

    @rule(actor=actor_st)
    def by_role(self, actor: str) -> None:
        self.apply(c.AssignByRole(actor=actor))

    @rule(actor=actor_st)
    def auto(self, actor: str) -> None:
        self.apply(c.AssignAuto(actor=actor))

    @rule(actor=actor_st, minutes=st.sampled_from([None, 1.0, 10.0]))
    def open_rooms(self, actor: str, minutes: float | None) -> None:
        self.apply(c.OpenBreakouts(actor=actor, duration=minutes * 60 if minutes else None))

    @rule(actor=actor_st, who=pid, where=room)
    def move(self, actor: str, who: str, where: str | None) -> None:
        self.apply(c.MoveParticipant(actor=actor, target=who, room_id=where))

    @rule(actor=actor_st, where=room)
    def visit(self, actor: str, where: str | None) -> None:
        self.apply(c.Visit(actor=actor, room_id=where))

    @rule(actor=actor_st)
    def close_all(self, actor: str) -> None:
        self.apply(c.CloseAll(actor=actor))

    @rule(actor=actor_st, grace=st.sampled_from([0.0, 5.0, None]))
    def close_all_and_wait(self, actor: str, grace: float | None) -> None:
        """After close-all and its grace, everyone is in the main room."""
        if not self.apply(c.CloseAll(actor=actor, grace=grace)):
            return
        if grace == 0.0:  # no countdown: closed in the same transition
            assert self.s.breakouts.phase is BreakoutPhase.CLOSED
            assert self.s.breakouts.closing_deadline is None
        else:
            deadline = self.s.breakouts.closing_deadline
            assert deadline is not None
            assert next_deadline(self.s) is not None
            self.now = max(self.now, deadline)
            self.apply(c.Tick(actor=c.SYSTEM, now=self.now))
        assert self.s.breakouts.phase is BreakoutPhase.CLOSED
        assert all(location(self.s, p) in (None, "main") for p in self.s.participants)

    @rule(actor=actor_st, seconds=st.sampled_from([-5.0, 60.0]))
    def extend(self, actor: str, seconds: float) -> None:
        self.apply(c.ExtendBreakouts(actor=actor, seconds=seconds))

    @rule(actor=actor_st)
    def ask_for_help(self, actor: str) -> None:
        self.apply(c.AskForHelp(actor=actor))

    @rule(actor=actor_st, who=pid)
    def deny(self, actor: str, who: str) -> None:
        self.apply(c.Deny(actor=actor, target=who, message="sorry"))

    @rule(actor=actor_st, required=st.booleans())
    def require_clinician(self, actor: str, required: bool) -> None:
        self.apply(c.SetRequireClinician(actor=actor, required=required))

    @rule(actor=actor_st, where=room)
    def delete_room(self, actor: str, where: str | None) -> None:
        self.apply(c.DeleteBreakout(actor=actor, room_id=where or "b1"))

    @rule(actor=actor_st, mic=st.booleans(), cam=st.booleans())
    def set_media(self, actor: str, mic: bool, cam: bool) -> None:
        self.apply(c.SetMedia(actor=actor, mic_on=mic, camera_on=cam))

    @rule(actor=actor_st, name=st.sampled_from(["New", " ", "Dr Who"]))
    def rename_self(self, actor: str, name: str) -> None:
        self.apply(c.SetDisplayName(actor=actor, display_name=name))

    @rule(actor=actor_st, locked=st.sampled_from([True, False, False]))
    def lock(self, actor: str, locked: bool) -> None:
        self.apply(c.Lock(actor=actor) if locked else c.Unlock(actor=actor))

    @precondition(lambda self: self.steps >= 60)  # late, so sessions get deep first
    @rule(actor=actor_st)
    def end(self, actor: str) -> None:
        self.apply(c.EndSession(actor=actor))

    def _with(self, data: st.DataObject,
              condition: Callable[[Participant], bool]) -> str | None:
        """A participant for whom ``condition(participant)`` holds, or None."""
        ids = sorted(q for q, p in self.s.participants.items() if condition(p))
        return data.draw(st.sampled_from(ids)) if ids else None

    @rule(data=st.data(), how=st.sampled_from(["admit", "deny", "message"]))
    def clinician_handles_the_lobby(self, data: st.DataObject, how: str) -> None:
        who = self._with(data, lambda p: p.status is ParticipantStatus.WAITING)
        if who is None:
            return
        actor = data.draw(st.sampled_from(["therapist", "cotherapist"]))
        self.apply({"admit": c.Admit(actor=actor, target=who),
                    "deny": c.Deny(actor=actor, target=who),
                    "message": c.LobbyMessage(actor=actor, target=who, text="soon")}[how])

    @rule(data=st.data())
    def clinician_visits_or_moves(self, data: st.DataObject) -> None:
        rooms = [r.id for r in self.s.breakouts.rooms]
        if not rooms:
            return
        where = data.draw(st.sampled_from([None, *rooms]))
        actor = data.draw(st.sampled_from(["therapist", "cotherapist"]))
        if data.draw(st.booleans()):
            self.apply(c.Visit(actor=actor, room_id=where))
        else:
            who = self._with(data, lambda p: p.present)
            if who is not None:
                self.apply(c.MoveParticipant(actor=actor, target=who, room_id=where))

    @rule(data=st.data(), then_open=st.booleans())
    def clinician_assigns(self, data: st.DataObject, then_open: bool) -> None:
        """Hand-made assignments (a child alone included), sometimes opened at once."""
        rooms = [r.id for r in self.s.breakouts.rooms]
        who = self._with(data, lambda p: True)
        if not rooms or who is None:
            return
        self.apply(c.Assign(actor="therapist", target=who,
                            room_id=data.draw(st.sampled_from([None, *rooms]))))
        if then_open:
            self.apply(c.OpenBreakouts(actor="therapist"))

    @rule(open_now=st.booleans())
    def therapist_tries_to_isolate_the_child(self, open_now: bool) -> None:
        """Adversarial: put the child in an empty room (must be refused or undone)."""
        self.apply(c.CreateBreakouts(actor="therapist", names=("Alone",)))
        b = self.s.breakouts
        empty = [r.id for r in b.rooms if r.id not in b.assignment.values()
                 and all(p.visiting != r.id for p in self.s.participants.values())]
        if not empty:
            return
        if b.phase is BreakoutPhase.OPEN:
            self.apply(c.MoveParticipant(actor="therapist", target="child", room_id=empty[0]))
            return
        self.apply(c.Assign(actor="therapist", target="child", room_id=empty[0]))
        if open_now:
            self.apply(c.OpenBreakouts(actor="therapist"))

    @rule(data=st.data())
    def the_childs_company_walks_out(self, data: st.DataObject) -> None:
        """Adversarial: move away, or drop, whoever shares the child's breakout."""
        room_id = self.s.room_of("child")
        if room_id is None:
            return
        for q in sorted(q for q in self.s.participants
                        if q != "child" and self.s.room_of(q) == room_id):
            how = data.draw(st.sampled_from(["move", "visit", "leave", "send_back"]))
            self.apply({"move": c.MoveParticipant(actor="therapist", target=q, room_id=None),
                        "visit": c.Visit(actor=q, room_id=None),
                        "leave": c.Leave(actor=q),
                        "send_back": c.SendBackToLobby(actor="therapist", target=q)}[how])

    @rule(data=st.data())
    def someone_in_a_breakout_asks_for_help(self, data: st.DataObject) -> None:
        who = self._with(data, lambda p: self.s.room_of(p.id) is not None)
        if who is not None:
            self.apply(c.AskForHelp(actor=who))

    @rule(seconds=st.sampled_from([1.0, 30.0, 61.0, 120.0, 700.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.apply(c.Tick(actor=c.SYSTEM, now=self.now))

    @invariant()
    def exactly_one_therapist_owns_the_session(self) -> None:
        therapists = [p for p in self.s.participants.values() if p.role is Role.THERAPIST]
        assert len(therapists) == 1
        assert therapists[0].id == self.s.owner
        assert therapists[0].status is not ParticipantStatus.REMOVED

    @invariant()
    def nobody_in_two_rooms(self) -> None:
        for p in self.s.participants:
            where = location(self.s, p)
            seen_in = [q for q in self.s.participants if p in visible_publishers(self.s, q)]
            for q in seen_in:
                assert location(self.s, q) == where

    @invariant()
    def rooms_partition_the_present(self) -> None:
        """Each present person is in exactly one room; nobody absent is in any."""
        rooms = ["main", *(r.id for r in self.s.breakouts.rooms)]
        for p in self.s.participants.values():
            count = sum(p.id in members(self.s, where) for where in rooms)
            assert count == (1 if p.present else 0), p

    @invariant()
    def no_unassigned_breakout_member(self) -> None:
        """In a breakout only by assignment, or as a visiting clinician."""
        b = self.s.breakouts
        for p in self.s.participants.values():
            if p.visiting is not None:
                assert p.role in CLINICIANS
                assert b.room(p.visiting) is not None
            where = self.s.room_of(p.id)
            if where is not None:
                assert where in (b.assignment.get(p.id), p.visiting)

    @invariant()
    def chat_reach_matches_readers(self) -> None:
        for p in self.s.participants:
            reached = {t for t in all_threads(self.s) if p in readers(self.s, t)}
            assert chat_threads(self.s, p) == reached

    @invariant()
    def observers_stay_muted_and_unseen(self) -> None:
        for p in self.s.participants.values():
            if p.role is Role.OBSERVER:
                assert not p.mic_on
                assert not p.camera_on
                assert all(p.id not in visible_publishers(self.s, q) for q in self.s.participants)

    @invariant()
    def json_round_trip_is_lossless(self) -> None:
        assert from_json(to_json(self.s)) == self.s

    @invariant()
    def nobody_in_the_lobby_sees_anyone(self) -> None:
        for p in self.s.participants.values():
            if not p.present:
                assert visible_publishers(self.s, p.id) == frozenset()
                assert all(p.id not in visible_publishers(self.s, q) for q in self.s.participants)

    @invariant()
    def child_never_alone_with_non_guardians(self) -> None:
        s = self.s
        for k, child in s.participants.items():
            room_id = s.room_of(k)
            if child.role is not Role.CHILD or not child.present or room_id is None:
                continue
            guardians = {q for q, p in s.participants.items() if k in p.guardian_of}
            company = [q for q, p in s.participants.items() if q != k and p.present
                       and s.room_of(q) == room_id]
            assert any(s.participants[q].role in CLINICIANS or q in guardians for q in company)

    @invariant()
    def after_close_everyone_is_in_the_main_room(self) -> None:
        if self.s.breakouts.phase in (BreakoutPhase.CLOSED, BreakoutPhase.DRAFT,
                                      BreakoutPhase.NONE):
            for p in self.s.participants:
                assert self.s.room_of(p) is None


SessionMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionMachine = SessionMachine.TestCase
