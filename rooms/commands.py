"""Commands: one frozen dataclass each. ``actor`` is the participant id from the
verified token (the server fills it in; a client can never choose it)."""

from __future__ import annotations

from dataclasses import dataclass

from rooms.model import PlanPhase, Role

SYSTEM = "system"  # the actor of timer ticks


@dataclass(frozen=True)
class Command:
    actor: str


# --- session ---------------------------------------------------------------
@dataclass(frozen=True)
class OpenSession(Command):
    """The therapist opens the room; the lobby keeps accepting knocks."""


@dataclass(frozen=True)
class Lock(Command):
    """Nobody new may knock."""


@dataclass(frozen=True)
class Unlock(Command):
    pass


@dataclass(frozen=True)
class EndSession(Command):
    pass


@dataclass(frozen=True)
class SetAutoAdmit(Command):
    roles: frozenset[Role]


@dataclass(frozen=True)
class AllowScreenShare(Command):
    """Whether relatives (client, partner, parent, family) may share their screen."""

    allowed: bool


# --- participants and lobby --------------------------------------------------
@dataclass(frozen=True)
class AddParticipant(Command):
    participant_id: str
    role: Role
    display_name: str
    guardian_of: tuple[str, ...] = ()
    household: str | None = None


@dataclass(frozen=True)
class RemoveParticipant(Command):
    target: str


@dataclass(frozen=True)
class RestoreParticipant(Command):
    """Undo a removal: the person may be given a link again (and knocks as new)."""

    target: str


@dataclass(frozen=True)
class RevokeLink(Command):
    """A person's link was revoked or re-issued: sockets still holding it must close.

    The deny-list in the store is the truth; this command makes the change a
    versioned session event, so every node's sinks learn of it.
    """

    target: str


@dataclass(frozen=True)
class Knock(Command):
    consent_version: str
    mic_on: bool = True
    camera_on: bool = True


@dataclass(frozen=True)
class Enter(Command):
    """Arrive from a personal link, in one transition: the therapist's arrival opens a
    scheduled session, someone outside knocks (or skips the lobby by role), and someone
    admitted connects. The steps are ``ENTER_STEPS`` in ``rooms.machine``."""

    consent_version: str
    mic_on: bool = True
    camera_on: bool = True


@dataclass(frozen=True)
class Admit(Command):
    target: str


@dataclass(frozen=True)
class AdmitAll(Command):
    pass


@dataclass(frozen=True)
class Deny(Command):
    target: str
    message: str | None = None


@dataclass(frozen=True)
class LobbyMessage(Command):
    target: str
    text: str


@dataclass(frozen=True)
class SendBackToLobby(Command):
    target: str


@dataclass(frozen=True)
class HandOverHost(Command):
    """The therapist makes a co-therapist in the room the session's therapist (host) and
    becomes a co-therapist: ending the session and sending clinicians away move with it."""

    target: str


@dataclass(frozen=True)
class Connect(Command):
    """The participant's client is live in the room (after admission or a drop)."""


@dataclass(frozen=True)
class Disconnect(Command):
    """The socket dropped; the participant shows as reconnecting for a grace period."""


@dataclass(frozen=True)
class Leave(Command):
    pass


@dataclass(frozen=True)
class SetMedia(Command):
    mic_on: bool
    camera_on: bool


@dataclass(frozen=True)
class SetDisplayName(Command):
    """Rename yourself (not in child-safe mode: a child's name is set by the clinician)."""

    display_name: str


@dataclass(frozen=True)
class SetChildSafe(Command):
    """A clinician switches child-safe mode for one person (on for children by default)."""

    target: str
    on: bool


@dataclass(frozen=True)
class RaiseHand(Command):
    pass


@dataclass(frozen=True)
class LowerHand(Command):
    target: str | None = None  # a clinician may lower someone else's hand


@dataclass(frozen=True)
class MuteRequest(Command):
    target: str


@dataclass(frozen=True)
class CameraOffRequest(Command):
    target: str


@dataclass(frozen=True)
class AskToUnmute(Command):
    """A clinician asks someone to unmute; only that person can actually unmute."""

    target: str


# --- breakouts -----------------------------------------------------------------
@dataclass(frozen=True)
class CreateBreakouts(Command):
    names: tuple[str, ...]


@dataclass(frozen=True)
class RenameBreakout(Command):
    room_id: str
    name: str


@dataclass(frozen=True)
class DeleteBreakout(Command):
    room_id: str


@dataclass(frozen=True)
class Assign(Command):
    target: str
    room_id: str | None  # None: stay in the main room


@dataclass(frozen=True)
class AssignAuto(Command):
    """Spread relatives evenly over the rooms; children stay with a guardian."""


@dataclass(frozen=True)
class AssignByRole(Command):
    """``each_client_with_clinician``: each relative in a room of their own, a clinician
    in as many rooms as there are clinicians; children with a guardian."""

    plan: str = "each_client_with_clinician"


@dataclass(frozen=True)
class SetRequireClinician(Command):
    required: bool


@dataclass(frozen=True)
class OpenBreakouts(Command):
    duration: float | None = None


@dataclass(frozen=True)
class MoveParticipant(Command):
    target: str
    room_id: str | None


@dataclass(frozen=True)
class Visit(Command):
    room_id: str | None  # None: come back


@dataclass(frozen=True)
class ExtendBreakouts(Command):
    seconds: float


@dataclass(frozen=True)
class Broadcast(Command):
    text: str


@dataclass(frozen=True)
class AskForHelp(Command):
    pass


@dataclass(frozen=True)
class CloseAll(Command):
    grace: float | None = None  # None: the session's default (60 s)


# --- session plans and private rooms -------------------------------------------------
@dataclass(frozen=True)
class SetPlan(Command):
    """Attach a plan (its phases copied into the session); it starts with NextPhase."""

    plan_id: str
    name: str
    phases: tuple[PlanPhase, ...]


@dataclass(frozen=True)
class NextPhase(Command):
    """Move everyone to the next phase's layout, through the breakout commands it
    compiles to (the first NextPhase starts the plan). ``grace``: the countdown before
    open rooms close for a phase together (None: the session's default)."""

    grace: float | None = None


@dataclass(frozen=True)
class EndPlan(Command):
    pass


@dataclass(frozen=True)
class StepAside(Command):
    """A clinician takes one person into a private room with them."""

    target: str
    announce: bool = False


@dataclass(frozen=True)
class BringBack(Command):
    """End the private room ``target`` is in: both return to where they belong."""

    target: str


@dataclass(frozen=True)
class Tick(Command):
    """Time passed: apply every deadline at or before ``now``."""

    now: float = 0.0
