"""ICE and transport hooks on aiortc/aioice private internals (checked in selftest).

* ``restrict_gathering``: aioice gathers on every interface except loopback
  (``aioice.ice.get_host_addresses``). We replace, per aioice ``Connection``
  instance, ``get_component_candidates`` so that it binds exactly the configured
  addresses. Nothing global is patched, so two relays (or a relay and test
  clients) in one process can use different addresses.
* ``install_ingress``: taps decrypted RTP in the UDP callback of every aioice
  ``StunProtocol`` of a DTLS transport, before aioice's queue and aiortc's DTLS task.
* ``Egress``: SRTP-protects with the transport's session (libsrtp
  called directly on one preallocated buffer) and writes straight to the nominated
  candidate pair's socket, falling back to asyncio's transport when it would block.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pylibsrtp
from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

logger = logging.getLogger(__name__)

RtpSink = Callable[[bytes], None]

# One process-wide SRTP work buffer. libsrtp protects and unprotects in place; the
# event loop is single-threaded and every use below copies out (or sends) before
# returning, so one buffer serves every session. pylibsrtp's Session.protect does the
# same on a per-session buffer but allocates an ``int *`` and a result copy per call.
_BUF_SIZE = 4096
_TRAILER = 4 + 16 + 128  # pylibsrtp's SRTP_MAX_SRTCP_TRAILER_LEN
_MAX_PACKET = _BUF_SIZE - _TRAILER
_cdata = _srtp_ffi.new("char[]", _BUF_SIZE)
_cbuf = _srtp_ffi.buffer(_cdata)
_cview = memoryview(_cbuf)
_clen = _srtp_ffi.new("int *")
_srtp_protect = _srtp_lib.srtp_protect
_srtp_unprotect = _srtp_lib.srtp_unprotect
_SelectorDatagramTransport: type | None = getattr(
    getattr(asyncio, "selector_events", None), "_SelectorDatagramTransport", None)


def srtp_unprotect(session: Any, data: bytes) -> bytes | None:
    """``session.unprotect(data)`` without pylibsrtp's per-call allocations; None on
    an authentication or replay failure (what pylibsrtp raises for)."""
    n = len(data)
    if n > _MAX_PACKET:
        return None
    _cbuf[0:n] = data
    _clen[0] = n
    if _srtp_unprotect(session._srtp[0], _cdata, _clen):
        return None
    out: bytes = _cbuf[0 : _clen[0]]
    return out


class Egress:
    """Protect-and-send for one DTLS transport (one per subscribe PC with max-bundle).

    Caches the libsrtp session pointer, the nominated pair, its socket and remote
    address; re-reads them only when the SRTP session or the nominated pair object
    changes (one identity check each per packet). Sends with the raw socket's
    ``sendto`` (skipping asyncio's wrapper); when the socket would block, or asyncio
    already buffers for it, the packet goes through the transport so order is kept.
    """

    __slots__ = ("_addr", "_connect", "_nominated", "_pair", "_send", "_sendto", "_session",
                 "_srtp", "_transport", "dtls")

    def __init__(self, dtls: RTCDtlsTransport, connect: bool = False) -> None:
        self.dtls = dtls
        self._connect = connect
        self._nominated: dict[int, Any] = dtls.transport._connection._nominated
        self._session: Any = None
        self._srtp: Any = None
        self._pair: Any = None
        self._transport: Any = None
        self._sendto: Any = None
        self._send: Any = None
        self._addr: Any = None

    def _refresh(self) -> bool:
        self._session = None
        session = self.dtls._tx_srtp
        pair = self._nominated.get(1)
        if session is None or pair is None:
            return False
        transport = pair.protocol.transport
        if transport is None or transport.is_closing():
            return False
        sock = None
        if _SelectorDatagramTransport is not None and isinstance(
                transport, _SelectorDatagramTransport):
            sock = getattr(transport, "_sock", None)
        addr = pair.remote_addr
        self._srtp = session._srtp[0]
        self._pair = pair
        self._transport = transport
        self._sendto = sock.sendto if sock is not None else None
        self._send = sock.send if sock is not None and self._connect and _connect(
            sock, addr) else None
        self._addr = addr
        self._session = session
        return True

    def ready(self) -> bool:
        """Whether ``send`` can send now (keys agreed and a pair nominated)."""
        return self.dtls._tx_srtp is not None and 1 in self._nominated

    def send(self, packet: bytes) -> bool:
        """Protect ``packet`` and send it; False when not ready (never sent), raises on
        a protect failure or a real socket error (the caller isolates it per sink)."""
        if (self.dtls._tx_srtp is not self._session
                or self._nominated.get(1) is not self._pair) and not self._refresh():
            return False
        n = len(packet)
        if n > _MAX_PACKET:
            raise ValueError("packet is too long")
        _cbuf[0:n] = packet
        _clen[0] = n
        status = _srtp_protect(self._srtp, _cdata, _clen)
        if status:
            raise pylibsrtp.Error(f"srtp_protect failed with status {status}")
        out = _cview[: _clen[0]]
        transport = self._transport
        sendto = self._sendto
        if sendto is not None and not transport._buffer:
            try:
                send = self._send
                if send is not None:
                    send(out)
                else:
                    sendto(out, self._addr)
                return True
            except (BlockingIOError, InterruptedError):
                pass  # the transport buffers it and waits for the socket
            except OSError:
                if transport.is_closing():
                    self._session = None
                    return False
                raise
        transport.sendto(bytes(out), self._addr)
        return True


def _connect(sock: socket.socket, addr: tuple[Any, ...]) -> bool:
    """Connect a UDP socket to ``addr`` (its only peer once ICE has nominated a pair),
    so that sends skip the route lookup; False (left unconnected) on any error."""
    try:
        try:
            peer = sock.getpeername()
        except OSError:
            peer = None
        if peer is None or tuple(peer[:2]) != tuple(addr[:2]):
            sock.connect(addr)
        return True
    except OSError:
        logger.debug("could not connect egress socket to %s", addr, exc_info=True)
        return False


def egress_for(dtls: RTCDtlsTransport, connect: bool = False) -> Egress:
    """The transport's ``Egress``, created on first use and kept on the transport.

    ``connect``: ``connect()`` the nominated pair's socket to the remote address (see
    ``RelayConfig.connect_egress_sockets``); only the first call for a transport
    decides it.
    """
    egress: Egress | None = getattr(dtls, "_hearth_egress", None)
    if egress is None:
        egress = Egress(dtls, connect)
        dtls._hearth_egress = egress  # type: ignore[attr-defined]
    return egress


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
    pc: RTCPeerConnection, addresses: Iterable[str], ports: tuple[int, int] | None = None,
    announce: Mapping[str, str] | None = None,
) -> None:
    """Make every ICE connection of ``pc`` gather host candidates on ``addresses`` only.

    With ``ports`` (inclusive range), host sockets bind only inside that UDP range so a
    firewall can open exactly it; the relay then announces host candidates only (its
    public or NAT address is configured, so it needs no STUN). With ``announce``
    (bound address → public address, a NAT 1:1 mapping), a candidate bound on a mapped
    address is announced with the public one; the socket stays where it is bound, and
    the NAT carries the client's packets to it. Call it after transceivers exist and
    before ``setLocalDescription`` (which gathers). Idempotent.
    """
    mapping = dict(announce or {})
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
                found = await _gather_in_range(_conn, component, addrs, ports)
            else:
                found = await _orig(component=component, addresses=addrs, timeout=timeout)
            for candidate in found:  # the same objects the protocols hold
                if candidate.type == "host" and candidate.host in mapping:
                    candidate.host = mapping[candidate.host]
            return found

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


class _NominateOnce(aioice_ice.Connection):
    """An aioice connection that, when controlling, nominates one pair (regular
    nomination, RFC 8445 section 8.1.1) instead of every pair it checks.

    aioice's aggressive nomination keeps whichever nominated pair succeeded last, and
    a browser (controlled) selects another of those pairs by its own ranking: the relay
    then sends on one pair while the browser sends its consent checks, PLI and NACK on
    another, and when the browser closes the other port nothing the relay sends
    arrives. With one nominated pair both ends use the same one. aioice reads
    ``remote_is_lite`` only to choose aggressive nomination, so it reads True here;
    aiortc's own assignment is kept aside."""

    @property
    def remote_is_lite(self) -> bool:
        return True

    @remote_is_lite.setter
    def remote_is_lite(self, value: bool) -> None:
        self._hearth_remote_is_lite = value


