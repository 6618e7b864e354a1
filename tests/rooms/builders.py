"""Test builders: a family session with every role, and direct status overrides."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rooms import commands as c
from rooms.machine import handle, new_session
from rooms.model import ParticipantStatus, PlanLayout, PlanPhase, Role, Session

T, CO, A, B, K, OBS = "therapist", "cotherapist", "client", "partner", "child", "observer"
NOW = 1_000.0


def family() -> Session:
    """Therapist, co-therapist, client, partner, child (partner is guardian), observer."""
    s = new_session("s1", owner_id=T, owner_name="Dr T", title="Family", now=NOW)
    for pid, role in ((CO, Role.CO_THERAPIST), (A, Role.CLIENT), (B, Role.PARTNER),
                      (OBS, Role.OBSERVER)):
        s, _ = handle(s, c.AddParticipant(actor=T, participant_id=pid, role=role,
                                          display_name=pid.title()), now=NOW)
    s, _ = handle(s, c.AddParticipant(actor=T, participant_id=K, role=Role.CHILD,
                                      display_name="Kid", guardian_of=(B,)), now=NOW)
    return s


def status(s: Session, pid: str, st: ParticipantStatus) -> Session:
    return s.with_participant(replace(s.participants[pid], status=st))


def live_family() -> Session:
    """Everyone knocked, admitted and connected."""
    s = family()
    for pid in (T, CO, A, B, K, OBS):
        s, _ = handle(s, c.Knock(actor=pid, consent_version="v1"), now=NOW)
    s, _ = handle(s, c.AdmitAll(actor=T), now=NOW)
    for pid in (T, CO, A, B, K, OBS):
        s, _ = handle(s, c.Connect(actor=pid), now=NOW)
    return s


def run(s: Session, *cmds: c.Command, now: float = NOW) -> Session:
    for cmd in cmds:
        s, _ = handle(s, cmd, now=now)
    return s


PARENT, FAM = "parent", "family"


def every_role_live() -> Session:
    """``live_family`` plus a parent and a family member: one participant per role."""
    s = live_family()
    for pid, role in ((PARENT, Role.PARENT), (FAM, Role.FAMILY)):
        s = run(s, c.AddParticipant(actor=T, participant_id=pid, role=role,
                                    display_name=pid.title()),
                c.Knock(actor=pid, consent_version="v1"), c.Admit(actor=T, target=pid),
                c.Connect(actor=pid))
    return s


BY_ROLE = {Role.THERAPIST: T, Role.CO_THERAPIST: CO, Role.CLIENT: A, Role.PARTNER: B,
           Role.PARENT: PARENT, Role.FAMILY: FAM, Role.CHILD: K, Role.OBSERVER: OBS}


SAMPLE_FIELDS: dict[type[c.Command], dict[str, Any]] = {
    c.SetAutoAdmit: {"roles": frozenset({Role.CO_THERAPIST})},
    c.AllowScreenShare: {"allowed": False},
    c.AddParticipant: {"participant_id": "new", "role": Role.FAMILY, "display_name": "N"},
    c.Knock: {"consent_version": "v1"}, c.Enter: {"consent_version": "v1"},
    c.Deny: {"target": A}, c.Admit: {"target": A}, c.RemoveParticipant: {"target": A},
    c.RestoreParticipant: {"target": A}, c.RevokeLink: {"target": A},
    c.LobbyMessage: {"target": A, "text": "hi"}, c.SendBackToLobby: {"target": A},
    c.HandOverHost: {"target": CO},
    c.SetMedia: {"mic_on": False, "camera_on": False},
    c.SetDisplayName: {"display_name": "New name"},
    c.MuteRequest: {"target": A}, c.CameraOffRequest: {"target": A}, c.AskToUnmute: {"target": A},
    c.CreateBreakouts: {"names": ("R",)}, c.RenameBreakout: {"room_id": "b1", "name": "Z"},
    c.DeleteBreakout: {"room_id": "b1"}, c.Assign: {"target": A, "room_id": "b1"},
    c.SetRequireClinician: {"required": False},
    c.MoveParticipant: {"target": A, "room_id": "b1"}, c.Visit: {"room_id": "b1"},
    c.ExtendBreakouts: {"seconds": 60}, c.Broadcast: {"text": "x"},
    c.SetPlan: {"plan_id": "p1", "name": "Couples",
                "phases": (PlanPhase("Joint", 20),
                           PlanPhase("Apart", 15, PlanLayout.EACH_CLIENT_WITH_CLINICIAN))},
    c.StepAside: {"target": A}, c.BringBack: {"target": A},
    c.SetChildSafe: {"target": A, "on": True},
}


def sample(kind: type[c.Command], actor: str) -> c.Command:
    """A well-formed instance of each command, aimed at the client where it needs a target."""
    return kind(actor=actor, **SAMPLE_FIELDS.get(kind, {}))
