"""Every (role, command) pair against the one permission table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rooms import commands as c
from rooms.errors import Forbidden
from rooms.machine import handle
from rooms.model import BreakoutPhase, BreakoutRoom, Role
from rooms.policy import PERMISSIONS, chat_scopes, may_share_screen
from tests.rooms.builders import CO, NOW, OBS, A, B, K, T, live_family

BY_ROLE = {Role.THERAPIST: T, Role.CO_THERAPIST: CO, Role.CLIENT: A, Role.PARTNER: B,
           Role.CHILD: K, Role.OBSERVER: OBS}


def sample(kind: type[c.Command], actor: str) -> c.Command:
    """A well-formed instance of each command, aimed at the client where it needs a target."""
    fields = {
        c.SetAutoAdmit: {"roles": frozenset({Role.CO_THERAPIST})},
        c.AllowScreenShare: {"allowed": False},
        c.AddParticipant: {"participant_id": "new", "role": Role.FAMILY, "display_name": "N"},
        c.Knock: {"consent_version": "v1"},
        c.Deny: {"target": A}, c.Admit: {"target": A}, c.RemoveParticipant: {"target": A},
        c.LobbyMessage: {"target": A, "text": "hi"}, c.SendBackToLobby: {"target": A},
        c.SetMedia: {"mic_on": False, "camera_on": False},
        c.MuteRequest: {"target": A}, c.CameraOffRequest: {"target": A},
        c.CreateBreakouts: {"names": ("R",)}, c.RenameBreakout: {"room_id": "b1", "name": "Z"},
        c.DeleteBreakout: {"room_id": "b1"}, c.Assign: {"target": A, "room_id": "b1"},
        c.SetRequireClinician: {"required": False},
        c.MoveParticipant: {"target": A, "room_id": "b1"}, c.Visit: {"room_id": "b1"},
        c.ExtendBreakouts: {"seconds": 60}, c.Broadcast: {"text": "x"},
    }.get(kind, {})
    return kind(actor=actor, **fields)  # type: ignore[arg-type]


PAIRS = [(role, kind) for role in BY_ROLE for kind in PERMISSIONS]


@pytest.mark.parametrize(("role", "kind"), PAIRS,
                         ids=[f"{r.value}-{k.__name__}" for r, k in PAIRS])
def test_role_command_matrix(role: Role, kind: type[c.Command]) -> None:
    s = live_family()
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
    s = live_family()
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
