"""Every (role, command) pair against the one permission table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rooms import commands as c
from rooms.errors import ChildSafe, Forbidden, InvalidTransition
from rooms.machine import HANDLERS, handle
from rooms.model import CLINICIANS, BreakoutPhase, BreakoutRoom, Role
from rooms.policy import PERMISSIONS, chat_scopes, may_chat, may_share_screen
from tests.rooms.builders import (
    BY_ROLE,
    CO,
    NOW,
    OBS,
    A,
    B,
    K,
    T,
    every_role_live,
    live_family,
    sample,
)


def test_every_command_has_one_permission_row_and_a_handler() -> None:
    kinds = {k for k in vars(c).values()
             if isinstance(k, type) and issubclass(k, c.Command) and k is not c.Command}
    assert kinds - {c.Tick} == set(PERMISSIONS)
    assert kinds == set(HANDLERS)
    assert set(BY_ROLE) == set(Role)  # the matrix below covers every role


def test_matrix_follows_the_mission() -> None:
    """Spot rows of MISSION.md's table, so a loosened row fails here too."""
    for kind, roles in PERMISSIONS.items():
        if kind is c.AskForHelp:  # a client's call for a clinician; clinicians just visit
            assert not roles & CLINICIANS
            continue
        assert Role.THERAPIST in roles, kind.__name__  # the therapist may everything
        if kind not in (c.EndSession, c.HandOverHost):
            assert Role.CO_THERAPIST in roles, kind.__name__
    assert PERMISSIONS[c.EndSession] == {Role.THERAPIST}
    assert PERMISSIONS[c.HandOverHost] == {Role.THERAPIST}  # the host hands it on
    clinician_only = {c.Admit, c.AdmitAll, c.Deny, c.SendBackToLobby, c.RemoveParticipant,
                      c.MuteRequest, c.Lock, c.OpenBreakouts, c.MoveParticipant, c.Visit,
                      c.Broadcast, c.CloseAll, c.AddParticipant, c.LobbyMessage}
    for kind in clinician_only:
        assert PERMISSIONS[kind] <= CLINICIANS, kind.__name__
    assert PERMISSIONS[c.SetChildSafe] <= CLINICIANS
    assert Role.OBSERVER not in PERMISSIONS[c.RaiseHand]


PAIRS = [(role, kind) for role in BY_ROLE for kind in PERMISSIONS]


@pytest.mark.parametrize(("role", "kind"), PAIRS,
                         ids=[f"{r.value}-{k.__name__}" for r, k in PAIRS])
def test_role_command_matrix(role: Role, kind: type[c.Command]) -> None:
    s = every_role_live()
    s = replace(s, breakouts=replace(s.breakouts, phase=BreakoutPhase.DRAFT,
                                     rooms=(BreakoutRoom("b1", "One"),), next_room=2))
    cmd = sample(kind, BY_ROLE[role])
    if role not in PERMISSIONS[kind]:
        before = s
        with pytest.raises(Forbidden):
            handle(s, cmd, now=NOW)
        assert s == before
    else:
        try:
            handle(s, cmd, now=NOW)
        except ChildSafe:  # the mode's rules, on top of the role's (children by default)
            assert s.participants[BY_ROLE[role]].is_child_safe
        except Forbidden:
            pytest.fail(f"{role.value} should be allowed {kind.__name__}")
        except Exception:
            pass


def test_children_and_relatives_cannot_escalate() -> None:
    s = live_family()
    for actor in (K, B, A):
        for cmd in (c.Admit(actor=actor, target=OBS), c.MoveParticipant(actor=actor, target=A,
                    room_id=None), c.RemoveParticipant(actor=actor, target=T),
                    c.OpenBreakouts(actor=actor), c.EndSession(actor=actor),
                    c.Lock(actor=actor)):
            with pytest.raises(Forbidden):
                handle(s, cmd, now=NOW)


def test_co_therapist_cannot_end_or_remove_the_therapist() -> None:
    s = live_family()
    with pytest.raises(Forbidden):
        handle(s, c.EndSession(actor=CO), now=NOW)
    with pytest.raises(Forbidden):
        handle(s, c.RemoveParticipant(actor=CO, target=T), now=NOW)
    handle(s, c.RemoveParticipant(actor=CO, target=A), now=NOW)  # but may remove a client


def test_nobody_removes_or_denies_the_owner() -> None:
    s = live_family()
    with pytest.raises(Forbidden):
        handle(s, c.SendBackToLobby(actor=T, target=T), now=NOW)


def test_strangers_and_forged_actors_are_forbidden() -> None:
    with pytest.raises(Forbidden):
        handle(live_family(), c.Admit(actor="intruder", target=A), now=NOW)
    with pytest.raises(Forbidden):
        handle(live_family(), c.Tick(actor=T, now=NOW), now=NOW)


