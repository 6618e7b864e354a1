"""Hypothesis: random commands from random roles never break the session's invariants."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from rooms import commands as c
from rooms.errors import DomainError
from rooms.machine import handle
from rooms.model import CLINICIANS, BreakoutPhase, ParticipantStatus, Role, Session
from rooms.visibility import location, visible_publishers
from tests.rooms.builders import NOW, family

PEOPLE = ["therapist", "cotherapist", "client", "partner", "child", "observer"]
pid = st.sampled_from(PEOPLE)
# Half the time a clinician acts (so deep states are reached), half the time anyone
# (so forbidden attempts from every role keep being made).
actor_st = st.one_of(st.sampled_from(["therapist", "cotherapist"]), pid)
room = st.sampled_from([None, "b1", "b2", "b3"])


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.s: Session = family()
        self.now = NOW

    def apply(self, cmd: c.Command) -> None:
        before = self.s
        try:
            self.s, events = handle(self.s, cmd, now=self.now)
        except DomainError:
            assert self.s is before  # refused: unchanged
            return
        assert all(e.version == self.s.version for e in events)

    @rule()
    def everyone_comes_in(self) -> None:
        """A macro a real session goes through: everyone knocks, is admitted, connects."""
        for p in PEOPLE:
            self.apply(c.Knock(actor=p, consent_version="v"))
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

    @rule(actor=actor_st, who=pid)
    def admit(self, actor: str, who: str) -> None:
        self.apply(c.Admit(actor=actor, target=who))

    @rule(actor=actor_st)
    def admit_all(self, actor: str) -> None:
        self.apply(c.AdmitAll(actor=actor))

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

    @rule(actor=actor_st)
    def end(self, actor: str) -> None:
        self.apply(c.EndSession(actor=actor))

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
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionMachine = SessionMachine.TestCase