def nominate_once(pc: RTCPeerConnection) -> None:
    """Make every ICE connection of ``pc`` nominate a single pair when controlling (see
    ``_NominateOnce``). Call it before the connection starts. Idempotent."""
    for conn in _connections(pc):
        if type(conn) is aioice_ice.Connection:
            conn.__class__ = _NominateOnce


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


#: datagrams read per UDP callback (the one asyncio read, then queued ones): a video
#: frame arrives as a burst of packets, and each extra read here saves a full event
#: loop iteration (epoll_wait, handle dispatch, asyncio's 256 KiB recvfrom buffer).
INGRESS_BATCH = 16
_RECV_SIZE = 65536
_recv_buf = bytearray(_RECV_SIZE)
_recv_view = memoryview(_recv_buf)


def _hook_protocol(protocol: Any, dtls: RTCDtlsTransport, on_rtp: RtpSink) -> None:
    if getattr(protocol, "_hearth_hooked", False):
        return
    protocol._hearth_hooked = True
    fallthrough = protocol.datagram_received
    transport: Any = getattr(protocol, "transport", None)
    sock = None
    if _SelectorDatagramTransport is not None and isinstance(
            transport, _SelectorDatagramTransport):
        sock = getattr(transport, "_sock", None)
    recv_into = sock.recvfrom_into if sock is not None else None

    def handle(data: bytes, addr: tuple[Any, ...]) -> None:
        # SRTP only (first byte 128..191), not SRTCP (second byte 192..208).
        if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
            session = dtls._rx_srtp
            if session is not None:
                plain = srtp_unprotect(session, data)
                if plain is not None:
                    on_rtp(plain)
                return
        fallthrough(data, addr)

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        handle(data, addr)
        if recv_into is None:
            return
        # Drain what queued meanwhile, exactly as asyncio's _read_ready would have.
        for _ in range(INGRESS_BATCH - 1):
            if transport.is_closing():
                return
            try:
                n, addr = recv_into(_recv_buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            handle(bytes(_recv_view[:n]), addr)

    protocol.datagram_received = datagram_received