def test_observer_stays_muted() -> None:
    s = live_family()  # the observer knocked with the default mic and camera on
    assert not s.participants[OBS].mic_on
    assert not s.participants[OBS].camera_on
    with pytest.raises(Forbidden):
        handle(s, c.SetMedia(actor=OBS, mic_on=True, camera_on=False), now=NOW)


def test_screen_share_and_chat_rules() -> None:
    s = live_family()
    assert may_share_screen(s, T)
    assert may_share_screen(s, A)
    assert not may_share_screen(s, K)
    assert not may_share_screen(s, OBS)
    s2, _ = handle(s, c.AllowScreenShare(actor=T, allowed=False), now=NOW)
    assert not may_share_screen(s2, A)
    assert may_share_screen(s2, CO)
    assert chat_scopes(s, A) == ("room", "clinicians")
    assert chat_scopes(s, K) == ("clinicians",)
    assert chat_scopes(s, OBS) == ("clinicians",)


def test_children_may_not_rename_themselves_but_adults_may() -> None:
    s = live_family()
    with pytest.raises(ChildSafe):
        handle(s, c.SetDisplayName(actor=K, display_name="Boss"), now=NOW)
    s2, _ = handle(s, c.SetDisplayName(actor=B, display_name="  Bea   B. "), now=NOW)
    assert s2.participants[B].display_name == "Bea B."
    with pytest.raises(InvalidTransition):
        handle(s, c.SetDisplayName(actor=B, display_name="   "), now=NOW)
    with pytest.raises(InvalidTransition):
        handle(s, c.SetDisplayName(actor=B, display_name="x" * 81), now=NOW)


def test_may_chat_matches_chat_scopes() -> None:
    s = every_role_live()
    for role, pid in BY_ROLE.items():
        for scope in ("room", "clinicians", "everyone"):
            expected = scope == "clinicians" or (
                scope == "room" and role not in (Role.CHILD, Role.OBSERVER))
            assert may_chat(s, pid, scope) is expected, (role, scope)
    lobby, _ = handle(s, c.SendBackToLobby(actor=T, target=A), now=NOW)
    assert not may_chat(lobby, A, "room")
    assert not may_chat(lobby, A, "clinicians")  # the lobby has only lobby messages


def test_child_safe_mode_is_on_for_children_and_switched_by_clinicians() -> None:
    s = replace(live_family(), screen_share_relatives=True)
    assert [pid for pid, p in s.participants.items() if p.is_child_safe] == [K]
    assert not may_share_screen(s, K)
    assert chat_scopes(s, K) == ("clinicians",)
    for actor in (A, B, K):
        with pytest.raises(Forbidden):
            handle(s, c.SetChildSafe(actor=actor, target=K, on=False), now=NOW)
    with pytest.raises(Forbidden):
        handle(s, c.SetChildSafe(actor=T, target=CO, on=True), now=NOW)
    off, events = handle(s, c.SetChildSafe(actor=CO, target=K, on=False), now=NOW)
    assert "settings_changed" in [e.kind.value for e in events]
    assert may_share_screen(off, K)
    assert chat_scopes(off, K) == ("room", "clinicians")
    renamed, _ = handle(off, c.SetDisplayName(actor=K, display_name="Kit"), now=NOW)
    assert renamed.participants[K].display_name == "Kit"
    # An adult client may be put in child-safe mode too, with the same rules.
    safe, _ = handle(s, c.SetChildSafe(actor=T, target=A, on=True), now=NOW)
    assert not may_share_screen(safe, A)
    assert chat_scopes(safe, A) == ("clinicians",)
    with pytest.raises(ChildSafe) as refused:
        handle(safe, c.SetDisplayName(actor=A, display_name="Other"), now=NOW)
    assert refused.value.code == "child_safe"


def test_hand_over_host_swaps_the_two_clinicians_roles() -> None:
    s = live_family()
    s2, events = handle(s, c.HandOverHost(actor=T, target=CO), now=NOW)
    assert s2.participants[CO].role is Role.THERAPIST
    assert s2.participants[T].role is Role.CO_THERAPIST
    assert [e.kind.value for e in events if e.kind.value == "host_handed_over"]
    # Now only the new host ends the session; the former one is refused.
    with pytest.raises(Forbidden):
        handle(s2, c.EndSession(actor=T), now=NOW)
    handle(s2, c.EndSession(actor=CO), now=NOW)
    # Only to a co-therapist, and only by the host.
    with pytest.raises(Forbidden):
        handle(s, c.HandOverHost(actor=T, target=A), now=NOW)
    with pytest.raises(Forbidden):
        handle(s, c.HandOverHost(actor=CO, target=CO), now=NOW)

