"""The relay's one boundary with aiortc, aioice and pylibsrtp internals.

Forwarding RTP without decoding needs names these libraries keep private (aiortc
1.16.0 and aioice 0.13.0, pinned exactly). Every such name the relay touches is
listed in ``INTERNALS`` and read or written only here, except the per-packet reads
of ``media.ingress`` and ``media.egress``, which stay inline for speed (their names
are listed too). ``media.selftest`` checks every entry at startup, and
tests/test_architecture.py fails when a module touches a private name of these
libraries that is not listed, or one outside this module and those two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aioice import ice as aioice_ice
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtcpByePacket, RtcpRrPacket, RtcpSrPacket
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Internal:
    """One private name: ``owner`` is an importable class path; ``params`` is the
    expected signature prefix of a method; ``live`` marks an instance attribute,
    checked on a throwaway object."""

    owner: str
    name: str
    params: tuple[str, ...] = ()
    live: bool = False
    method: bool = False


_DTLS = "aiortc.rtcdtlstransport.RTCDtlsTransport"
_SENDER = "aiortc.rtcrtpsender.RTCRtpSender"
_RECEIVER = "aiortc.rtcrtpreceiver.RTCRtpReceiver"
_TRANSCEIVER = "aiortc.rtcrtptransceiver.RTCRtpTransceiver"
_ICE = "aiortc.rtcicetransport.RTCIceTransport"
_CONN = "aioice.ice.Connection"
_PAIR = "aioice.ice.CandidatePair"
_UDP = "asyncio.selector_events._SelectorDatagramTransport"
_SESSION = "pylibsrtp.Session"


def _m(owner: str, name: str, *params: str) -> Internal:
    return Internal(owner, name, params, method=True)


def _a(owner: str, name: str) -> Internal:
    return Internal(owner, name, live=True)


#: every private name the relay touches (the self-test checks each one)
INTERNALS: tuple[Internal, ...] = (
    # ingress: decrypted RTP in the UDP callback; safety net on the DTLS transport
    _m(_DTLS, "_handle_rtp_data", "data", "arrival_time_ms"),
    _a(_DTLS, "_rx_srtp"),
    _a(_ICE, "_connection"),
    _a(_CONN, "_protocols"),
    _m("aioice.ice.StunProtocol", "datagram_received", "data", "addr"),
    _m("aioice.ice.StunProtocol", "__init__", "receiver"),
    # egress: libsrtp on the transport's session, the nominated pair's raw socket
    _a(_DTLS, "_tx_srtp"),
    _a(_CONN, "_nominated"),
    _a(_UDP, "_sock"),
    _a(_UDP, "_buffer"),
    _a(_SESSION, "_srtp"),
    _m(_PAIR, "__init__", "protocol", "remote_candidate"),
    # gathering and nomination
    _m(_CONN, "get_component_candidates", "component", "addresses", "timeout"),
    _m(_CONN, "gather_candidates"),
    _m("aiortc.rtcicetransport.RTCIceGatherer", "gather"),
    # negotiated parameters of a transceiver
    _a(_TRANSCEIVER, "_codecs"),
    _a(_TRANSCEIVER, "_headerExtensions"),
    _m(_TRANSCEIVER, "setCodecPreferences", "codecs"),
    # keyframes and loss, upstream (receiver) and from subscribers (sender hooks)
    _m(_RECEIVER, "_send_rtcp_pli", "media_ssrc"),
    _m(_RECEIVER, "_send_rtcp_nack", "media_ssrc", "lost"),
    _m(_RECEIVER, "_handle_rtcp_packet", "packet"),
    _a(_RECEIVER, "_RTCRtpReceiver__remote_streams"),
    _a(_DTLS, "_rtp_router"),
    _m("aiortc.rtcrtpreceiver.StreamStatistics", "add", "packet"),
    _m(_SENDER, "_send_keyframe"),
    _m(_SENDER, "_retransmit", "sequence_number"),
    _m(_SENDER, "_handle_rtcp_packet", "packet"),
    # sender reports: each slot's own loop is parked; the peer sends them compounded
    _m(_SENDER, "_run_rtcp"),
    _m(_SENDER, "_send_rtcp", "packets"),
    _m(_DTLS, "_send_rtp", "data"),
    _a(_SENDER, "_ssrc"),
    _a(_SENDER, "_rtx_ssrc"),
    _a(_SENDER, "_RTCRtpSender__ntp_timestamp"),
    _a(_SENDER, "_RTCRtpSender__rtp_timestamp"),
    _a(_SENDER, "_RTCRtpSender__packet_count"),
    _a(_SENDER, "_RTCRtpSender__octet_count"),
    _a(_SENDER, "_RTCRtpSender__rtcp_started"),
    _a(_SENDER, "_RTCRtpSender__rtcp_exited"),
    _a(_SENDER, "_RTCRtpSender__started"),
    _a(_SENDER, "_RTCRtpSender__cname"),
    _a(_SENDER, "_RTCRtpSender__lsr"),
    _a(_SENDER, "_RTCRtpSender__lsr_time"),
)

#: libsrtp through pylibsrtp's cffi binding (ingress and egress call it directly)
SRTP_FFI = srtp_ffi
SRTP_PROTECT = srtp_lib.srtp_protect
SRTP_UNPROTECT = srtp_lib.srtp_unprotect
SrtpError = pylibsrtp.Error
#: asyncio's UDP transport, whose raw socket egress and ingress use directly
SelectorDatagramTransport: type | None = getattr(
    getattr(asyncio, "selector_events", None), "_SelectorDatagramTransport", None)
#: aioice's UDP protocol (gathering inside a port range creates its own)
StunProtocol = aioice_ice.StunProtocol


# -- ICE and DTLS ---------------------------------------------------------------------

def ice_connection(dtls: Any) -> Any:
    """The aioice ``Connection`` under a DTLS transport."""
    return dtls.transport._connection


def sctp_ice_connection(sctp: Any) -> Any:
    """The aioice ``Connection`` under an SCTP transport."""
    return sctp.transport.transport._connection


def protocols(conn: Any) -> list[Any]:
    """The aioice connection's UDP protocols (one per local candidate); mutable."""
    result: list[Any] = conn._protocols
    return result


