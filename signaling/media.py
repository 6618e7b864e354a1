"""Media signaling: the events that negotiate with the relay, and the sink that keeps
the relay's visibility in step with the rooms domain.

The relay is reached only through ``MediaPort`` (the server wires the real one);
from ``media`` signaling imports only the pure gap bookkeeping (``media.health``).
Which media a person receives is always ``rooms.visibility.visible_publishers``:
nothing here takes a track id from a client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, StringConstraints, field_validator

from media.health import Changes, GapTracker
from rooms import commands as c
from rooms.errors import DomainError, Forbidden, InvalidTransition
from rooms.events import Event, EventKind
from rooms.model import ParticipantStatus, Role, Session, SessionPhase
from rooms.policy import check_screen_share
from rooms.visibility import location, members, visible_publishers
from signaling import timing
from signaling.outbox import socket_room
from signaling.registry import Caller, Empty, Payload, Registry
from signaling.service import Signaling

log = logging.getLogger("hearth.media")
SDP_EVENT_BYTES = 160 * 1024  # above the relay's own SDP cap, so it answers with its code


class MediaPort(Protocol):
    """What signaling needs from the relay (``media.relay.Relay`` satisfies it)."""

    async def join(self, session_id: str, participant_id: str,
                   slots: int | None = None) -> dict[str, Any]: ...
    async def leave(self, session_id: str, participant_id: str) -> None: ...
    async def publish_offer(self, session_id: str, participant_id: str, sdp: str,
                            sources: Mapping[str, str] | None = None) -> str: ...
    async def subscribe_offer(self, session_id: str, participant_id: str) -> str: ...
    async def subscribe_answer(self, session_id: str, participant_id: str, sdp: str) -> None: ...
    async def add_ice_candidate(self, session_id: str, participant_id: str, leg: str,
                                candidate: Mapping[str, Any] | None) -> None: ...
    def publications(self, session_id: str) -> list[dict[str, Any]]: ...
    def set_paused(self, session_id: str, publication_id: str, paused: bool) -> None: ...
    def set_visible(self, session_id: str, subscriber_id: str,
                    publisher_ids: Iterable[str]) -> dict[str, Any]: ...
    async def close_session(self, session_id: str) -> None: ...
    def layout(self, session_id: str, subscriber_id: str) -> dict[str, dict[str, Any]]: ...
    def layout_message(self, session_id: str, subscriber_id: str) -> dict[str, Any]: ...
    def expected(self, session_id: str, viewer_id: str) -> set[tuple[str, str]]: ...
    def repair(self, session_id: str, viewer_id: str, publisher_id: str, kind: str,
               attempt: int = 1, blind: bool = False) -> str: ...
    def set_view(self, session_id: str, viewer_id: str,
                 sizes: Mapping[str, tuple[int, int]]) -> None: ...


Source = Literal["mic", "camera", "screen"]


class PublishPayload(Payload):
    sdp: str = Field(min_length=1, max_length=SDP_EVENT_BYTES)
    sources: dict[str, Source] = Field(default_factory=dict, max_length=8)


class AnswerPayload(Payload):
    sdp: str = Field(min_length=1, max_length=SDP_EVENT_BYTES)


class IcePayload(Payload):
    leg: Literal["publish", "subscribe"]
    candidate: dict[str, Any] | None = None


class BadCandidate(DomainError):
    code = "bad_candidate"


CANDIDATE = re.compile(
    r"^(?:candidate:)?[A-Za-z0-9+/]{1,32} [12] (?:udp|tcp) \d{1,10} (\S{1,64}) (\d{1,5}) "
    r"typ (?:host|srflx|prflx|relay)(?: [A-Za-z0-9_.:/+-]{1,64}){0,20}$", re.IGNORECASE)


def check_candidate(candidate: Mapping[str, Any] | None) -> None:
    """Refuse a malformed candidate with a message a person can read (before the relay's
    parser, whose exceptions say nothing useful)."""
    if candidate is None or not candidate.get("candidate"):
        return  # end of candidates
    line = candidate["candidate"]
    match = CANDIDATE.match(line) if isinstance(line, str) and len(line) <= 512 else None
    if match is None:
        raise BadCandidate("the ICE candidate is not valid: expected 'candidate:<foundation> "
                           "<component> udp|tcp <priority> <address> <port> typ <type>'")
    address, port = match.group(1), int(match.group(2))
    if not 0 < port < 65536:
        raise BadCandidate("the ICE candidate's port is out of range")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        if not address.endswith(".local"):  # mDNS names are the only names browsers send
            raise BadCandidate("the ICE candidate's address is not an IP address") from None
        return
    if ip.is_multicast or ip.is_unspecified:
        raise BadCandidate("the ICE candidate's address cannot receive media")
    mid, index = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
    if mid is not None and not (isinstance(mid, str) and len(mid) <= 32):
        raise BadCandidate("the ICE candidate's sdpMid is not valid")
    if index is not None and not (isinstance(index, int) and 0 <= index < 256):
        raise BadCandidate("the ICE candidate's sdpMLineIndex is not valid")


class PausePayload(Payload):
    source: Source
    paused: bool


class Receiving(BaseModel):
    model_config = {"extra": "forbid"}
    audio: bool = False
    video: bool = False


PersonId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                            pattern=r"^[A-Za-z0-9_-]+$")]


class ReportPayload(Payload):
    receiving: dict[PersonId, Receiving] = Field(max_length=64)


MAX_VIEW_SLOTS = 64  # as many as a subscribe connection's m-lines
MAX_VIEW_PIXELS = 16384
SLOT_MID = re.compile(r"^[0-9]{1,3}$")  # the relay numbers its subscribe m-lines


class ViewPayload(Payload):
    """Each remote video tile's rendered size in device pixels, by the mid of the
    receive slot it shows; ``[0, 0]``: not on screen."""

    sizes: dict[str, list[Any]] = Field(max_length=MAX_VIEW_SLOTS, description="mid → "
                                        "[width, height], whole device pixels 0..16384")

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> Any:
        """Readable refusals: which slot and what is wrong with it."""
        if not isinstance(value, dict):
            raise ValueError("expected {mid: [width, height], ...}")
        if len(value) > MAX_VIEW_SLOTS:
            raise ValueError(f"at most {MAX_VIEW_SLOTS} tiles ({len(value)} given)")
        for mid, size in value.items():
            if not isinstance(mid, str) or not SLOT_MID.match(mid):
                raise ValueError(f"{str(mid)[:20]!r} is not a receive slot's mid")
            if not (isinstance(size, list) and len(size) == 2 and all(
                    type(n) is int and 0 <= n <= MAX_VIEW_PIXELS for n in size)):
                raise ValueError(f"slot {mid}: the size must be [width, height], whole "
                                 f"pixels from 0 to {MAX_VIEW_PIXELS}")
        return value

    def view(self) -> dict[str, tuple[int, int]]:
        return {mid: (int(size[0]), int(size[1])) for mid, size in self.sizes.items()}


def _present(session: Session, pid: str) -> None:
    p = session.participants[pid]
    if not p.present:
        raise InvalidTransition("media starts once you are admitted")


#: a publication's source -> the participant flag that says its owner turned it on
SWITCH = {"mic": "mic_on", "camera": "camera_on"}
GONE_STATUSES = {ParticipantStatus.LEFT, ParticipantStatus.REMOVED, ParticipantStatus.DENIED}


def slots_for(session: Session, pid: str) -> int:
    """Receive slots per kind for a new subscribe connection: everyone else on the
    session's list (they may all come to be seen) plus one screen share, so a family
    admitted together never makes the relay renegotiate."""
    others = sum(1 for q in session.participants.values()
                 if q.id != pid and q.status not in GONE_STATUSES)
    return others + 1


def own_sources(media: MediaPort, session_id: str, pid: str) -> dict[str, list[str]]:
    """This person's publications at the relay: source -> publication ids."""
    out: dict[str, list[str]] = {}
    for pub in media.publications(session_id):
        if pub.get("publisher_id") == pid:
            out.setdefault(str(pub.get("source")), []).append(str(pub["publication_id"]))
    return out


