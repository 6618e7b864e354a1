"""Test builders: a family session with every role, and direct status overrides."""

from __future__ import annotations

from dataclasses import replace

from rooms import commands as c
from rooms.machine import handle, new_session
from rooms.model import ParticipantStatus, Role, Session

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
