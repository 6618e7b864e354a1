"""Session plans compile to breakout commands; private rooms isolate media and chat."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms.errors import InvalidTransition, NoClinician, PlanEnd
from rooms.events import EventKind as K
from rooms.machine import handle, new_session
from rooms.model import (
    BreakoutPhase,
    ParticipantStatus,
    PlanLayout,
    PlanPhase,
    PlanStatus,
    Role,
    RoomRule,
    Session,
)
from rooms.visibility import chat_threads, readers, room_chat_scope, visible_publishers
from tests.rooms.builders import CO, NOW, A, B, T, live_family, run
from tests.rooms.builders import K as KID

COUPLES = (PlanPhase("Joint", 20), PlanPhase("Partners apart", 15,
                                             PlanLayout.EACH_CLIENT_WITH_CLINICIAN),
           PlanPhase("Joint", 10))


def couple(*, co_present: bool = True) -> Session:
    """Therapist, co-therapist and two partners, all connected."""
    s = new_session("s1", owner_id=T, owner_name="Dr T", title="Couple", now=NOW)
    for pid, role in ((CO, Role.CO_THERAPIST), (A, Role.PARTNER), (B, Role.PARTNER)):
        s = run(s, c.AddParticipant(actor=T, participant_id=pid, role=role,
                                    display_name=pid.title()))
    people = (T, CO, A, B) if co_present else (T, A, B)
    for pid in people:
        s = run(s, c.Knock(actor=pid, consent_version="v1"))
    s = run(s, c.AdmitAll(actor=T), *(c.Connect(actor=pid) for pid in people))
    return run(s, c.SetPlan(actor=T, plan_id="p1", name="Couples", phases=COUPLES))


def test_joint_apart_joint_moves_everyone_through_the_breakout_machine() -> None:
    s = couple()
    assert s.plan.status is PlanStatus.READY
    s, events = handle(s, c.NextPhase(actor=T), now=NOW + 1)
    assert (s.plan.index, s.plan.started_at) == (0, NOW + 1)
    assert s.breakouts.phase is BreakoutPhase.NONE
    assert visible_publishers(s, A) == {T, CO, B}
    assert K.PHASE_STARTED in [e.kind for e in events]

    s, events = handle(s, c.NextPhase(actor=T), now=NOW + 1200)
    assert s.plan.index == 1
    assert s.plan.current == COUPLES[1]
    assert s.breakouts.phase is BreakoutPhase.OPEN
    assert visible_publishers(s, A) == {T}
    assert visible_publishers(s, B) == {CO}
    assert s.room_of(A) != s.room_of(B)
    kinds = [e.kind for e in events]
    assert K.BREAKOUTS_OPENED in kinds
    assert K.VISIBILITY_CHANGED in kinds

    s, events = handle(s, c.NextPhase(actor=T), now=NOW + 2100)
    assert s.plan.index == 2
    assert s.breakouts.phase is BreakoutPhase.CLOSING  # the grace countdown applies
    assert K.CLOSE_ALL_STARTED in [e.kind for e in events]
    later = NOW + 2100 + s.limits.close_grace
    s, _ = handle(s, c.Tick(actor=c.SYSTEM, now=later), now=later)
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert visible_publishers(s, A) == {T, CO, B}

    with pytest.raises(PlanEnd) as refused:
        handle(s, c.NextPhase(actor=T), now=later)
    assert refused.value.code == "plan_last_phase"


def test_a_phase_that_leaves_a_client_without_a_clinician_is_refused() -> None:
    s = run(couple(co_present=False), c.NextPhase(actor=T))
    with pytest.raises(NoClinician) as refused:
        handle(s, c.NextPhase(actor=T), now=NOW + 5)
    assert refused.value.code == "no_clinician"
    assert "Partners apart" in str(refused.value)
    assert "no clinician" in str(refused.value)
    assert s.plan.index == 0
    assert s.breakouts.phase is BreakoutPhase.NONE


TWO_SPLITS = (PlanPhase("Apart", 10, PlanLayout.EACH_CLIENT_WITH_CLINICIAN),
              PlanPhase("Custom", 10, PlanLayout.CUSTOM, (
                  RoomRule("Both", (Role.PARTNER, Role.THERAPIST)),
                  RoomRule("Team", (Role.CO_THERAPIST,)))))


def two_splits() -> Session:
    """The couple in the first of two split phases."""
    s = run(couple(), c.SetPlan(actor=T, plan_id="p2", name="Two", phases=TWO_SPLITS),
            c.NextPhase(actor=T))
    assert (s.plan.index, s.breakouts.phase) == (0, BreakoutPhase.OPEN)
    return s


def test_between_two_split_phases_rooms_count_down_then_re_form() -> None:
    s = two_splits()
    s, events = handle(s, c.NextPhase(actor=T), now=NOW + 600)
    # The open rooms count down as any close does; people stay where they are.
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert K.CLOSE_ALL_STARTED in [e.kind for e in events]
    assert K.BREAKOUTS_OPENED not in [e.kind for e in events]
    assert (s.plan.index, s.plan.pending) == (0, 1)
    assert visible_publishers(s, A) == {T}
    with pytest.raises(InvalidTransition):  # nothing else opens meanwhile
        handle(s, c.OpenBreakouts(actor=T), now=NOW + 601)
    # The countdown ends: everyone is back, and the next rooms form in the same step.
    later = NOW + 600 + s.limits.close_grace
    s, events = handle(s, c.Tick(actor=c.SYSTEM, now=later), now=later)
    kinds = [e.kind for e in events]
    assert kinds.index(K.BREAKOUTS_CLOSED) < kinds.index(K.BREAKOUTS_OPENED)
    assert K.PHASE_STARTED in kinds
    assert (s.plan.index, s.plan.pending, s.plan.started_at) == (1, None, later)
    assert s.breakouts.phase is BreakoutPhase.OPEN
    assert [r.name for r in s.breakouts.rooms] == ["Both", "Team"]
    assert visible_publishers(s, A) == {T, B}
    assert visible_publishers(s, CO) == frozenset()


@pytest.mark.parametrize("how", ["next again", "close now", "no grace"])
def test_between_two_split_phases_rooms_can_re_form_now(how: str) -> None:
    s = two_splits()
    if how == "no grace":
        s = run(s, c.NextPhase(actor=T, grace=0), now=NOW + 600)
    else:
        s = run(s, c.NextPhase(actor=T), now=NOW + 600)
        assert s.plan.pending == 1
        s = run(s, c.NextPhase(actor=T) if how == "next again" else c.CloseAll(actor=T, grace=0),
                now=NOW + 601)
    assert (s.plan.index, s.plan.pending) == (1, None)
    assert [r.name for r in s.breakouts.rooms] == ["Both", "Team"]
    assert visible_publishers(s, A) == {T, B}


def test_rooms_that_cannot_form_after_the_countdown_leave_everyone_together() -> None:
    s = run(couple(), c.SetPlan(actor=T, plan_id="p3", name="Back", phases=TWO_SPLITS[::-1]),
            c.NextPhase(actor=T))
    s = run(s, c.NextPhase(actor=T), now=NOW + 600)
    assert s.plan.pending == 1
    s = run(s, c.Leave(actor=CO), now=NOW + 601)  # one clinician for two partners apart
    later = NOW + 600 + s.limits.close_grace
    s, events = handle(s, c.Tick(actor=c.SYSTEM, now=later), now=later)
    refused = [e for e in events if e.kind is K.PHASE_REFUSED]
    assert len(refused) == 1
    assert refused[0].data["name"] == "Apart"
    assert "no clinician" in refused[0].data["reason"]
    assert (s.plan.index, s.plan.pending) == (0, None)
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert visible_publishers(s, A) == {T, B}


def test_ending_the_plan_during_the_countdown_forms_no_rooms() -> None:
    s = run(two_splits(), c.NextPhase(actor=T), c.EndPlan(actor=T), now=NOW + 600)
    later = NOW + 600 + s.limits.close_grace
    s, events = handle(s, c.Tick(actor=c.SYSTEM, now=later), now=later)
    assert K.BREAKOUTS_OPENED not in [e.kind for e in events]
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert s.plan.pending is None


def test_parents_with_the_therapist_and_children_with_the_co_therapist() -> None:
    s = run(live_family(), c.SetPlan(actor=T, plan_id="p", name="Family", phases=(
        PlanPhase("Split", 15, PlanLayout.PARENTS_AND_CHILDREN),)), c.NextPhase(actor=T))
    assert [r.name for r in s.breakouts.rooms] == ["Parents", "Children"]
    assert visible_publishers(s, KID) == {CO}
    assert visible_publishers(s, A) == {T, B}


def test_children_without_a_clinician_refuse_the_family_split() -> None:
    s = run(live_family(), c.Leave(actor=CO),
            c.SetPlan(actor=T, plan_id="p", name="Family", phases=(
                PlanPhase("Split", 15, PlanLayout.PARENTS_AND_CHILDREN),)))
    with pytest.raises(InvalidTransition, match="child would be in a breakout without a "
                       "clinician"):
        handle(s, c.NextPhase(actor=T), now=NOW)


def test_each_household_alone() -> None:
    s = new_session("g", owner_id=T, owner_name="Dr T", title="Group", now=NOW)
    people = ((CO, Role.CO_THERAPIST, None), ("a1", Role.PARENT, "h1"),
              ("a2", Role.PARENT, "h1"), ("b1", Role.PARENT, "h2"))
    for pid, role, household in people:
        s = run(s, c.AddParticipant(actor=T, participant_id=pid, role=role, display_name=pid,
                                    household=household))
    for pid in (T, *(p[0] for p in people)):
        s = run(s, c.Knock(actor=pid, consent_version="v1"))
    s = run(s, c.AdmitAll(actor=T), c.SetPlan(actor=T, plan_id="p", name="Groups", phases=(
        PlanPhase("Households", 15, PlanLayout.HOUSEHOLDS),)), c.NextPhase(actor=T))
    assert visible_publishers(s, "a1") == {"a2", T}
    assert visible_publishers(s, "b1") == {CO}


def test_plan_validation() -> None:
    s = couple()
    with pytest.raises(Exception, match="1 to 240 minutes"):
        handle(s, c.SetPlan(actor=T, plan_id="x", name="x", phases=(PlanPhase("a", 0),)),
               now=NOW)
    with pytest.raises(Exception, match="1 to 20 phases"):
        handle(s, c.SetPlan(actor=T, plan_id="x", name="x", phases=()), now=NOW)
    with pytest.raises(Exception, match="may not"):
        handle(s, c.NextPhase(actor=A), now=NOW)


def test_ending_a_plan_moves_nobody_and_refusals_read_plainly() -> None:
    s = run(couple(), c.NextPhase(actor=T), c.NextPhase(actor=T))  # partners apart
    rooms = {p: visible_publishers(s, p) for p in (T, CO, A, B)}
    s, events = handle(s, c.EndPlan(actor=T), now=NOW)
    assert s.plan is not None
    assert s.plan.status is PlanStatus.FINISHED
    assert [e.kind for e in events] == [K.STATE_CHANGED]  # a new version, nothing else
    assert {p: visible_publishers(s, p) for p in (T, CO, A, B)} == rooms
    with pytest.raises(InvalidTransition, match=r"^cannot end the plan: the plan is finished$"):
        handle(s, c.EndPlan(actor=T), now=NOW)
    with pytest.raises(InvalidTransition, match=r"^cannot move to the next phase: the plan is"):
        handle(s, c.NextPhase(actor=T), now=NOW)


# --- private rooms --------------------------------------------------------------------
@pytest.mark.parametrize("split", [False, True], ids=["together", "breakouts open"])
def test_a_private_room_isolates_media_and_chat(split: bool) -> None:
    s = run(couple(), c.NextPhase(actor=T))
    if split:
        s = run(s, c.NextPhase(actor=T))
    s, events = handle(s, c.StepAside(actor=T, target=A, announce=True), now=NOW + 3)
    assert K.ASIDE_STARTED in [e.kind for e in events]
    assert visible_publishers(s, A) == {T}
    assert visible_publishers(s, T) == {A}
    assert A not in visible_publishers(s, B)
    assert T not in visible_publishers(s, CO)
    thread = room_chat_scope(s, A)
    assert thread is not None
    assert thread.startswith("breakout:aside-")
    assert readers(s, thread) == {T, A}
    assert thread not in chat_threads(s, B)

    s, _ = handle(s, c.BringBack(actor=T, target=A), now=NOW + 60)
    assert s.asides == ()
    assert T in visible_publishers(s, A)
    assert (B in visible_publishers(s, A)) is not split


def test_a_private_room_ends_when_its_guest_leaves() -> None:
    s = run(couple(), c.StepAside(actor=T, target=A))
    s, events = handle(s, c.Leave(actor=A), now=NOW)
    assert s.asides == ()
    assert K.ASIDE_ENDED in [e.kind for e in events]
    assert s.participants[A].status is ParticipantStatus.LEFT


def test_private_room_refusals() -> None:
    s = couple()
    with pytest.raises(Exception, match="one client"):
        handle(s, c.StepAside(actor=T, target=CO), now=NOW)
    s = run(s, c.StepAside(actor=T, target=A))
    with pytest.raises(Exception, match="already in a private room"):
        handle(s, c.StepAside(actor=T, target=B), now=NOW)
    with pytest.raises(Exception, match="may not"):
        handle(s, c.StepAside(actor=B, target=A), now=NOW)
    other, _ = handle(s, c.StepAside(actor=CO, target=B), now=NOW + 1)
    assert visible_publishers(other, B) == {CO}
    assert len({a.room_id for a in other.asides}) == 2


def test_the_stored_record_keeps_the_plan_and_private_rooms() -> None:
    from rooms.model import from_json, to_json

    s = run(couple(), c.NextPhase(actor=T), c.NextPhase(actor=T),
            c.StepAside(actor=T, target=A, announce=True))
    again = from_json(to_json(s))
    assert again == s
    assert again.plan.phases == COUPLES
    assert again.room_of(A) == s.asides[0].room_id
