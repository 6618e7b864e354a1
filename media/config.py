"""Relay configuration: ICE addresses and servers, bitrate caps, slot count."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server; clients get the same list over signaling."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The browser ``RTCIceServer`` shape, for signaling to send to clients."""
        out: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class RelayConfig:
    """Everything the relay needs from the deployment.

    ``host_addresses`` are the only local addresses the relay gathers and announces
    as ICE host candidates (tests: ``("127.0.0.1",)``). No STUN/TURN by default:
    never a public STUN server unless the operator configures one.
    """

    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    #: inclusive UDP range for the relay's ICE sockets (None: any ephemeral port)
    port_range: tuple[int, int] | None = None
    #: NAT 1:1: (bound address, announced address) pairs. Host candidates bound on the
    #: first are announced with the second (the public address clients reach)
    announce: tuple[tuple[str, str], ...] = ()
    ice_servers: tuple[IceServer, ...] = ()
    camera_max_bitrate: int = 1_000_000
    screen_max_bitrate: int = 2_500_000
    #: audio and video send-only slots pre-allocated on every subscribe connection
    #: (at least; ``Relay.join`` may ask for more, up to ``max_slots``)
    slots: int = 4
    max_slots: int = 16
    #: an unanswered ``renegotiate`` is sent again after this many seconds
    renegotiate_interval: float = 1.5
    #: a publisher none of whose publications advanced for this long is stalled
    stall_after: float = 2.0
    #: a subscriber's SDP grows by two m-lines per visible publisher (audio + video):
    #: 64 m-lines lets one person see 32 others; bytes stay well under the cap
    max_sdp_bytes: int = 128 * 1024
    max_mlines: int = 64
    #: minimum interval between two PLIs sent to one publication
    pli_interval: float = 0.3
    #: how often waiting sinks are checked for a repeated PLI
    keyframe_check_interval: float = 0.1
    active_speaker_interval: float = 0.5
    nack_history: int = 1024
    #: answer subscriber NACKs with RTX (RFC 4588) when negotiated. False resends the
    #: packet in-stream (same SSRC and sequence number): needed for aiortc-based
    #: subscribers, whose RtpRouter drops RTX when several video receivers share a
    #: bundle (it routes RTX by payload type only). Browsers handle RTX.
    subscriber_rtx: bool = True
    #: ``connect()`` a subscribe connection's UDP socket to the address of the pair
    #: aioice nominated: sends skip the route lookup (about 15% of a sendto). Off by
    #: default: aioice (controlling, aggressive nomination) keeps the last pair that
    #: succeeded, and a browser may select another of its own candidates. A connected
    #: socket then drops everything the browser sends on its pair (consent checks,
    #: PLI, NACK) and, once the browser closes the other port, every send fails with
    #: ECONNREFUSED: the page decodes nobody until consent expires.
    connect_egress_sockets: bool = False
    # Minimal stand-ins from the shared simulcast interface, until the relay's own
    # simulcast lands (its definitions replace these two lines on merge).
    #: publishers send the camera as the ``layers`` simulcast encodings
    simulcast: bool = True
    #: the clinic cap: the highest camera layer any viewer receives ("q", "h" or "f")
    max_layer: str = "f"

    def bitrate_caps(self) -> dict[str, int]:
        """Per-source publisher caps (bps) that signaling sends to clients."""
        return {"camera": self.camera_max_bitrate, "screen": self.screen_max_bitrate}

    def client_ice_servers(self) -> list[dict[str, object]]:
        """The ICE server list in browser shape, empty unless configured."""
        return [s.to_dict() for s in self.ice_servers]