def nominated(conn: Any) -> dict[int, Any]:
    """The connection's nominated pairs by component (a live dict)."""
    result: dict[int, Any] = conn._nominated
    return result


def raw_socket(transport: Any) -> Any:
    """The socket of asyncio's UDP transport, or None for another transport type."""
    if SelectorDatagramTransport is not None and isinstance(
            transport, SelectorDatagramTransport):
        return getattr(transport, "_sock", None)
    return None


def set_rtp_handler(dtls: Any, handler: Callable[[bytes, int], Awaitable[None]]) -> None:
    """Replace the DTLS transport's decrypted-RTP handler (the ingress safety net)."""
    dtls._handle_rtp_data = handler


async def send_rtcp(dtls: Any, payload: bytes) -> None:
    """Send an RTCP datagram (protected as SRTCP) on a DTLS transport."""
    await dtls._send_rtp(payload)


# -- transceivers ---------------------------------------------------------------------

def codecs(transceiver: Any) -> list[Any]:
    """The transceiver's negotiated codecs, preferred first (empty before)."""
    result: list[Any] = transceiver._codecs
    return result


def header_extensions(transceiver: Any) -> dict[str, int]:
    """Negotiated header extensions: uri -> id."""
    return {e.uri: e.id for e in transceiver._headerExtensions}


# -- receivers (the publish leg) ------------------------------------------------------

def send_pli(receiver: Any, ssrc: int) -> Coroutine[Any, Any, None]:
    """Ask the publisher for a keyframe (RTCP PLI)."""
    result: Coroutine[Any, Any, None] = receiver._send_rtcp_pli(ssrc)
    return result


def send_nack(receiver: Any, ssrc: int, lost: list[int]) -> Coroutine[Any, Any, None]:
    """Ask the publisher to resend ``lost`` (RTCP generic NACK)."""
    result: Coroutine[Any, Any, None] = receiver._send_rtcp_nack(ssrc, lost)
    return result


