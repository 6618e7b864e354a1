"""Who may do what: one table, read by the state machine on every command.

Target rules that depend on *whom* a command is about (a co-therapist cannot
remove the therapist) live in ``check_target`` next to the table, so all
authorization is in this module.
"""

from __future__ import annotations

from rooms import commands as c
from rooms.errors import ChildSafe, Forbidden
from rooms.model import CLINICIANS, RELATIVES, Participant, Role, Session

ALL = frozenset(Role)
CLIN = CLINICIANS
THERAPIST_ONLY = frozenset({Role.THERAPIST})
# People who take part in the conversation (observers only watch).
SPEAKERS = ALL - {Role.OBSERVER}
NON_CLINICIANS = ALL - CLINICIANS

PERMISSIONS: dict[type[c.Command], frozenset[Role]] = {
    c.OpenSession: CLIN,
    c.Lock: CLIN,
    c.Unlock: CLIN,
    c.EndSession: THERAPIST_ONLY,
    c.HandOverHost: THERAPIST_ONLY,
    c.SetAutoAdmit: CLIN,
    c.AllowScreenShare: CLIN,
    c.AddParticipant: CLIN,
    c.RemoveParticipant: CLIN,
    c.RestoreParticipant: CLIN,
    c.RevokeLink: CLIN,
    c.Knock: ALL,
    c.Enter: ALL,
    c.Admit: CLIN,
    c.AdmitAll: CLIN,
    c.Deny: CLIN,
    c.LobbyMessage: CLIN,
    c.SendBackToLobby: CLIN,
    c.Connect: ALL,
    c.Disconnect: ALL,
    c.Leave: ALL,
    c.SetMedia: ALL,
    c.SetDisplayName: ALL,  # not in child-safe mode (on for children): check_child_safe
    c.SetChildSafe: CLIN,
    c.RaiseHand: SPEAKERS,
    c.LowerHand: SPEAKERS,
    c.MuteRequest: CLIN,
    c.CameraOffRequest: CLIN,
    c.AskToUnmute: CLIN,
    c.CreateBreakouts: CLIN,
    c.RenameBreakout: CLIN,
    c.DeleteBreakout: CLIN,
    c.Assign: CLIN,
    c.AssignAuto: CLIN,
    c.AssignByRole: CLIN,
    c.SetRequireClinician: CLIN,
    c.OpenBreakouts: CLIN,
    c.MoveParticipant: CLIN,
    c.Visit: CLIN,
    c.ExtendBreakouts: CLIN,
    c.Broadcast: CLIN,
    c.AskForHelp: NON_CLINICIANS - {Role.OBSERVER},
    c.CloseAll: CLIN,
    c.SetPlan: CLIN,
    c.NextPhase: CLIN,
    c.EndPlan: CLIN,
    c.StepAside: CLIN,
    c.BringBack: CLIN,
}


def authorize(session: Session, cmd: c.Command) -> Participant | None:
    """Return the acting participant (None for the system clock), or raise Forbidden."""
    if isinstance(cmd, c.Tick):
        if cmd.actor != c.SYSTEM:
            raise Forbidden("only the clock ticks")
        return None
    actor = session.participants.get(cmd.actor)
    if actor is None:
        raise Forbidden("not a participant of this session")
    allowed = PERMISSIONS.get(type(cmd))
    if allowed is None or actor.role not in allowed:
        raise Forbidden(f"{actor.role.value} may not {type(cmd).__name__}")
    check_target(session, actor, cmd)
    return actor


def check_target(session: Session, actor: Participant, cmd: c.Command) -> None:
    target_id = getattr(cmd, "target", None)
    target = session.participants.get(target_id) if isinstance(target_id, str) else None
    if isinstance(cmd, c.RemoveParticipant | c.SendBackToLobby | c.Deny) and target:
        if target.id == session.owner:
            raise Forbidden("the session's therapist cannot be removed or sent away")
        if target.role in CLINICIANS and actor.role is not Role.THERAPIST:
            raise Forbidden("only the therapist may send away a clinician")
    if isinstance(cmd, c.HandOverHost) and (target is None
                                            or target.role is not Role.CO_THERAPIST):
        raise Forbidden("the host is handed to a co-therapist of this session")
    if isinstance(cmd, c.AddParticipant) and cmd.role is Role.THERAPIST:
        raise Forbidden("a session has exactly one therapist")
    if isinstance(cmd, c.SetMedia) and actor.role is Role.OBSERVER and (
        cmd.mic_on or cmd.camera_on
    ):
        raise Forbidden("observers stay muted with their camera off")
    if isinstance(cmd, c.LowerHand) and cmd.target not in (None, actor.id) and not actor.clinician:
        raise Forbidden("only clinicians lower someone else's hand")
    check_child_safe(actor, cmd, target)


def check_child_safe(actor: Participant, cmd: c.Command, target: Participant | None) -> None:
    """Child-safe mode's rules that are commands (screen share and chat are below)."""
    if isinstance(cmd, c.SetDisplayName) and actor.is_child_safe:
        raise ChildSafe("in child-safe mode your name is set by your clinician")
    if isinstance(cmd, c.SetChildSafe) and target is not None \
            and target.role in CLINICIANS | {Role.OBSERVER}:
        raise Forbidden("child-safe mode is for clients and children")


def may_share_screen(session: Session, pid: str) -> bool:
    p = session.participants.get(pid)
    if p is None or not p.present or p.is_child_safe:
        return False
    if p.role in CLINICIANS:
        return True
    return p.role in RELATIVES | {Role.CHILD} and session.screen_share_relatives


CHAT_SCOPES = ("room", "clinicians")  # every scope a message can be written to


def chat_scopes(session: Session, pid: str) -> tuple[str, ...]:
    """Which chat threads ``pid`` may write to: ``room`` (their current room) and
    ``clinicians`` (private to the clinicians). Child-safe mode and observers only the
    latter."""
    p = session.participants.get(pid)
    if p is None or not p.present:
        return ()
    if p.is_child_safe or p.role is Role.OBSERVER:
        return ("clinicians",)
    return CHAT_SCOPES


def may_chat(session: Session, sender: str, scope: str) -> bool:
    """Whether ``sender`` may write to ``scope`` (``room`` or ``clinicians``) right now."""
    return scope in chat_scopes(session, sender)


def check_screen_share(session: Session, pid: str) -> None:
    """Refuse a screen share the policy does not allow, saying why."""
    if may_share_screen(session, pid):
        return
    p = session.participants.get(pid)
    if p is not None and p.is_child_safe:
        raise ChildSafe("screen sharing is off in child-safe mode")
    raise Forbidden("you may not share your screen")


def check_chat(session: Session, sender: str, scope: str) -> None:
    """Refuse a chat message to a scope the sender may not write to, saying why."""
    if may_chat(session, sender, scope):
        return
    p = session.participants.get(sender)
    if p is not None and p.present and p.is_child_safe:
        raise ChildSafe("in child-safe mode you chat with your clinicians only")
    raise Forbidden("you may not write to that chat")
