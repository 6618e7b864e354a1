"""ICE and transport hooks on aiortc/aioice private internals (checked in selftest).

* ``restrict_gathering``: aioice gathers on every interface except loopback
  (``aioice.ice.get_host_addresses``). We replace, per aioice ``Connection``
  instance, ``get_component_candidates`` so that it binds exactly the configured
  addresses. Nothing global is patched, so two relays (or a relay and test
  clients) in one process can use different addresses.
* ``install_ingress``: taps decrypted RTP in the UDP callback of every aioice
  ``StunProtocol`` of a DTLS transport, before aioice's queue and aiortc's DTLS task.
* ``send_srtp``: SRTP-protects with the transport's session and writes straight to
  the nominated candidate pair.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable, Iterable
from typing import Any

import pylibsrtp
from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

logger = logging.getLogger(__name__)

RtpSink = Callable[[bytes], None]


def _connections(pc: RTCPeerConnection) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in pc.getTransceivers():
        for dtls in (t.receiver.transport, t.sender.transport):
            conn = dtls.transport._connection
            seen[id(conn)] = conn
    sctp = pc.sctp
    if sctp is not None:
        conn = sctp.transport.transport._connection
        seen[id(conn)] = conn
    return list(seen.values())


def restrict_gathering(
    pc: RTCPeerConnection, addresses: Iterable[str], ports: tuple[int, int] | None = None
) -> None:
    """Make every ICE connection of ``pc`` gather host candidates on ``addresses`` only.

    With ``ports`` (inclusive range), host sockets bind only inside that UDP range so a
    firewall can open exactly it; the relay then announces host candidates only (its
    public or NAT address is configured, so it needs no STUN). Call it after
    transceivers exist and before ``setLocalDescription`` (which gathers). Idempotent.
    """
    addrs = list(addresses)
    for conn in _connections(pc):
        if getattr(conn, "_hearth_restricted", False):
            continue
        original = conn.get_component_candidates

        async def restricted(
            component: int, addresses: list[str], timeout: int = 5, *,  # noqa: ASYNC109
            _orig: Any = original, _conn: Any = conn,
        ) -> Any:
            if ports is not None:
                return await _gather_in_range(_conn, component, addrs, ports)
            return await _orig(component=component, addresses=addrs, timeout=timeout)

        conn.get_component_candidates = restricted
        conn._hearth_restricted = True


async def _gather_in_range(
    conn: Any, component: int, addresses: list[str], ports: tuple[int, int]
) -> list[Any]:
    """Host candidates bound inside ``ports``; an exhausted range yields none."""
    loop = asyncio.get_running_loop()
    low, high = ports
    span = high - low + 1
    start = secrets.randbelow(span)
    candidates = []
    for address in addresses:
        for i in range(span):
            port = low + (start + i) % span
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: aioice_ice.StunProtocol(conn), local_addr=(address, port)
                )
            except OSError:
                continue  # in use: try the next port of the range
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
            host, bound = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component, transport="udp",
                priority=candidate_priority(component, "host"),
                host=host, port=bound, type="host",
            )
            conn._protocols.append(protocol)
            candidates.append(protocol.local_candidate)
            break
        else:
            logger.warning("no free UDP port in %d-%d on %s", low, high, address)
    return candidates


def has_candidates(sdp: str) -> bool:
    """Whether a local description announces at least one ICE candidate."""
    return "a=candidate:" in sdp


def dtls_transports(pc: RTCPeerConnection) -> list[RTCDtlsTransport]:
    """The distinct DTLS transports carrying ``pc``'s media (one with max-bundle)."""
    seen: dict[int, RTCDtlsTransport] = {}
    for t in pc.getTransceivers():
        seen[id(t.receiver.transport)] = t.receiver.transport
    return list(seen.values())


def install_ingress(
    dtls: Any, on_rtp: RtpSink, on_fallback: Callable[[], None] | None = None
) -> None:
    """Route every decrypted RTP packet of ``dtls`` to ``on_rtp``, never to aiortc.

    Primary path: the UDP callback of each of the transport's aioice protocols.
    STUN, DTLS and RTCP (and anything before SRTP keys exist) fall through to
    aioice untouched. Safety net: an instance override of ``_handle_rtp_data``, so
    an RTP packet that somehow takes aiortc's path still never reaches an
    ``RtpPacket``, jitter buffer, depacketizer or decoder (``on_fallback`` counts
    those, e.g. packets that arrived over a TURN relay protocol we did not hook).
    """
    if getattr(dtls, "_hearth_ingress", False):
        return
    dtls._hearth_ingress = True

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        if on_fallback is not None:
            on_fallback()
        on_rtp(data)

    dtls._handle_rtp_data = handle_rtp_data
    conn = dtls.transport._connection
    for protocol in list(conn._protocols):
        _hook_protocol(protocol, dtls, on_rtp)


def _hook_protocol(protocol: Any, dtls: RTCDtlsTransport, on_rtp: RtpSink) -> None:
    if getattr(protocol, "_hearth_hooked", False):
        return
    protocol._hearth_hooked = True
    fallthrough = protocol.datagram_received

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        # SRTP only (first byte 128..191), not SRTCP (second byte 192..208).
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            session = dtls._rx_srtp
            if session is not None:
                try:
                    plain = session.unprotect(data)
                except pylibsrtp.Error:
                    return
                on_rtp(plain)
                return
        fallthrough(data, addr)

    protocol.datagram_received = datagram_received


def send_srtp(dtls: RTCDtlsTransport, packet: bytes) -> bool:
    """Protect ``packet`` with ``dtls``'s SRTP session and send it on the nominated pair.

    Returns False (without raising) when the transport is not ready; raises only
    on a real send or protect failure, which the caller isolates per sink.
    """
    session = dtls._tx_srtp
    if session is None:
        return False
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None:
        return False
    transport = pair.protocol.transport
    if transport.is_closing():
        return False
    transport.sendto(session.protect(packet), pair.remote_addr)
    return True


def transport_ready(dtls: RTCDtlsTransport) -> bool:
    """Whether ``send_srtp`` can send now."""
    return dtls._tx_srtp is not None and 1 in dtls.transport._connection._nominated
