"""Media signaling: the events that negotiate with the relay, and the sink that keeps
the relay's visibility in step with the rooms domain.

The relay is reached only through ``MediaPort`` (the server wires the real one);
signaling never imports ``media``. Which media a person receives is always
``rooms.visibility.visible_publishers``: nothing here takes a track id from a client.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import Field

from rooms.errors import DomainError, Forbidden, InvalidTransition
from rooms.events import Event, EventKind
from rooms.model import Role, Session
from rooms.policy import may_share_screen
from rooms.visibility import visible_publishers
from signaling.registry import Caller, Empty, Payload, Registry
from signaling.service import Signaling

log = logging.getLogger("hearth.media")
SDP_EVENT_BYTES = 160 * 1024  # above the relay's own SDP cap, so it answers with its code


class MediaPort(Protocol):
    """What signaling needs from the relay (``media.relay.Relay`` satisfies it)."""

    async def join(self, session_id: str, participant_id: str) -> dict[str, Any]: ...
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


def _present(session: Session, pid: str) -> None:
    p = session.participants[pid]
    if not p.present:
        raise InvalidTransition("media starts once you are admitted")


IceServersFor = Callable[[str], list[dict[str, Any]]]


def register_media(r: Registry, sig: Signaling, media: MediaPort,
                   ice_servers_for: IceServersFor | None = None) -> None:
    """``ice_servers_for(participant_id)``: per-person ICE servers (fresh TURN credentials)."""
    who = "anyone admitted"

    @r.event("media_join", Empty, who=who)
    async def media_join(caller: Caller, body: Empty) -> dict[str, Any]:
        """Start media: returns ICE servers, codecs, slot count and bitrate caps."""
        session = await sig.state(caller)
        _present(session, caller.participant_id)
        config = await media.join(session.id, caller.participant_id)
        if ice_servers_for is not None:
            config = {**config, "ice_servers": ice_servers_for(caller.participant_id)}
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
        if "screen" in body.sources.values() and not may_share_screen(session, pid):
            raise Forbidden("you may not share your screen")
        answer = await media.publish_offer(session.id, pid, body.sdp, body.sources)
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
        return {"layout": media.layout(caller.session_id, caller.participant_id)}

    @r.event("media_ice", IcePayload, who=who)
    async def media_ice(caller: Caller, body: IcePayload) -> dict[str, Any]:
        """A trickled ICE candidate for the publish or subscribe connection."""
        check_candidate(body.candidate)
        await media.add_ice_candidate(caller.session_id, caller.participant_id, body.leg,
                                      body.candidate)
        return {}

    @r.event("media_pause", PausePayload, who=who)
    async def media_pause(caller: Caller, body: PausePayload) -> dict[str, Any]:
        """Pause or resume one of your own sources (no bytes flow while paused)."""
        paused = []
        for pub in media.publications(caller.session_id):
            if pub.get("publisher_id") == caller.participant_id \
                    and pub.get("source") == body.source:
                media.set_paused(caller.session_id, str(pub["publication_id"]), body.paused)
                paused.append(pub["publication_id"])
        return {"publications": paused}


LayoutHook = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class VisibilityPort:
    """RoomService's media port: the relay follows each changed visibility, and the
    subscriber is told which publication each receive slot now carries, so tiles
    relabel without any renegotiation."""

    def __init__(self, media: MediaPort, on_layout: LayoutHook | None = None) -> None:
        self._media = media
        self._on_layout = on_layout

    async def set_visible(self, session_id: str, subscriber_id: str,
                          publisher_ids: frozenset[str]) -> None:
        try:
            result = self._media.set_visible(session_id, subscriber_id, publisher_ids)
        except Exception as exc:  # no router or peer yet: media_join reconciles
            if getattr(exc, "code", None) is None:
                raise
            return
        if self._on_layout is not None:
            await self._on_layout(session_id, subscriber_id, result)


class MediaSink:
    """A RoomService sink: the relay lets go of people who left and of ended sessions."""

    def __init__(self, media: MediaPort) -> None:
        self._media = media

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        if any(e.kind is EventKind.SESSION_ENDED for e in events):
            await self._media.close_session(session.id)
            return
        for pid, p in session.participants.items():
            if not p.present:
                await self._media.leave(session.id, pid)