def sync_switches(media: MediaPort, session: Session) -> None:
    """The relay forwards a microphone or camera only while its owner's state says on
    (their own choice, a clinician's mute, camera off): a source whose state is off is
    paused here; resuming is the owner's own ``media_pause``, refused while it is off."""
    try:
        pubs = media.publications(session.id)
    except Exception as exc:  # no router yet: nothing is published
        if getattr(exc, "code", None) is None:
            raise
        return
    for pub in pubs:
        flag = SWITCH.get(str(pub.get("source")))
        p = session.participants.get(str(pub.get("publisher_id")))
        if flag is None or p is None:
            continue
        if not getattr(p, flag) and not pub.get("paused"):
            media.set_paused(session.id, str(pub["publication_id"]), True)


IceServersFor = Callable[[str], list[dict[str, Any]]]


Emit = Callable[[str, Any, str], Awaitable[None]]  # (event, data, socket room)
#: ("opened" | "closed" | "repair", seconds for "closed" else None)
GapObserver = Callable[[str, float | None], None]
SessionGetter = Callable[[str], Awaitable[Session | None]]


class MediaHealth:
    """Everyone sees whose media is lost; clinicians see who cannot see or hear whom.

    * ``media_health {"stalled": [pid, ...]}`` to every present person, on change:
      people whose media stopped arriving at the relay (its ``health`` event) or whose
      socket has been lost for ``lost_after`` seconds.
    * Each browser reports, per remote person, whether it decodes their audio and
      video (``media_report``). Compared with what the relay should be delivering
      (``MediaPort.expected``), a difference that lasts past the threshold is a gap:
      repaired (``MediaPort.repair``) and repaired again while it lasts, counted, and
      sent to clinicians as ``media_gaps``.
    """

    def __init__(self, media: MediaPort, session: SessionGetter, emit: Emit,
                 on_gap: GapObserver | None = None, lost_after: float = 2.0,
                 threshold: float = 2.0) -> None:
        self._media = media
        self._session = session
        self._emit = emit
        self._on_gap = on_gap
        self.lost_after = lost_after
        self.threshold = threshold
        self._gaps: dict[str, GapTracker] = {}
        self._media_stalled: dict[str, set[str]] = {}
        self._lost_since: dict[str, dict[str, float]] = {}
        self._sent: dict[str, list[str]] = {}
        self._sent_gaps: dict[str, list[dict[str, object]]] = {}
        # One recheck per session, due when its earliest lost socket passes
        # ``lost_after`` (a crowd lost at once is one recheck, not one per person).
        self._rechecks: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self.rechecks = 0

    # -- who is stalled ------------------------------------------------------------
    async def relay_stalled(self, session_id: str, stalled: Iterable[str]) -> None:
        """The relay's ``health`` event: publishers whose media stopped arriving."""
        self._media_stalled[session_id] = set(stalled)
        session = await self._session(session_id)
        if session is not None:
            await self.session_changed(session)

    async def session_changed(self, session: Session) -> None:
        """After every committed change (a socket lost or back, someone left)."""
        sid = session.id
        if session.phase is SessionPhase.ENDED:
            self.forget_session(sid)
            return
        now = time.monotonic()
        lost = self._lost_since.setdefault(sid, {})
        reconnecting = {pid for pid, p in session.participants.items()
                        if p.status is ParticipantStatus.RECONNECTING}
        for pid in list(lost):
            if pid not in reconnecting:
                del lost[pid]
        for pid in reconnecting - lost.keys():
            lost[pid] = now
        pending = [since for since in lost.values() if now - since < self.lost_after]
        if pending:
            self._arm(sid, min(pending) + self.lost_after + 0.05, now)
        stalled = {pid for pid, since in lost.items() if now - since >= self.lost_after}
        stalled |= {pid for pid in self._media_stalled.get(sid, set())
                    if pid in session.participants and session.participants[pid].present}
        tracker = self._gaps.get(sid)
        if tracker is not None:
            for pid, p in session.participants.items():
                if not p.present or pid in stalled:
                    self._count(tracker.forget(pid, now))
        listing = sorted(stalled)
        if self._sent.get(sid, []) != listing:
            self._sent[sid] = listing
            for pid, p in session.participants.items():
                if p.present:
                    await self._emit("media_health", {"stalled": listing}, socket_room(sid, pid))
        await self._send_gaps(session)

    def _arm(self, session_id: str, due: float, now: float) -> None:
        """Recheck at ``due`` (monotonic) unless one is armed no later: that one re-arms
        for whoever is still within ``lost_after`` when it runs."""
        armed = self._rechecks.get(session_id)
        if armed is not None:
            if armed[0] <= due:
                return
            armed[1].cancel()
        handle = asyncio.get_running_loop().call_later(due - now, self._recheck, session_id)
        self._rechecks[session_id] = (due, handle)

    def _recheck(self, session_id: str) -> None:
        self._rechecks.pop(session_id, None)
        self.rechecks += 1

        async def run() -> None:
            session = await self._session(session_id)
            if session is not None:
                await self.session_changed(session)

        def done(task: asyncio.Future[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.warning("media health check failed", exc_info=task.exception())

        asyncio.ensure_future(run()).add_done_callback(done)

    def stalled(self, session_id: str) -> list[str]:
        """What ``media_health`` last said for the session."""
        return list(self._sent.get(session_id, []))

    # -- desired vs actual ------------------------------------------------------------
    async def report(self, session: Session, viewer: str,
                     receiving: Mapping[str, Receiving]) -> dict[str, Any]:
        """One browser's report of what it decodes; returns the viewer's open gaps."""
        sid = session.id
        now = time.monotonic()
        tracker = self._gaps.setdefault(sid, GapTracker(self.threshold))
        if viewer in self._sent.get(sid, []):
            return {"gaps": []}  # its own connection is the problem, shown as such
        try:
            desired = self._media.expected(sid, viewer)
        except Exception as exc:  # no media yet for this person
            if getattr(exc, "code", None) is None:
                raise
            desired = set()
        desired = {(pid, kind) for pid, kind in desired if pid not in self._sent.get(sid, [])}
        actual = {(pid, kind) for pid, r in receiving.items()
                  for kind in ("audio", "video") if getattr(r, kind)}
        changes = tracker.observe(viewer, desired, actual, now)
        blind = bool(desired) and not actual & desired  # decodes nobody it should
        restarted = False
        for gap in changes.repair:
            if restarted:
                break  # the viewer starts its media over: one restart covers every gap
            try:
                done = self._media.repair(sid, gap.viewer, gap.source, gap.kind,
                                          gap.repairs, blind)
                restarted = done == "restart"
            except Exception as exc:
                if getattr(exc, "code", None) is None:
                    raise
                continue
            log.info("media gap repair", extra={"session": sid, "repair": done,
                                                "kind": gap.kind, "attempt": gap.repairs})
            if self._on_gap is not None:
                self._on_gap("repair", None)
        self._count(changes)
        if changes:
            await self._send_gaps(session)
        return {"gaps": [g.info() for g in tracker.open_gaps() if g.viewer == viewer]}

    def _count(self, changes: Changes) -> None:
        if self._on_gap is None:
            return
        for _ in changes.opened:
            self._on_gap("opened", None)
        for _, seconds in changes.closed:
            self._on_gap("closed", seconds)

    async def _send_gaps(self, session: Session) -> None:
        tracker = self._gaps.get(session.id)
        wall = time.time() - time.monotonic()  # gaps are timed on the monotonic clock
        gaps = [] if tracker is None else [
            {**g.info(), "since": round(g.since + wall, 3)} for g in tracker.open_gaps()]
        keyed = [{k: v for k, v in g.items() if k != "since"} for g in gaps]
        if self._sent_gaps.get(session.id, []) == keyed:
            return
        self._sent_gaps[session.id] = keyed
        for pid, p in session.participants.items():
            if p.present and p.clinician:
                await self._emit("media_gaps", {"gaps": gaps}, socket_room(session.id, pid))

    def forget_session(self, session_id: str) -> None:
        for table in (self._gaps, self._media_stalled, self._lost_since, self._sent,
                      self._sent_gaps):
            table.pop(session_id, None)

    def close(self) -> None:
        for _, handle in self._rechecks.values():
            handle.cancel()
        self._rechecks.clear()


def register_media(r: Registry, sig: Signaling, media: MediaPort,
                   ice_servers_for: IceServersFor | None = None,
                   health: MediaHealth | None = None) -> None:
    """``ice_servers_for(participant_id)``: per-person ICE servers (fresh TURN credentials).
    ``health``: the reconciler that ``media_report`` feeds."""
    who = "anyone admitted"

    @r.event("media_join", Empty, who=who)
    async def media_join(caller: Caller, body: Empty) -> dict[str, Any]:
        """Start media: returns ICE servers, codecs, slots, bitrate caps, simulcast layers.

        ``simulcast``: the camera's encodings (rid, scaleResolutionDownBy, maxBitrate);
        empty: publish one layer."""
        session = await sig.state(caller)
        _present(session, caller.participant_id)
        # A join starts media over (a reload, a restart after a drop): connections the
        # relay still holds for this person belong to a page that is gone.
        await media.leave(session.id, caller.participant_id)
        config = await media.join(session.id, caller.participant_id,
                                  slots=slots_for(session, caller.participant_id))
        if ice_servers_for is not None:
            config = {**config, "ice_servers": ice_servers_for(caller.participant_id)}
        # Read again: a change committed while the relay was busy above (breakouts
        # opening) has already pushed its visibility, which the older copy would undo.
        session = await sig.state(caller)
        media.set_visible(session.id, caller.participant_id,
                          visible_publishers(session, caller.participant_id))
        return config

    @r.event("media_publish", PublishPayload, who=who + " (screen: as the policy allows; "
             "observers publish nothing)", max_bytes=SDP_EVENT_BYTES)
    async def media_publish(caller: Caller, body: PublishPayload) -> dict[str, Any]:
        """Offer your publish connection (mid → mic/camera/screen); returns the answer."""
        session = await sig.state(caller)
        pid = caller.participant_id
        _present(session, pid)
        if session.participants[pid].role is Role.OBSERVER:
            raise Forbidden("observers do not publish")
        if "screen" in body.sources.values():
            check_screen_share(session, pid)
        answer = await media.publish_offer(session.id, pid, body.sdp, body.sources)
        # Nothing is forwarded before its owner's state says on; a state that claims a
        # microphone or camera the offer does not carry is corrected, so others see
        # the truth.
        published = own_sources(media, session.id, pid)
        me = session.participants[pid]
        if (me.mic_on and "mic" not in published) or (me.camera_on and "camera" not in published):
            session, _ = await sig.rooms.execute(session.id, c.SetMedia(
                actor=pid, mic_on=me.mic_on and "mic" in published,
                camera_on=me.camera_on and "camera" in published))
        sync_switches(media, session)
        return {"sdp": answer}

    @r.event("media_subscribe", Empty, who=who)
    async def media_subscribe(caller: Caller, body: Empty) -> dict[str, Any]:
        """Ask the relay to offer your receive connection; answer with media_answer."""
        session = await sig.state(caller)
        _present(session, caller.participant_id)
        return {"sdp": await media.subscribe_offer(session.id, caller.participant_id)}

    @r.event("media_answer", AnswerPayload, who=who, max_bytes=SDP_EVENT_BYTES)
    async def media_answer(caller: Caller, body: AnswerPayload) -> dict[str, Any]:
        """Your answer to the relay's receive offer."""
        await media.subscribe_answer(caller.session_id, caller.participant_id, body.sdp)
        return media.layout_message(caller.session_id, caller.participant_id)

    @r.event("media_ice", IcePayload, who=who)
    async def media_ice(caller: Caller, body: IcePayload) -> dict[str, Any]:
        """A trickled ICE candidate for the publish or subscribe connection."""
        check_candidate(body.candidate)
        await media.add_ice_candidate(caller.session_id, caller.participant_id, body.leg,
                                      body.candidate)
        return {}

    @r.event("media_pause", PausePayload, who=who)
    async def media_pause(caller: Caller, body: PausePayload) -> dict[str, Any]:
        """Pause or resume one of your own sources (no bytes flow while paused); the
        microphone and camera resume only while your state says they are on."""
        flag = SWITCH.get(body.source)
        if not body.paused and flag is not None:
            session = await sig.state(caller)
            if not getattr(session.participants[caller.participant_id], flag):
                raise InvalidTransition(f"turn your {body.source} on first (set_media)")
        paused = []
        for pub in media.publications(caller.session_id):
            if pub.get("publisher_id") == caller.participant_id \
                    and pub.get("source") == body.source:
                media.set_paused(caller.session_id, str(pub["publication_id"]), body.paused)
                paused.append(pub["publication_id"])
        return {"publications": paused}

    @r.event("media_report", ReportPayload, who=who)
    async def media_report(caller: Caller, body: ReportPayload) -> dict[str, Any]:
        """About once a second: per remote person, whether you decode their audio and
        video. The server compares it with what you should receive and repairs gaps."""
        session = await sig.state(caller)
        _present(session, caller.participant_id)
        if health is None:
            return {"gaps": []}
        return await health.report(session, caller.participant_id, body.receiving)

    @r.event("media_view", ViewPayload, who=who)
    async def media_view(caller: Caller, body: ViewPayload) -> dict[str, Any]:
        """Your video tiles' rendered sizes by slot mid: no larger a layer is sent.

        Device pixels, sent on change; a mid left out keeps its last size."""
        media.set_view(caller.session_id, caller.participant_id, body.view())
        return {}

    guard_set_media(r, sig, media)


def guard_set_media(r: Registry, sig: Signaling, media: MediaPort) -> None:
    """``set_media`` may say a microphone or camera is on only when the relay has that
    publication from this person: the state others see never claims what is not sent."""
    spec = r.events["set_media"]
    inner = spec.handler

    async def set_media(caller: Caller, body: Any) -> Any:
        session = await sig.state(caller)
        try:
            published = own_sources(media, session.id, caller.participant_id)
        except Exception as exc:
            if getattr(exc, "code", None) is None:
                raise
            published = {}
        for source, flag in SWITCH.items():
            if getattr(body, flag, False) and source not in published:
                raise InvalidTransition(f"your {source} is not published, so it cannot be on")
        return await inner(caller, body)

    set_media.__doc__ = inner.__doc__
    r.events["set_media"] = replace(spec, handler=set_media)


LayoutHook = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class RelayEvents:
    """What the relay reports, as messages to the people it concerns: a subscriber's
    slot layout (``media_layout``), the active speaker to everyone in the speaker's
    room, stalled publishers to ``MediaHealth``, the layers a publisher should keep
    sending (``media_layers``) to that publisher alone, anything else as
    ``media_<event>`` to the person it names. The relay reports from its own
    callbacks, which must not wait on sockets, so each report is sent from a task on
    the loop."""

    def __init__(self, emit: Emit, session: SessionGetter, health: MediaHealth) -> None:
        self._emit = emit
        self._session = session
        self._health = health
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, session_id: str, participant_id: str, event: str,
                 payload: dict[str, Any]) -> None:
        """The relay's ``on_event`` callback."""
        task = asyncio.get_running_loop().create_task(
            self.send(session_id, participant_id, event, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, session_id: str, participant_id: str, event: str,
                   payload: dict[str, Any]) -> None:
        if event == "health":
            await self._health.relay_stalled(session_id, payload["stalled"])
        elif event == "layout":
            await self.layout(session_id, participant_id, payload)
        elif event == "layers":
            # Which of a publisher's layers anyone watches says who watches at what
            # size: it goes to the publisher's own sockets, never to anyone else.
            await self._emit("media_layers", {"mid": payload["mid"],
                                              "active": list(payload["active"])},
                             socket_room(session_id, participant_id))
        elif event == "active_speaker":
            session = await self._session(session_id)
            if session is None:
                return
            for pid in members(session, location(session, participant_id) or "main"):
                await self._emit("active_speaker", {"participant_id": participant_id},
                                 socket_room(session_id, pid))
        else:
            await self._emit(f"media_{event}", payload, socket_room(session_id, participant_id))

    async def layout(self, session_id: str, participant_id: str,
                     payload: dict[str, Any]) -> None:
        """Which publication each receive slot carries now (``RelayVisibility``'s hook)."""
        await self._emit("media_layout", payload, socket_room(session_id, participant_id))

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class RelayVisibility:
    """RoomService's ``VisibilityPort``, backed by the relay: the relay follows each
    changed visibility, and the subscriber is told which publication each receive slot
    now carries, so tiles relabel without any renegotiation."""

    def __init__(self, media: MediaPort, on_layout: LayoutHook | None = None,
                 newest: Newest | None = None) -> None:
        self._media = media
        self._on_layout = on_layout
        self._newest = newest

    async def set_visible(self, session_id: str, subscriber_id: str,
                          publisher_ids: frozenset[str]) -> None:
        """With ``newest``, the set applied is the newest published state's: the calls
        of two commits made close together run in either order (each after its own
        sinks), and the older commit's set must never overwrite the newer one's."""
        session = self._newest.get(session_id) if self._newest is not None else None
        if session is not None:
            if subscriber_id not in session.participants:
                return
            publisher_ids = visible_publishers(session, subscriber_id)
        try:
            result = self._media.set_visible(session_id, subscriber_id, publisher_ids)
        except Exception as exc:  # no router or peer yet: media_join reconciles
            if getattr(exc, "code", None) is None:
                raise
            return
        timing.first("relay_first")
        timing.stamp("relay")
        if self._on_layout is not None:
            await self._on_layout(session_id, subscriber_id, result)
            timing.stamp("layout")


class Newest:
    """The newest state published per session (by version), in memory: what the relay's
    visibility must follow, whichever commit's push runs last."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def note(self, session: Session) -> None:
        known = self._sessions.get(session.id)
        if known is None or session.version >= known.version:
            self._sessions[session.id] = session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)


class MediaSink:
    """A RoomService sink: the relay lets go of people who left and of ended sessions,
    follows everyone's microphone/camera switches, and health follows the people.
    ``newest`` keeps each session's newest state for ``RelayVisibility`` (a commit's
    sinks run before its visibility push)."""

    def __init__(self, media: MediaPort, health: MediaHealth | None = None) -> None:
        self._media = media
        self._health = health
        self.newest = Newest()

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        if any(e.kind is EventKind.SESSION_ENDED for e in events):
            self.newest.forget(session.id)
            await self._media.close_session(session.id)
            if self._health is not None:
                self._health.forget_session(session.id)
            return
        self.newest.note(session)
        for pid, p in session.participants.items():
            if not p.present:
                await self._media.leave(session.id, pid)
        sync_switches(self._media, session)
        if self._health is not None:
            await self._health.session_changed(session)
