"""What the node serving a session does for it, beyond the rooms service's sinks.

A session's sockets all live on the node it is placed on (server/placement.py). That
node sends them messages without a trip through Redis, closes them when people are
removed or the session ends, sends them to another node when the session moves, and
applies the part of a change committed elsewhere (a REST call on another node) that
only it can apply: closing sockets, letting the relay go, re-arming timers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from rooms.events import ENDINGS, EventKind
from rooms.model import ParticipantStatus, Session, SessionPhase
from rooms.service import RoomService
from server.directory import Directory
from server.placement import Placement
from server.reconcile import Reconciler
from server.tasks import stop_task
from signaling.chat import ChatLog
from signaling.media import MediaSink
from signaling.namespace import HearthNamespace
from signaling.outbox import Outbox, session_of_room, state_recipients
from signaling.registry import Caller
from signaling.service import Signaling
from signaling.tokens import LinkSigner

KICK_DELAY = 0.3  # seconds between a closing notice and the close
#: who counts as here: in the lobby or in the session with a live socket
_SOCKETED = frozenset({ParticipantStatus.WAITING, ParticipantStatus.CONNECTED,
                       ParticipantStatus.ADMITTED})


class RelaySessions(Protocol):
    async def close_session(self, session_id: str) -> None: ...


class Parts(Protocol):
    """The objects a serving node acts through (built by server/composition.py)."""

    sio: Any
    namespace: HearthNamespace
    placement: Placement
    outbox: Outbox
    relay: RelaySessions
    media_sink: MediaSink
    rooms: RoomService
    reconciler: Reconciler
    links: LinkSigner
    directory: Directory
    chat: ChatLog
    signaling: Signaling


class ServingNode:
    """This node's side of the sessions placed on it. ``parts`` is read when a method
    runs, so the hooks can be handed out before every part exists."""

    def __init__(self, parts: Parts, *, chat_retention: float, move_settle: float = 10.0
                 ) -> None:
        self._parts = parts
        self._chat_retention = chat_retention
        self._move_settle = move_settle
        self._tasks: set[asyncio.Task[None]] = set()

    # --- delivery --------------------------------------------------------------------
    async def emit(self, event: str, data: Any, room: str | list[str]) -> None:
        """Send to one person's sockets (or several people's, all of one session). A
        session's sockets all live on the node it is placed on, so from there the message
        skips Redis (one publish per emit, which every node would decode); from any other
        node it goes through Redis."""
        first = room if isinstance(room, str) else room[0]
        local = self._parts.placement.is_local(session_of_room(first))
        await self._parts.sio.emit(event, data, room=room, ignore_queue=local)

    async def kick(self, session_id: str, participant_id: str | None) -> None:
        """Close sockets shortly after the notice, so acks and notices reach them first.

        Until then the sockets can do nothing: their links and state already refuse.
        """
        async def later() -> None:
            await asyncio.sleep(KICK_DELAY)
            await self._parts.namespace.kick(session_id, participant_id)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, sids: list[str], notice: dict[str, Any]) -> None:
        for sid in sids:
            await self._parts.sio.emit("notice", notice, to=sid)

    async def move(self, sids: list[str]) -> None:
        """Ask these sockets to reconnect (they land on the serving node), then close them."""
        await self._notify(sids, {"kind": "moved"})
        await asyncio.sleep(KICK_DELAY)  # let the notices go out before the sockets close
        for sid in sids:
            await self._parts.namespace.disconnect(sid)

    # --- placement ---------------------------------------------------------------------
    async def leave(self, caller: Caller, connected: Callable[[], bool]) -> None:
        """A socket closed. Once this node no longer serves the session (it drained, or
        the session moved), the person is moving: the serving node keeps their presence,
        so a disconnect batch written here later must not undo their reconnect there."""
        session_id = caller.session_id
        placement = self._parts.placement
        await self._parts.signaling.on_leave(
            caller, lambda: connected() or not placement.is_local(session_id))

    async def place(self, session_id: str) -> str | None:
        """None when the session is served here, else the URL of the node that serves it."""
        node = await self._parts.placement.locate(session_id)
        return None if node.id == self._parts.placement.node_id else node.url

    async def claimed(self, session_id: str) -> None:
        """A session placed (or taken over) here: its timers run here from now on, and
        whoever has not reconnected here ``move_settle`` seconds later is recorded as
        gone (the node they left ignored their disconnect: see ``leave``)."""
        await self._parts.rooms.resume(session_id)
        task = asyncio.get_running_loop().create_task(self._settle(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, session_id: str) -> None:
        await asyncio.sleep(self._move_settle)
        session = await self._parts.rooms.get(session_id)
        if (session is None or session.phase is SessionPhase.ENDED
                or not self._parts.placement.is_local(session_id)):
            return
        namespace, leaves = self._parts.namespace, self._parts.signaling.leaves
        gone = [pid for pid, p in session.participants.items()
                if p.status in _SOCKETED and not namespace.sids_of(session_id, pid)]
        for pid in gone:
            def connected(pid: str = pid) -> bool:
                return bool(namespace.sids_of(session_id, pid))
            await leaves.leave(session_id, pid, connected)

    async def lost(self, session_id: str) -> None:
        """Another node took this session over (our record lapsed): send its people there."""
        await self.move(self._parts.namespace.sids_of(session_id, None))

    def beaten(self, recovered: bool) -> None:
        """Each heartbeat: catch up on what the bus missed; after a store outage, resend."""
        self._parts.reconciler.request(force=recovered)

    async def redis_back(self) -> None:
        """A Redis subscription came back: messages may have been lost meanwhile."""
        self._parts.reconciler.request(force=True)

    # --- the outbox's hooks ------------------------------------------------------------
    async def ended(self, session_id: str) -> None:
        """Every link of the session stops; chat is purged now or after the retention."""
        await self._parts.links.end_session(session_id)
        await self._parts.placement.release(session_id)
        await self._parts.chat.expire(session_id, self._chat_retention, now=time.time())

    async def gone(self, session_id: str, participant_id: str) -> None:
        """A denied or removed person's current link is revoked on every node."""
        link = await self._parts.directory.current_link(session_id, participant_id)
        if link is not None:
            await self._parts.links.revoke(link.jti, until=link.expires)

    # --- changes seen in the store or on the bus ---------------------------------------
    async def end_here(self, session: Session) -> None:
        """The session ended (seen in the store): tell this node's sockets, close them,
        let the relay and the placement go. Repeating it is harmless."""
        p = self._parts
        await self._notify(p.namespace.sids_of(session.id, None),
                           {"kind": "session_ended", "version": session.version})
        await p.outbox.send_state(session, state_recipients(session))
        await p.relay.close_session(session.id)
        await self.kick(session.id, None)
        await p.placement.release(session.id)

    async def refresh_here(self, session: Session) -> None:
        """The stored state is newer than what this node's clients were sent: people
        removed or denied leave, the relay follows, timers re-arm, everyone gets a fresh
        viewer-filtered snapshot."""
        p = self._parts
        for pid, person in session.participants.items():
            if person.status in (ParticipantStatus.REMOVED, ParticipantStatus.DENIED):
                sids = p.namespace.sids_of(session.id, pid)
                await self._notify(sids, {"kind": person.status.value,
                                          "version": session.version})
                if sids:
                    await self.kick(session.id, pid)
        await p.media_sink.publish(session, [])
        await p.rooms.reconcile_media(session.id)
        await p.rooms.resume(session.id)
        await p.outbox.send_state(session, state_recipients(session))

    async def changed_elsewhere(self, change: dict[str, Any]) -> None:
        """Another node committed a change to a session served here (a REST call):
        do what only this node can: close sockets, let the relay go, re-arm timers."""
        p = self._parts
        session_id = str(change["session"])
        if not p.placement.is_local(session_id):
            return
        session = await p.rooms.get(session_id)
        if session is None:
            return
        events = [(EventKind(kind), target) for kind, target in change["events"]]
        if any(kind is EventKind.SESSION_ENDED for kind, _ in events):
            # The committing node's notice travels through socket.io's Redis manager and
            # may arrive after the kick (or not at all): tell our sockets from here too.
            p.reconciler.forget(session_id)
            await self.end_here(session)
            return
        p.reconciler.note(session_id, int(change["version"]))
        for kind, target in events:
            if kind in ENDINGS and target:
                await self._notify(p.namespace.sids_of(session_id, str(target)),
                                   {"kind": kind, "version": session.version})
                await self.kick(session_id, str(target))
            elif kind is EventKind.LINK_REVOKED and target:
                await p.namespace.close_revoked(session_id, str(target))
        await p.media_sink.publish(session, [])  # people no longer present leave
        if any(kind is EventKind.VISIBILITY_CHANGED for kind, _ in events):
            await p.rooms.reconcile_media(session_id)
        await p.rooms.resume(session_id)

    async def close(self) -> None:
        """Cancel closes still waiting (the sockets go with the server anyway), bounded."""
        for task in list(self._tasks):
            await stop_task(task, "serving")

