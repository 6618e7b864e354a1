"""Ingress: decrypted RTP taken in the UDP callback, before aioice and aiortc see it.

``install_ingress`` wraps ``datagram_received`` of each aioice protocol of a
publisher's DTLS transport: SRTP is unprotected (``media.srtp``) and handed to the
relay synchronously; STUN, DTLS and RTCP fall through to aioice. The per-packet read
of ``_rx_srtp`` stays inline (listed in ``aiortc_shim.INTERNALS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import aiortc_shim
from .srtp import unprotect as srtp_unprotect

RtpSink = Callable[[bytes], None]


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

    aiortc_shim.set_rtp_handler(dtls, handle_rtp_data)
    conn = aiortc_shim.ice_connection(dtls)
    for protocol in list(aiortc_shim.protocols(conn)):
        _hook_protocol(protocol, dtls, on_rtp)


#: datagrams read per UDP callback (the one asyncio read, then queued ones): a video
#: frame arrives as a burst of packets, and each extra read here saves a full event
#: loop iteration (epoll_wait, handle dispatch, asyncio's 256 KiB recvfrom buffer).
INGRESS_BATCH = 16
_RECV_SIZE = 65536
_recv_buf = bytearray(_RECV_SIZE)
_recv_view = memoryview(_recv_buf)


def _hook_protocol(protocol: Any, dtls: Any, on_rtp: RtpSink) -> None:
    if getattr(protocol, "_hearth_hooked", False):
        return
    protocol._hearth_hooked = True
    fallthrough = protocol.datagram_received
    transport: Any = getattr(protocol, "transport", None)
    sock = aiortc_shim.raw_socket(transport)
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
