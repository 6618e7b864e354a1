"""Signaling handlers: each parses a payload (already validated), calls the rooms
service or the chat log with the caller taken from the verified link, and returns
what the ack carries. Nothing here trusts an id from a payload as an identity."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rooms import commands as c
from rooms.errors import Forbidden, InvalidTransition, NotFound
from rooms.model import Participant, ParticipantStatus, Session, SessionPhase
from rooms.policy import check_chat
from rooms.service import RoomService
from rooms.visibility import chat_threads, location, readers, room_chat_scope
from signaling import schemas as s
from signaling.chat import ChatLog
from signaling.leaves import LeaveBatcher
from signaling.outbox import Outbox, history_view, message_view
from signaling.quality import QualityBoard
from signaling.registry import Caller, Empty, Registry, Runs
from signaling.tokens import JoinClaims

log = logging.getLogger("hearth.signaling")
GONE = (ParticipantStatus.REMOVED, ParticipantStatus.DENIED)


class AdmissionGate(Protocol):
    """Checks the server makes before a knock and an admission (consent on file).

    Each raises a DomainError with a readable message to refuse; ``hold_reason``
    says why a waiting person cannot be admitted yet (None: they can)."""

    async def check_knock(self, session: Session, p: Participant) -> None: ...

    async def check_admit(self, session: Session, pid: str) -> None: ...

    async def hold_reason(self, session: Session, pid: str) -> str | None: ...


class Locked(InvalidTransition):
    """Knocking on a locked session: the knocker is told, so nothing seems to hang."""

    code = "locked"


@dataclass
class Signaling:
    rooms: RoomService
    chat: ChatLog
    outbox: Outbox
    gate: AdmissionGate | None = None
    leaves: LeaveBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.leaves = LeaveBatcher(self.rooms)

    async def state(self, caller: Caller) -> Session:
        session = await self.rooms.get(caller.session_id)
        if session is None:
            raise NotFound("no such session")
        return session

    async def run(self, caller: Caller, cmd: c.Command) -> dict[str, Any]:
        session, _ = await self.rooms.execute(caller.session_id, cmd)
        return {"version": session.version}

    # --- connection lifecycle (called by the namespace) --------------------------
    async def on_join(self, caller: Caller, claims: JoinClaims) -> None:
        """Socket connecting: the person must belong to the session and not be gone."""
        session = await self.state(caller)
        p = session.participants.get(caller.participant_id)
        if p is None or p.role.value != caller.role:
            raise Forbidden("this link does not belong to the session")
        if p.status in GONE:
            raise Forbidden("you can no longer join this session")
        if session.phase is SessionPhase.ENDED:
            raise Forbidden("this session has ended")

    async def on_leave(self, caller: Caller, connected: Callable[[], bool]) -> None:
        """A socket closed: the person is reconnecting (or left the lobby). Disconnects
        that arrive together are one commit; the machine skips people already gone.
        ``connected`` says whether the person has another live socket here (another
        tab, or a reconnect before the batch was written): then nothing is recorded."""
        if connected():
            return  # another tab of the same person is still live
        await self.leaves.leave(caller.session_id, caller.participant_id, connected)


def build_registry(sig: Signaling) -> Registry:
    """Every event the client may send, with its schema and the commands it runs (who
    may send it is the policy's answer for them)."""
    r = Registry()
    run = sig.run

    def act(
        name: str, payload: type[Any], runs: Runs, make: Callable[[Caller, Any], c.Command]
    ) -> None:
        async def handler(caller: Caller, body: Any) -> Any:
            return await run(caller, make(caller, body))

        handler.__doc__ = make.__doc__
        r.event(name, payload, who=runs)(handler)

    @r.event("join", s.JoinPayload, who=Runs(c.Enter, note="with a link"))
    async def join(caller: Caller, body: s.JoinPayload) -> dict[str, Any]:
        """Enter: knock (or skip the lobby by role), then connect once admitted."""
        pid = caller.participant_id
        session = await sig.state(caller)
        me = session.participants[pid]
        if me.status in (ParticipantStatus.INVITED, ParticipantStatus.LEFT,
                         ParticipantStatus.WAITING):
            if session.locked and not me.clinician:
                raise Locked("the room is locked")
            if sig.gate is not None:
                await sig.gate.check_knock(session, me)
        session, _ = await sig.rooms.execute(caller.session_id, c.Enter(
            actor=pid, consent_version=body.consent_version, mic_on=body.mic_on,
            camera_on=body.camera_on))
        await sig.outbox.send_state(session, [pid])  # the caller always gets a snapshot
        await sig.outbox.send_history(session, pid)
        return {"status": session.participants[pid].status.value, "version": session.version}

    def make_leave(caller: Caller, body: Empty) -> c.Command:
        """Leave the session (rejoining later goes through the lobby)."""
        return c.Leave(actor=caller.participant_id)

    @r.event("admit", s.Target, who=Runs(c.Admit))
    async def admit(caller: Caller, body: s.Target) -> dict[str, Any]:
        """Let a waiting person in (a child only with a guardian's consent on file)."""
        if sig.gate is not None:
            await sig.gate.check_admit(await sig.state(caller), body.participant_id)
        return await run(caller, c.Admit(actor=caller.participant_id,
                                         target=body.participant_id))

    @r.event("admit_all", Empty, who=Runs(c.AdmitAll, c.Admit))
    async def admit_all(caller: Caller, body: Empty) -> dict[str, Any]:
        """Let everyone waiting in; people held for consent stay (listed in ``held``)."""
        if sig.gate is None:
            return await run(caller, c.AdmitAll(actor=caller.participant_id))
        session = await sig.state(caller)
        waiting = [pid for pid, p in session.participants.items()
                   if p.status is ParticipantStatus.WAITING]
        held = [pid for pid in waiting if await sig.gate.hold_reason(session, pid) is not None]
        if not held:
            return await run(caller, c.AdmitAll(actor=caller.participant_id))
        result: dict[str, Any] = {"version": session.version, "held": held}
        for pid in waiting:
            if pid not in held:
                result.update(await run(caller, c.Admit(actor=caller.participant_id,
                                                         target=pid)))
        return result

    def make_deny(caller: Caller, body: s.DenyPayload) -> c.Command:
        """Do not let a waiting person in; their link stops working."""
        return c.Deny(actor=caller.participant_id, target=body.participant_id,
                      message=body.message)

    def make_lobby_message(caller: Caller, body: s.LobbyMessagePayload) -> c.Command:
        """A one-to-one message to a person in the lobby."""
        return c.LobbyMessage(actor=caller.participant_id, target=body.participant_id,
                              text=body.text)

    def make_send_back(caller: Caller, body: s.Target) -> c.Command:
        """Send someone back to the lobby."""
        return c.SendBackToLobby(actor=caller.participant_id, target=body.participant_id)

    def make_remove(caller: Caller, body: s.Target) -> c.Command:
        """Remove someone from the session; their link stops working."""
        return c.RemoveParticipant(actor=caller.participant_id, target=body.participant_id)

    def make_mute(caller: Caller, body: s.Target) -> c.Command:
        """Mute someone's microphone (they may unmute themselves)."""
        return c.MuteRequest(actor=caller.participant_id, target=body.participant_id)

    def make_camera_off(caller: Caller, body: s.Target) -> c.Command:
        """Turn someone's camera off."""
        return c.CameraOffRequest(actor=caller.participant_id, target=body.participant_id)

    def make_ask_unmute(caller: Caller, body: s.Target) -> c.Command:
        """Ask someone to unmute; only they can unmute themselves."""
        return c.AskToUnmute(actor=caller.participant_id, target=body.participant_id)

    def make_media(caller: Caller, body: s.SetMediaPayload) -> c.Command:
        """Report your own microphone and camera state."""
        return c.SetMedia(actor=caller.participant_id, mic_on=body.mic_on,
                          camera_on=body.camera_on)

    def make_hand(caller: Caller, body: s.HandPayload) -> c.Command:
        """Raise or lower your hand."""
        pid = caller.participant_id
        return c.RaiseHand(actor=pid) if body.raised else c.LowerHand(actor=pid)

    def make_lock(caller: Caller, body: s.LockPayload) -> c.Command:
        """Lock (nobody new may knock) or unlock the session."""
        pid = caller.participant_id
        return c.Lock(actor=pid) if body.locked else c.Unlock(actor=pid)

    def make_hand_over(caller: Caller, body: s.Target) -> c.Command:
        """Make a co-therapist in the room the host; you become a co-therapist."""
        return c.HandOverHost(actor=caller.participant_id, target=body.participant_id)

    def make_screen_share(caller: Caller, body: s.ScreenSharePayload) -> c.Command:
        """Let relatives share a screen, or keep screen sharing to the clinicians."""
        return c.AllowScreenShare(actor=caller.participant_id, allowed=body.relatives)

    def make_end(caller: Caller, body: Empty) -> c.Command:
        """End the session for everyone; every link and socket stops."""
        return c.EndSession(actor=caller.participant_id)

    def make_create(caller: Caller, body: s.BreakoutsCreatePayload) -> c.Command:
        """Add breakout rooms."""
        return c.CreateBreakouts(actor=caller.participant_id, names=tuple(body.names))

    def make_rename(caller: Caller, body: s.BreakoutRenamePayload) -> c.Command:
        """Rename a breakout room (before opening)."""
        return c.RenameBreakout(actor=caller.participant_id, room_id=body.room_id,
                                name=body.name)

    def make_delete(caller: Caller, body: s.BreakoutRoomPayload) -> c.Command:
        """Delete a breakout room (before opening)."""
        return c.DeleteBreakout(actor=caller.participant_id, room_id=body.room_id)

    def make_assign(caller: Caller, body: s.AssignPayload) -> c.Command:
        """Assign someone to a room in advance (null: the main room)."""
        return c.Assign(actor=caller.participant_id, target=body.participant_id,
                        room_id=body.room_id)

    def make_auto(caller: Caller, body: Empty) -> c.Command:
        """Spread people evenly over the rooms; children stay with a guardian."""
        return c.AssignAuto(actor=caller.participant_id)

    def make_by_role(caller: Caller, body: s.ByRolePayload) -> c.Command:
        """Assign by a plan, e.g. each partner alone with a clinician."""
        return c.AssignByRole(actor=caller.participant_id, plan=body.plan)

    def make_open(caller: Caller, body: s.OpenPayload) -> c.Command:
        """Open the rooms: everyone moves at once, with an optional timer."""
        duration = body.minutes * 60 if body.minutes else None
        return c.OpenBreakouts(actor=caller.participant_id, duration=duration)

    def make_move(caller: Caller, body: s.MovePayload) -> c.Command:
        """Move one person while rooms are open."""
        return c.MoveParticipant(actor=caller.participant_id, target=body.participant_id,
                                 room_id=body.room_id)

    def make_visit(caller: Caller, body: s.VisitPayload) -> c.Command:
        """Visit a room without being assigned (null: come back)."""
        return c.Visit(actor=caller.participant_id, room_id=body.room_id)

    def make_extend(caller: Caller, body: s.ExtendPayload) -> c.Command:
        """Give the rooms more time."""
        return c.ExtendBreakouts(actor=caller.participant_id, seconds=body.minutes * 60)

    def make_broadcast(caller: Caller, body: s.BroadcastPayload) -> c.Command:
        """A message shown in every room."""
        return c.Broadcast(actor=caller.participant_id, text=body.text)

    def make_child_safe(caller: Caller, body: s.ChildSafePayload) -> c.Command:
        """Switch child-safe mode for one client or child (on for children by default)."""
        return c.SetChildSafe(actor=caller.participant_id, target=body.participant_id,
                              on=body.on)

    def make_help(caller: Caller, body: Empty) -> c.Command:
        """From a breakout: ask a clinician to come."""
        return c.AskForHelp(actor=caller.participant_id)

    def make_close(caller: Caller, body: s.ClosePayload) -> c.Command:
        """Close all rooms after a countdown (default 60 s)."""
        return c.CloseAll(actor=caller.participant_id, grace=body.grace_seconds)

    def make_next_phase(caller: Caller, body: s.PlanNextPayload) -> c.Command:
        """Session plan: move everyone to the next phase's rooms (the first starts it)."""
        return c.NextPhase(actor=caller.participant_id, grace=body.grace_seconds)

    def make_end_plan(caller: Caller, body: Empty) -> c.Command:
        """Session plan: stop following it (nobody moves)."""
        return c.EndPlan(actor=caller.participant_id)

    def make_private(caller: Caller, body: s.PrivateRoomPayload) -> c.Command:
        """Take one person into a private room with you (media and chat apart)."""
        return c.StepAside(actor=caller.participant_id, target=body.participant_id,
                           announce=body.announce)

    def make_private_end(caller: Caller, body: s.Target) -> c.Command:
        """Bring a person back from a private room (both return where they belong)."""
        return c.BringBack(actor=caller.participant_id, target=body.participant_id)

    act("plan_next", s.PlanNextPayload, Runs(c.NextPhase), make_next_phase)
    act("plan_end", Empty, Runs(c.EndPlan), make_end_plan)
    act("private_room", s.PrivateRoomPayload, Runs(c.StepAside), make_private)
    act("private_room_end", s.Target, Runs(c.BringBack), make_private_end)
    act("leave", Empty, Runs(c.Leave), make_leave)
    act("deny", s.DenyPayload, Runs(c.Deny), make_deny)
    act("lobby_message", s.LobbyMessagePayload, Runs(c.LobbyMessage), make_lobby_message)
    act("send_to_lobby", s.Target, Runs(c.SendBackToLobby), make_send_back)
    act("remove", s.Target, Runs(c.RemoveParticipant,
                                 note="only the therapist removes a clinician"), make_remove)
    act("mute_request", s.Target, Runs(c.MuteRequest), make_mute)
    act("camera_off_request", s.Target, Runs(c.CameraOffRequest), make_camera_off)
    act("unmute_request", s.Target, Runs(c.AskToUnmute), make_ask_unmute)
    act("set_media", s.SetMediaPayload, Runs(c.SetMedia, note="observers stay off"), make_media)
    act("hand", s.HandPayload, Runs(c.RaiseHand, c.LowerHand), make_hand)
    act("lock", s.LockPayload, Runs(c.Lock, c.Unlock), make_lock)
    act("screen_share_policy", s.ScreenSharePayload, Runs(c.AllowScreenShare), make_screen_share)
    act("hand_over_host", s.Target, Runs(c.HandOverHost, note="the host"), make_hand_over)
    act("end_session", Empty, Runs(c.EndSession), make_end)
    act("breakouts_create", s.BreakoutsCreatePayload, Runs(c.CreateBreakouts), make_create)
    act("breakouts_rename", s.BreakoutRenamePayload, Runs(c.RenameBreakout), make_rename)
    act("breakouts_delete", s.BreakoutRoomPayload, Runs(c.DeleteBreakout), make_delete)
    act("breakouts_assign", s.AssignPayload, Runs(c.Assign), make_assign)
    act("breakouts_auto", Empty, Runs(c.AssignAuto), make_auto)
    act("breakouts_by_role", s.ByRolePayload, Runs(c.AssignByRole), make_by_role)
    act("breakouts_open", s.OpenPayload, Runs(c.OpenBreakouts), make_open)
    act("breakouts_move", s.MovePayload, Runs(c.MoveParticipant), make_move)
    act("breakouts_visit", s.VisitPayload, Runs(c.Visit), make_visit)
    act("breakouts_extend", s.ExtendPayload, Runs(c.ExtendBreakouts), make_extend)
    act("breakouts_help", Empty, Runs(c.AskForHelp, note="in a breakout"), make_help)
    act("breakouts_close", s.ClosePayload, Runs(c.CloseAll), make_close)
    act("child_safe", s.ChildSafePayload, Runs(c.SetChildSafe), make_child_safe)

    @r.event("chat_send", s.ChatSendPayload,
             who="room: adults present; clinicians: anyone present (children only this)")
    async def chat_send(caller: Caller, body: s.ChatSendPayload) -> dict[str, Any]:
        """Send a chat message to your room, or privately to the clinicians."""
        session = await sig.state(caller)
        pid = caller.participant_id
        me = session.participants[pid]
        check_chat(session, pid, body.scope)
        thread = _thread(session, pid, body.scope, body.to)
        message = await sig.chat.append(
            session.id, thread, sender=pid, sender_name=me.display_name,
            sender_role=me.role.value, text=body.text)
        await sig.outbox.to(session.id, readers(session, thread), "chat", message_view(message))
        return {"id": message.id, "scope": thread}

    @r.event("breakouts_broadcast", s.BroadcastPayload, who=Runs(c.Broadcast))
    async def breakouts_broadcast(caller: Caller, body: s.BroadcastPayload) -> dict[str, Any]:
        """A message shown in every room, and kept in each room's chat, marked."""
        session, _ = await sig.rooms.execute(caller.session_id, make_broadcast(caller, body))
        me = session.participants[caller.participant_id]
        threads = ["main", *(f"breakout:{room.id}" for room in session.breakouts.rooms)]
        for thread in threads:
            message = await sig.chat.append(
                session.id, thread, sender=me.id, sender_name=me.display_name,
                sender_role=me.role.value, text=body.text, kind="broadcast")
            await sig.outbox.to(session.id, readers(session, thread), "chat",
                                message_view(message))
        return {"version": session.version}

    quality = QualityBoard()

    @r.event("media_quality", s.MediaQualityPayload, who="anyone in the session")
    async def media_quality(caller: Caller, body: s.MediaQualityPayload) -> dict[str, Any]:
        """Your connection's level as you measure it; returns the levels of people you see.

        Sent on change and every few seconds; those who see you get ``media_quality``
        when it changes (signaling/quality.py)."""
        session = await sig.state(caller)
        pid = caller.participant_id
        if location(session, pid) is None:
            raise InvalidTransition("join the session first")
        for viewer in quality.report(session, pid, body.level):
            await sig.outbox.to(session.id, [viewer], "media_quality",
                                {"levels": quality.seen_by(session, viewer)})
        return {"levels": quality.seen_by(session, pid)}

    @r.event("chat_earlier", s.ChatEarlierPayload, who="anyone who reads the thread")
    async def chat_earlier(caller: Caller, body: s.ChatEarlierPayload) -> dict[str, Any]:
        """The page of a chat thread just before position ``before`` ("Load earlier")."""
        session = await sig.state(caller)
        if body.scope not in chat_threads(session, caller.participant_id):
            raise Forbidden("you do not read that chat")
        page = await sig.chat.page(session.id, body.scope, before=body.before)
        return history_view(body.scope, page)

    return r


def _thread(session: Session, pid: str, scope: str, to: str | None) -> str:
    me = session.participants[pid]
    if scope == "room":
        if to is not None:
            raise InvalidTransition("room messages go to everyone in the room")
        thread = room_chat_scope(session, pid)
        if thread is None:
            raise InvalidTransition("join the session first")
        return thread
    if not me.clinician:
        if to is not None:
            raise Forbidden("private messages go to the clinicians")
        return f"private:{pid}"
    if to is None:
        return "clinical"  # the clinicians' backchannel
    other = session.participants.get(to)
    if other is None or other.clinician:
        raise NotFound("no such participant")
    return f"private:{to}"


Hook = Callable[..., Awaitable[None]]