def on_sender_report(receiver: Any, ssrc: Callable[[], int | None],
                     callback: Callable[[int, int], None]) -> None:
    """Call ``callback(ntp, rtp_time)`` for each SR about SSRC ``ssrc()`` the receiver
    gets, before aiortc's own handling."""
    original = receiver._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == ssrc():
            info = packet.sender_info
            callback(info.ntp_timestamp, info.rtp_timestamp)
        await original(packet)

    receiver._handle_rtcp_packet = handle_rtcp_packet


def receive_statistics(receiver: Any, ssrc: int, clock_rate: int) -> Any:
    """aiortc's per-SSRC receive statistics, registered so that the receiver's own
    RTCP loop sends receiver reports from it (it no longer sees the packets)."""
    stats = StreamStatistics(clock_rate)
    receiver._RTCRtpReceiver__remote_streams[ssrc] = stats
    return stats


def route_ssrc(receiver: Any, ssrc: int) -> None:
    """Route the publisher's RTCP about ``ssrc`` (its SRs) to ``receiver``: aiortc
    learns SSRCs from RTP it no longer sees, so one missing from the SDP (each
    simulcast layer's) would otherwise reach no receiver."""
    transport = receiver.transport
    if transport is not None:
        transport._rtp_router.ssrc_table[ssrc] = receiver


# -- senders (the subscribe leg's slots) ----------------------------------------------

def sender_ssrcs(sender: Any) -> tuple[int, int]:
    """The sender's (media SSRC, RTX SSRC)."""
    return sender._ssrc, sender._rtx_ssrc


def hook_sender(sender: Any, keyframe: Callable[[], None],
                retransmit: Callable[[int], Awaitable[None]],
                run_rtcp: Callable[[], Awaitable[None]]) -> None:
    """Subscriber PLI/FIR and NACK reach the relay, not an encoder the slot never has;
    the sender's RTCP loop is replaced before aiortc starts it."""
    sender._send_keyframe = keyframe
    sender._retransmit = retransmit
    sender._run_rtcp = run_rtcp


def on_receiver_report(sender: Any,
                       callback: Callable[[float, int, int, int], object]) -> None:
    """Call ``callback(fraction lost 0..1, extended highest sequence number, LSR,
    DLSR)`` for each report block about the sender's SSRC that the subscriber sends
    (in an RR or SR), before aiortc's own handling."""
    original = sender._handle_rtcp_packet
    ssrc = sender._ssrc

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == ssrc:
                    callback(report.fraction_lost / 256, report.highest_sequence,
                             report.lsr, report.dlsr)
        await original(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet


def sender_started(sender: Any) -> bool:
    """Whether aiortc started the sender (its transport is negotiated)."""
    return bool(sender._RTCRtpSender__started)


def set_sender_report(sender: Any, ntp: int, rtp_ts: int, packets: int, octets: int) -> None:
    """The fields the slot's next SR carries."""
    sender._RTCRtpSender__ntp_timestamp = ntp
    sender._RTCRtpSender__rtp_timestamp = rtp_ts
    sender._RTCRtpSender__packet_count = packets
    sender._RTCRtpSender__octet_count = octets


def sender_report(sender: Any) -> tuple[int, int, int, int, bytes | None]:
    """(ntp, rtp time, packets, octets, cname) for the slot's next SR."""
    cname = sender._RTCRtpSender__cname
    return (sender._RTCRtpSender__ntp_timestamp, sender._RTCRtpSender__rtp_timestamp,
            sender._RTCRtpSender__packet_count, sender._RTCRtpSender__octet_count,
            cname.encode("utf8") if cname is not None else None)


def note_lsr(sender: Any, lsr: int, now: float) -> None:
    """Remember an SR sent, for the RTT aiortc computes from the receiver's report."""
    sender._RTCRtpSender__lsr = lsr
    sender._RTCRtpSender__lsr_time = now


async def parked_rtcp(sender: Any, ssrc: int) -> None:
    """Stands in for a sender's ``_run_rtcp``: keeps its start/exit handshake with
    ``RTCRtpSender.stop`` and its BYE, but sends no periodic report."""
    sender._RTCRtpSender__rtcp_started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.get_running_loop().create_future()
    try:
        await sender._send_rtcp([RtcpByePacket(sources=[ssrc])])
    except Exception:
        logger.debug("RTCP BYE failed", exc_info=True)
    finally:
        sender._RTCRtpSender__rtcp_exited.set()
