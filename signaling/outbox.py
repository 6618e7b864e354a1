"""The outbox: every server → client message goes out here.

Messages are addressed to per-participant socket.io rooms (``p:<session>:<id>``),
and audiences are resolved from the committed state with the same visibility
functions the relay uses. Socket.io rooms are only broadcast groups; the state
in the store is the truth. Through ``AsyncRedisManager`` an emit reaches the
socket on whichever process holds it.

State snapshots are coalesced: every commit to a session made in the same event-loop
tick (or while the previous round of that session is still going out) joins one
round, which sends each viewer the newest state once. Each commit's ``publish``
returns only after a round that includes its version went out, so an ack never
overtakes its snapshot. A mass disconnect (200 sockets gone at once) thus costs a few
rounds instead of one per disconnect, and a round yields to the loop as it goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rooms.events import ENDINGS, Event, Scope
from rooms.events import EventKind as K
from rooms.model import ParticipantStatus, Session
from rooms.visibility import members, reads_room_chat, room_chat_scope
from signaling import timing
from signaling.chat import ChatLog, ChatMessage, Page
from signaling.views import snapshot

log = logging.getLogger("hearth.outbox")

# Domain events that reach people as a ``notice`` of the same kind.
NOTICES = frozenset({
    K.KNOCK, K.LOBBY_MESSAGE, K.DENIED, K.SENT_BACK, K.REMOVED, K.SESSION_ENDED,
    K.MUTE_REQUESTED, K.CAMERA_OFF_REQUESTED, K.UNMUTE_REQUESTED, K.BROADCAST,
    K.HELP_REQUESTED, K.CLOSE_ALL_STARTED, K.BREAKOUTS_OPENED, K.BREAKOUTS_CLOSED,
    K.CHILD_RETURNED, K.PHASE_REFUSED,
})
# People written into snapshots between two yields to the event loop: a snapshot costs
# about its session's size, so a 210-person round yields every other snapshot (other
# sessions' acks go out in between) and a family of 4 sends 64 before yielding.
YIELD_AFTER = 256


def socket_room(session_id: str, participant_id: str) -> str:
    return f"p:{session_id}:{participant_id}"


def session_of_room(room: str) -> str:
    """The session id inside a ``socket_room`` name."""
    return room.split(":", 2)[1]


def audience(session: Session, event: Event) -> set[str]:
    scope, target = event.audience.scope, event.audience.target
    if scope is Scope.SESSION:
        return set(session.participants)
    if scope is Scope.PARTICIPANT:
        return {target} if target is not None and target in session.participants else set()
    if scope is Scope.CLINICIANS:
        return {p.id for p in session.participants.values() if p.clinician and p.present}
    return set(members(session, target or "main"))


# One message to one socket room, or the same message to a list of rooms (encoded once).
Emit = Callable[[str, Any, str | list[str]], Awaitable[None]]
Kick = Callable[[str, str | None], Awaitable[None]]


@dataclass
class _Round:
    """Commits waiting for the next state round of one session."""

    session: Session
    done: asyncio.Future[None]


# Nobody with these has a socket: never invited in, or their socket closed. A person
# reconnecting gets a snapshot from their own ``join``, so a round skips them.
NO_SOCKET = frozenset({ParticipantStatus.INVITED, ParticipantStatus.RECONNECTING})


def state_recipients(session: Session) -> list[str]:
    """Everyone who gets the session's snapshots: all but people with no socket (after
    a mass disconnect that is the few who stayed, not the whole crowd)."""
    return [pid for pid, p in session.participants.items() if p.status not in NO_SOCKET]


class Outbox:
    """A RoomService port: turns committed changes into socket messages."""

    def __init__(self, emit: Emit, kick: Kick, chat: ChatLog,
                 *, on_ended: Callable[[str], Awaitable[None]] | None = None,
                 on_gone: Callable[[str, str], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._emit = emit
        self._kick = kick
        self._chat = chat
        self._on_ended = on_ended
        self._on_gone = on_gone
        self._clock = clock
        self._rounds: dict[str, _Round] = {}  # per session: the round not yet started
        self._sending: dict[str, asyncio.Lock] = {}  # rounds of a session go in order
        self._histories: dict[str, asyncio.Lock] = {}  # histories of a session go in order
        self._tasks: set[asyncio.Task[None]] = set()
        self.rounds = 0  # state rounds sent (coalescing is tested on this)
        self.yields = 0  # times a round gave the loop to others (tested on this)

    async def to(self, session_id: str, pids: Iterable[str], event: str, data: Any) -> None:
        """The same message to several people: one emit addressed to all their rooms,
        so it is encoded (and, through Redis, published) once, not once per person."""
        rooms = sorted(socket_room(session_id, pid) for pid in pids)
        if rooms:
            await self._emit(event, data, rooms)

    async def send_state(self, session: Session, pids: Iterable[str]) -> None:
        now = self._clock()
        weight, written = max(1, len(session.participants)), 0
        for pid in pids:
            if written >= YIELD_AFTER:
                self.yields += 1
                await asyncio.sleep(0)  # a big session's round must not stall the others
                written = 0
            await self._emit("state", snapshot(session, pid, now=now),
                             socket_room(session.id, pid))
            written += weight

    async def broadcast_state(self, session: Session) -> None:
        """Send everyone the newest state, in one round shared by the commits of this
        tick; return once a round carrying ``session.version`` (or newer) went out."""
        pending = self._rounds.get(session.id)
        if pending is None:
            pending = _Round(session, asyncio.get_running_loop().create_future())
            self._rounds[session.id] = pending
            task = asyncio.get_running_loop().create_task(self._round(session.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif session.version > pending.session.version:
            pending.session = session
        await asyncio.shield(pending.done)

    async def _round(self, session_id: str) -> None:
        lock = self._sending.setdefault(session_id, asyncio.Lock())
        async with lock:
            await asyncio.sleep(0)  # the rest of this tick's commits join this round
            pending = self._rounds.pop(session_id)
            try:
                self.rounds += 1
                await self.send_state(pending.session, state_recipients(pending.session))
            except Exception:  # a failing emit must not hold the commits that wait
                log.exception("state round failed", extra={"session": session_id})
            finally:
                if not pending.done.done():
                    pending.done.set_result(None)
                if session_id not in self._rounds:
                    self._sending.pop(session_id, None)

    async def send_history(self, session: Session, pid: str) -> None:
        for thread in threads_for(session, pid):
            page = await self._chat.page(session.id, thread)
            await self._emit("chat_history", history_view(thread, page),
                             socket_room(session.id, pid))

    def _histories_later(self, session: Session) -> None:
        """Everyone's chat threads after a room change, sent once this commit has moved
        the relay: RoomService re-points the relay when its sinks return, and a dozen
        history pages read and sent first kept a breakout's people seeing and hearing
        the room they left for that long. Histories of a session go out in commit
        order (the lock is first come, first served)."""
        lock = self._histories.setdefault(session.id, asyncio.Lock())

        async def send() -> None:
            async with lock:
                try:
                    for pid, p in session.participants.items():
                        if p.present:
                            await self.send_history(session, pid)
                except Exception:  # a failing read must not stop the next commit's
                    log.exception("chat histories failed", extra={"session": session.id})

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        timing.first("committed")  # the first sink: the change is in the store
        kinds = {e.kind for e in events}
        for event in events:
            if event.kind not in NOTICES:
                continue
            data = {"kind": event.kind.value, "version": event.version, **dict(event.data)}
            await self.to(session.id, audience(session, event), "notice", data)
        if K.STATE_CHANGED in kinds:
            await self.broadcast_state(session)
            timing.first("snapshot")
        if K.VISIBILITY_CHANGED in kinds:
            self._histories_later(session)
        for event in events:
            if event.kind is K.SESSION_ENDED:
                self._histories.pop(session.id, None)
                if self._on_ended:
                    await self._on_ended(session.id)
                await self._kick(session.id, None)
            elif event.kind in ENDINGS and event.audience.target:
                if self._on_gone:
                    await self._on_gone(session.id, event.audience.target)
                await self._kick(session.id, event.audience.target)


def threads_for(session: Session, pid: str) -> list[str]:
    """Chat threads a participant reads: their room, and private threads."""
    p = session.participants[pid]
    threads = []
    room = room_chat_scope(session, pid)
    if room is not None and reads_room_chat(p):
        threads.append(room)
    if p.clinician:
        threads.append("clinical")
        threads += [f"private:{q}" for q, other in session.participants.items()
                    if not other.clinician]
    elif p.present:
        threads.append(f"private:{pid}")
    return threads


def message_view(m: ChatMessage) -> dict[str, Any]:
    return {"id": m.id, "scope": m.scope, "sender": m.sender, "sender_name": m.sender_name,
            "sender_role": m.sender_role, "text": m.text, "ts": m.ts, "kind": m.kind}


def history_view(thread: str, page: Page) -> dict[str, Any]:
    """One page of a thread; ``start`` > 0 means earlier messages can be asked for."""
    return {"scope": thread, "messages": [message_view(m) for m in page.messages],
            "start": page.start}
