"""The SFU: forwards publishers' RTP to subscribers, rewriting headers only.

Object model (closing a parent closes its children)::

    Relay (one per process; this module, the API signaling uses)
      Router (one per session: media.router)
        Peer (one per participant, a publish PC and a subscribe PC: media.peer)
          Publication (one per incoming track, mic, camera or screen: media.publication)
          Subscription (one per send slot on the subscribe PC; bound to at most
                        one Publication at a time and re-pointable: media.subscription)

The mechanisms they share are modules of their own: ``munger`` (sequence numbers and
timestamps across switches), ``keyframes`` (gate, PLI throttle), ``nack`` (history,
gaps), ``rtcp``, ``speaker``, ``sdp``; every private aiortc/aioice name is in
``aiortc_shim``. See media/README.md for the flow.

Negotiation is glare-free because each peer connection has exactly one offerer:
the client offers on its *publish* PC (relay answers, receive-only), and the
relay offers on the *subscribe* PC (K audio + K video send-only slots, client
answers). Who sees what is decided in one place only: ``Router.set_visible``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import sdp as sdp_facts
from .config import RelayConfig
from .errors import MediaError
from .peer import Peer, closed_meanwhile
from .publication import Publication
from .router import RESTART_ANY, RESTART_BLIND, Router
from .rtcp import SENDERS_PER_PACKET as RTCP_SENDERS_PER_PACKET
from .sdp import AUDIO_LEVEL_URI, MID_URI, PIN, SOURCES, pinned_codecs
from .subscription import TS_STEP, ParkedTrack, Subscription

__all__ = [
    "AUDIO_LEVEL_URI",
    "MID_URI",
    "PIN",
    "RESTART_ANY",
    "RESTART_BLIND",
    "RTCP_SENDERS_PER_PACKET",
    "SOURCES",
    "TS_STEP",
    "EventCallback",
    "MediaError",
    "ParkedTrack",
    "Peer",
    "Publication",
    "Relay",
    "Router",
    "Subscription",
    "closed_meanwhile",
    "pinned_codecs",
]

logger = logging.getLogger(__name__)

EventCallback = Callable[[str, str, str, dict[str, Any]], None]


class Relay:
    """The process-wide relay: routers by session id, and the signaling-facing API.

    Every method takes and returns plain strings/dicts; errors are ``MediaError``
    with a stable ``code`` for an error ack.
    """

    def __init__(
        self, config: RelayConfig | None = None, on_event: EventCallback | None = None
    ) -> None:
        self.config = config or RelayConfig()
        self.routers: dict[str, Router] = {}
        #: (session_id, participant_id, event, payload); events: "layout",
        #: "active_speaker", "renegotiate" (run subscribe_offer/answer again),
        #: "peer_closed" (a PC failed or closed; the participant was removed)
        self.on_event = on_event
        # Layout numbers only grow, across peers and across processes (a node that
        # takes a session over starts later): microseconds at start, then +1 each.
        self._layout_seq = time.time_ns() // 1000

    def next_layout_seq(self) -> int:
        """The next layout sequence number (see ``Peer.layout_message``)."""
        self._layout_seq += 1
        return self._layout_seq

    def emit(self, session_id: str, participant_id: str, event: str,
             payload: dict[str, Any]) -> None:
        """Tell signaling something changed; a failing callback never harms media."""
        if self.on_event is None:
            return
        try:
            self.on_event(session_id, participant_id, event, payload)
        except Exception:
            logger.warning("event callback failed: session=%s event=%s", session_id, event,
                           exc_info=True)

    def validate_sdp(self, sdp: object) -> Any:
        """Size, m-line count and syntax checks before aiortc sees the SDP."""
        return sdp_facts.validate(sdp, self.config.max_sdp_bytes, self.config.max_mlines)

    def router(self, session_id: str, create: bool = False) -> Router:
        """The session's router, or MediaError('no_such_session')."""
        r = self.routers.get(session_id)
        if r is None:
            if not create:
                raise MediaError("no_such_session", "session has no media router")
            r = self.routers[session_id] = Router(self, session_id)
        return r

    async def join(self, session_id: str, participant_id: str,
                   slots: int | None = None) -> dict[str, Any]:
        """Add a participant; returns what signaling sends the client to configure itself.

        ``slots``: how many others this person may come to see (signaling sizes it from
        the session's people), so a normal family never needs a renegotiation."""
        peer = self.router(session_id, create=True).join(participant_id)
        if slots is not None and peer.subscribe_pc is None:
            peer.initial_slots = max(self.config.slots, min(slots, self.config.max_slots))
        return {
            "ice_servers": self.config.client_ice_servers(),
            "bitrate_caps": self.config.bitrate_caps(),
            "codecs": {"audio": "opus", "video": "VP8"},
            "slots": peer.initial_slots,
        }

    async def leave(self, session_id: str, participant_id: str) -> None:
        """Remove a participant and close its connections (idempotent)."""
        r = self.routers.get(session_id)
        if r is not None:
            await r.leave(participant_id)

    async def publish_offer(
        self, session_id: str, participant_id: str, sdp: str,
        sources: Mapping[str, str] | None = None,
    ) -> str:
        """Client's publish offer -> relay's answer. ``sources`` maps mid -> mic|camera|screen."""
        peer = self.router(session_id).peer(participant_id)
        return await peer.publish_offer(sdp, sources)

    async def subscribe_offer(self, session_id: str, participant_id: str) -> str:
        """The relay's offer for the participant's subscribe PC (K audio + K video slots)."""
        return await self.router(session_id).peer(participant_id).subscribe_offer()

    async def subscribe_answer(self, session_id: str, participant_id: str, sdp: str) -> None:
        """The client's answer to ``subscribe_offer``."""
        await self.router(session_id).peer(participant_id).subscribe_answer(sdp)

    async def add_ice_candidate(
        self, session_id: str, participant_id: str, leg: str,
        candidate: Mapping[str, Any] | None,
    ) -> None:
        """A trickled candidate (browser ``RTCIceCandidate`` JSON) for one leg."""
        peer = self.router(session_id).peer(participant_id)
        await peer.add_ice_candidate(leg, candidate)

    def publications(self, session_id: str) -> list[dict[str, Any]]:
        """Metadata of every publication in the session."""
        return [p.info() for p in self.router(session_id).publications.values()]

    def set_paused(self, session_id: str, publication_id: str, paused: bool) -> None:
        """Pause (mute, camera off) or resume a publication."""
        self.router(session_id).set_paused(publication_id, paused)

    def set_visible(
        self, session_id: str, subscriber_id: str, publisher_ids: Iterable[str]
    ) -> dict[str, Any]:
        """The one who-sees-what entry point; see ``Router.set_visible``."""
        return self.router(session_id).set_visible(subscriber_id, publisher_ids)

    # Minimal stand-in from the shared simulcast interface until the relay's own
    # ``set_view`` lands (which replaces it on merge): it keeps the sizes per viewer.
    def set_view(self, session_id: str, viewer_id: str,
                 sizes: Mapping[str, tuple[int, int]]) -> None:
        """The viewer's rendered tile sizes by video slot mid; (0, 0): not shown."""
        peer = self.router(session_id).peer(viewer_id)
        known: dict[str, tuple[int, int]] = vars(peer).setdefault("view_sizes", {})
        known.update(sizes)

    def layout(self, session_id: str, subscriber_id: str) -> dict[str, dict[str, Any]]:
        """Slot mid -> publication metadata for one subscriber."""
        return self.router(session_id).peer(subscriber_id).layout()

    def layout_message(self, session_id: str, subscriber_id: str) -> dict[str, Any]:
        """``{"layout", "overflow", "seq"}``: the layout numbered for the subscriber."""
        return self.router(session_id).peer(subscriber_id).layout_message()

    def expected(self, session_id: str, viewer_id: str) -> set[tuple[str, str]]:
        """(publisher, kind) the viewer should be decoding now; see ``Router.expected``."""
        return self.router(session_id).expected(viewer_id)

    def repair(self, session_id: str, viewer_id: str, publisher_id: str, kind: str,
               attempt: int = 1, blind: bool = False) -> str:
        """Repair one gap between desired and actual; see ``Router.repair``."""
        return self.router(session_id).repair(viewer_id, publisher_id, kind, attempt, blind)

    def stalled(self, session_id: str) -> set[str]:
        """Publishers of the session whose media stopped arriving."""
        r = self.routers.get(session_id)
        return set(r.stalled) if r is not None else set()

    async def close_session(self, session_id: str) -> None:
        """Close a session's router and everything under it."""
        r = self.routers.pop(session_id, None)
        if r is not None:
            await r.close()

    async def close(self) -> None:
        """Close every router."""
        for sid in list(self.routers):
            await self.close_session(sid)
