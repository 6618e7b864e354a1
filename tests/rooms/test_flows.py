"""Whole flows through the pure machine, with visibility checked at each step."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms.errors import InvalidTransition, Limit
from rooms.machine import handle, next_deadline
from rooms.model import BreakoutPhase, ParticipantStatus, Role, SessionPhase, from_json, to_json
from rooms.visibility import readers, room_chat_scope, visible_publishers
from tests.rooms.builders import CO, NOW, OBS, A, B, K, T, family, live_family, run

PS = ParticipantStatus


def kinds(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.kind for e in events]


def test_lobby_flow_and_auto_admit() -> None:
    s = family()
    s, ev = handle(s, c.Knock(actor=A, consent_version="2026-11"), now=NOW)
    assert s.participants[A].status is PS.WAITING
    assert "knock" in kinds(ev)
    assert visible_publishers(s, A) == frozenset()  # the lobby sees nobody
    s, ev = handle(s, c.Knock(actor=CO, consent_version="2026-11"), now=NOW)
    assert s.participants[CO].status is PS.ADMITTED  # co-therapists skip the lobby
    s, ev = handle(s, c.LobbyMessage(actor=T, target=A, text="two minutes"), now=NOW)
    assert [(e.kind, e.audience.target) for e in ev if e.kind == "lobby_message"] == [
        ("lobby_message", A)]
    s, ev = handle(s, c.Admit(actor=T, target=A), now=NOW)
    assert s.phase is SessionPhase.LIVE
    s = run(s, c.Connect(actor=A), c.Knock(actor=T, consent_version="x"), c.Connect(actor=T))
    assert visible_publishers(s, A) == {T, CO}
    s, ev = handle(s, c.SendBackToLobby(actor=T, target=A), now=NOW)
    assert s.participants[A].status is PS.WAITING
    assert visible_publishers(s, A) == frozenset()
    assert A not in visible_publishers(s, T)


def test_deny_and_locked_room() -> None:
    s = run(family(), c.Knock(actor=A, consent_version="v"), c.Lock(actor=T))
    with pytest.raises(InvalidTransition, match="locked"):
        handle(s, c.Knock(actor=B, consent_version="v"), now=NOW)
    s, ev = handle(s, c.Deny(actor=T, target=A, message="Not today"), now=NOW)
    assert s.participants[A].status is PS.DENIED
    assert ("denied", A) in [(e.kind, e.audience.target) for e in ev]


def test_breakouts_by_role_isolate_rooms_and_keep_the_child_safe() -> None:
    s = live_family()
    s, _ = handle(s, c.AssignByRole(actor=T), now=NOW)
    b = s.breakouts
    assert b.phase is BreakoutPhase.DRAFT
    assert b.assignment[A] != b.assignment[B]  # each partner alone
    assert b.assignment[K] == b.assignment[B]  # the child goes with their guardian
    assert b.assignment[T] == b.assignment[A]
    assert b.assignment[CO] == b.assignment[B]
    s, ev = handle(s, c.OpenBreakouts(actor=T, duration=900), now=NOW)
    assert {"breakouts_opened", "visibility_changed"} <= set(kinds(ev))
    assert visible_publishers(s, A) == {T}
    assert visible_publishers(s, B) == {CO, K}
    assert visible_publishers(s, OBS) == frozenset()  # unassigned observer: alone in main
    s_obs, _ = handle(s, c.MoveParticipant(actor=T, target=OBS, room_id=s.breakouts.assignment[A]),
                      now=NOW)
    assert visible_publishers(s_obs, OBS) == {T, A}  # a supervisor can watch a room
    assert OBS not in visible_publishers(s_obs, A)  # and is never seen or heard
    assert room_chat_scope(s, A) == f"breakout:{b.assignment[A]}"
    assert readers(s, f"breakout:{b.assignment[B]}") == {CO, B}  # children: clinicians only
    # Moving the co-therapist away would leave the child with only... its guardian: fine.
    s2, _ = handle(s, c.MoveParticipant(actor=T, target=CO, room_id=None), now=NOW)
    assert visible_publishers(s2, K) == {B}
    # Moving the guardian away too would leave the child alone: refused.
    with pytest.raises(InvalidTransition, match="child"):
        handle(s2, c.MoveParticipant(actor=T, target=B, room_id=b.assignment[A]), now=NOW)
    # A guardian who leaves makes the child return to the main room automatically.
    s3, ev = handle(s2, c.Leave(actor=B), now=NOW)
    assert "child_returned" in kinds(ev)
    assert s3.room_of(K) is None


def test_visit_help_broadcast_extend_close_with_grace() -> None:
    s = run(live_family(), c.AssignByRole(actor=T), c.OpenBreakouts(actor=T, duration=600))
    room_b = s.breakouts.assignment[B]
    s, ev = handle(s, c.AskForHelp(actor=A), now=NOW)
    (help_event,) = [e for e in ev if e.kind == "help_requested"]
    assert help_event.audience.scope.value == "clinicians"
    assert help_event.data["room"] == s.breakouts.assignment[A]
    s, _ = handle(s, c.Visit(actor=T, room_id=room_b), now=NOW)
    assert T in visible_publishers(s, B)
    assert T not in visible_publishers(s, A)
    s, ev = handle(s, c.Broadcast(actor=T, text="5 minutes left"), now=NOW)
    assert ev[0].kind == "broadcast"
    assert ev[0].audience.scope.value == "session"
    s, _ = handle(s, c.ExtendBreakouts(actor=T, seconds=300), now=NOW + 10)
    assert s.breakouts.deadline == NOW + 900
    s, ev = handle(s, c.CloseAll(actor=T), now=NOW + 20)
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert next_deadline(s) == NOW + 80
    assert visible_publishers(s, A) == set()  # T is visiting B; A is alone until close
    s, ev = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 79), now=NOW + 79)
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    s, ev = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 80), now=NOW + 80)
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert "breakouts_closed" in kinds(ev)
    assert visible_publishers(s, A) == {T, CO, B, K}
    assert all(p.visiting is None for p in s.participants.values())
    # Rooms can be reopened with the same assignment.
    s, _ = handle(s, c.OpenBreakouts(actor=T), now=NOW + 90)
    assert visible_publishers(s, A) == {T}


def test_close_now_during_the_countdown() -> None:
    """A clinician who started a 60 s countdown can bring everyone back at once; a
    second close-all never pushes the return later."""
    s = run(live_family(), c.AssignByRole(actor=T), c.OpenBreakouts(actor=T))
    s, _ = handle(s, c.CloseAll(actor=T, grace=60), now=NOW)
    s, _ = handle(s, c.CloseAll(actor=T, grace=600), now=NOW + 10)
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert next_deadline(s) == NOW + 60
    s, ev = handle(s, c.CloseAll(actor=T, grace=0), now=NOW + 20)
    assert s.breakouts.phase is BreakoutPhase.CLOSED
    assert kinds(ev)[:2] == ["close_all_started", "breakouts_closed"]
    assert ev[0].data["seconds"] == 0
    assert visible_publishers(s, A) == {T, CO, B, K}


def test_timer_expiry_starts_close_countdown() -> None:
    s = run(live_family(), c.AssignByRole(actor=T), c.OpenBreakouts(actor=T, duration=60))
    assert next_deadline(s) == NOW + 60
    s, ev = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 61), now=NOW + 61)
    assert s.breakouts.phase is BreakoutPhase.CLOSING
    assert "close_all_started" in kinds(ev)


def test_reconnect_grace_then_left() -> None:
    s = live_family()
    s, _ = handle(s, c.Disconnect(actor=A), now=NOW)
    assert s.participants[A].status is PS.RECONNECTING
    assert A in visible_publishers(s, T)  # still shown while reconnecting
    s2, _ = handle(s, c.Connect(actor=A), now=NOW + 30)
    assert s2.participants[A].status is PS.CONNECTED
    s3, _ = handle(s, c.Tick(actor=c.SYSTEM, now=NOW + 60), now=NOW + 60)
    assert s3.participants[A].status is PS.LEFT
    assert A not in visible_publishers(s3, T)


def test_end_session_everyone_leaves_and_nothing_more_happens() -> None:
    s, ev = handle(live_family(), c.EndSession(actor=T), now=NOW)
    assert s.phase is SessionPhase.ENDED
    assert "session_ended" in kinds(ev)
    assert all(p.status is PS.LEFT for p in s.participants.values())
    assert all(visible_publishers(s, pid) == frozenset() for pid in s.participants)
    with pytest.raises(InvalidTransition):
        handle(s, c.Knock(actor=A, consent_version="v"), now=NOW)


def test_limits() -> None:
    s = family()
    s = s.__class__(**{**s.__dict__, "limits": s.limits.__class__(max_participants=6,
                                                                  max_breakouts=2)})
    with pytest.raises(Limit):
        handle(s, c.AddParticipant(actor=T, participant_id="x", role=Role.FAMILY,
                                   display_name="X"), now=NOW)
    s = run(s, c.CreateBreakouts(actor=T, names=("a", "b")))
    with pytest.raises(Limit):
        handle(s, c.CreateBreakouts(actor=T, names=("c",)), now=NOW)


def test_json_round_trip_is_lossless() -> None:
    s = run(live_family(), c.AssignByRole(actor=T), c.OpenBreakouts(actor=T, duration=60),
            c.Visit(actor=CO, room_id="b1"), c.Lock(actor=T))
    assert from_json(to_json(s)) == s


def test_versions_and_events_carry_the_version() -> None:
    s = family()
    s2, ev = handle(s, c.Knock(actor=A, consent_version="v"), now=NOW)
    assert s2.version == s.version + 1
    assert {e.version for e in ev} == {s2.version}
    assert {e.session_id for e in ev} == {"s1"}
    assert OBS  # every role in the builders is used across this module


def test_timer_lengths_must_be_sane() -> None:
    s = run(live_family(), c.AssignByRole(actor=T))
    for bad in (0.0, -1.0, float("nan"), float("inf"), 86_401.0):
        with pytest.raises(InvalidTransition):
            handle(s, c.OpenBreakouts(actor=T, duration=bad), now=NOW)
    s = run(s, c.OpenBreakouts(actor=T, duration=60))
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(InvalidTransition):
            handle(s, c.ExtendBreakouts(actor=T, seconds=bad), now=NOW)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidTransition):
            handle(s, c.CloseAll(actor=T, grace=bad), now=NOW)
    # No countdown: closed in the same transition, with no timer to wait for.
    closed, events = handle(s, c.CloseAll(actor=T, grace=0.0), now=NOW)
    assert closed.breakouts.phase is BreakoutPhase.CLOSED
    assert [e.kind for e in events][:2] == ["close_all_started", "breakouts_closed"]
    assert next_deadline(closed) is None
    assert closed.version == s.version + 1
