"""Startup self-test: every private aiortc/aioice name the relay relies on must exist.

The relay forwards RTP through private internals of aiortc 1.16.0 and aioice 0.13.0
(pinned exactly). If an upgrade renames one, refuse to start with a clear message
instead of silently decoding, dropping media or crashing per packet.
"""

from __future__ import annotations

import asyncio
import inspect

from .errors import MediaError

EXPECTED_VERSIONS = {"aiortc": "1.16.0", "aioice": "0.13.0"}


def _static_problems() -> list[str]:
    from importlib.metadata import version

    import aioice.ice
    import pylibsrtp
    from aiortc import RTCRtpTransceiver
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer
    from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
    from aiortc.rtcrtpsender import RTCRtpSender

    problems: list[str] = []
    for dist, want in EXPECTED_VERSIONS.items():
        got = version(dist)
        if got != want:
            problems.append(f"{dist} is {got}, the relay is verified against {want}")

    def need_method(cls: type, name: str, params: tuple[str, ...] = ()) -> None:
        fn = getattr(cls, name, None)
        if fn is None or not callable(fn):
            problems.append(f"{cls.__module__}.{cls.__name__}.{name} is missing")
            return
        have = tuple(inspect.signature(fn).parameters)[1:]
        if params and have[: len(params)] != params:
            problems.append(f"{cls.__name__}.{name}{have} != expected {params}")

    need_method(RTCDtlsTransport, "_handle_rtp_data", ("data", "arrival_time_ms"))
    need_method(RTCRtpReceiver, "_send_rtcp_pli", ("media_ssrc",))
    need_method(RTCRtpReceiver, "_send_rtcp_nack", ("media_ssrc", "lost"))
    need_method(RTCRtpSender, "_send_keyframe")
    need_method(RTCRtpSender, "_retransmit", ("sequence_number",))
    need_method(RTCRtpSender, "_handle_rtcp_packet", ("packet",))
    # Peer._rtcp_loop sends the slots' SRs compounded; each sender's own loop is parked.
    need_method(RTCRtpSender, "_run_rtcp")
    need_method(RTCRtpSender, "_send_rtcp", ("packets",))
    need_method(RTCDtlsTransport, "_send_rtp", ("data",))
    need_method(RTCRtpTransceiver, "setCodecPreferences", ("codecs",))
    need_method(StreamStatistics, "add", ("packet",))
    need_method(RTCIceGatherer, "gather")
    need_method(aioice.ice.Connection, "get_component_candidates",
                ("component", "addresses", "timeout"))
    need_method(aioice.ice.StunProtocol, "datagram_received", ("data", "addr"))
    need_method(aioice.ice.Connection, "gather_candidates")
    # ice.nominate_once: check_start nominates aggressively unless remote_is_lite.
    if "remote_is_lite" not in inspect.getsource(aioice.ice.Connection.check_start):
        problems.append("aioice Connection.check_start no longer reads remote_is_lite "
                        "(the relay's single nomination relies on it)")
    # Binding host candidates inside a fixed UDP range builds them like aioice does.
    need_method(aioice.ice.StunProtocol, "__init__", ("receiver",))
    import aioice.candidate

    for name in ("Candidate", "candidate_foundation", "candidate_priority"):
        if not hasattr(aioice.candidate, name):
            problems.append(f"aioice.candidate.{name} is missing")
    if not hasattr(pylibsrtp, "Error"):
        problems.append("pylibsrtp.Error is missing")
    # Egress and ingress call libsrtp directly on one preallocated buffer.
    try:
        from pylibsrtp._binding import ffi as srtp_ffi
        from pylibsrtp._binding import lib as srtp_lib
    except ImportError:
        problems.append("pylibsrtp._binding (ffi, lib) is missing")
    else:
        for name in ("srtp_protect", "srtp_unprotect"):
            if not hasattr(srtp_lib, name):
                problems.append(f"pylibsrtp._binding.lib.{name} is missing")
        if not hasattr(srtp_ffi, "buffer"):
            problems.append("pylibsrtp._binding.ffi.buffer is missing")
    # Egress writes to the raw socket of asyncio's UDP transport when it can.
    import asyncio.selector_events

    transport_cls = getattr(asyncio.selector_events, "_SelectorDatagramTransport", None)
    if transport_cls is None:
        problems.append("asyncio.selector_events._SelectorDatagramTransport is missing")
    need_method(aioice.ice.CandidatePair, "__init__", ("protocol", "remote_candidate"))
    if not isinstance(getattr(aioice.ice.CandidatePair, "remote_addr", None), property):
        problems.append("aioice.ice.CandidatePair.remote_addr is not a property")
    try:
        if not hasattr(pylibsrtp.Session(), "_srtp"):
            problems.append("pylibsrtp.Session._srtp is missing")
    except Exception as exc:  # pragma: no cover - a broken libsrtp binding
        problems.append(f"pylibsrtp.Session() failed: {exc!r}")

    return problems


async def _live_problems() -> list[str]:
    """Instance attributes only exist on live objects: build a throwaway PC."""
    from aiortc import RTCPeerConnection
    from aiortc.rtcicetransport import RTCIceTransport

    problems: list[str] = []
    pc = RTCPeerConnection()
    try:
        t = pc.addTransceiver("video", direction="sendonly")
        dtls = t.sender.transport
        checks: tuple[tuple[object, tuple[str, ...]], ...] = (
            (dtls, ("_rx_srtp", "_tx_srtp", "transport")),
            (dtls.transport, ("_connection",)),
            (dtls.transport._connection,
             ("_nominated", "_protocols", "get_component_candidates")),
            (t.sender, ("_ssrc", "_rtx_ssrc", "transport", "_RTCRtpSender__ntp_timestamp",
                        "_RTCRtpSender__rtp_timestamp", "_RTCRtpSender__packet_count",
                        "_RTCRtpSender__octet_count", "_RTCRtpSender__rtcp_started",
                        "_RTCRtpSender__rtcp_exited", "_RTCRtpSender__started",
                        "_RTCRtpSender__cname", "_RTCRtpSender__lsr",
                        "_RTCRtpSender__lsr_time")),
            (t.receiver, ("_RTCRtpReceiver__remote_streams", "_handle_rtcp_packet")),
            (t, ("_codecs", "_headerExtensions", "mid", "receiver", "sender")),
        )
        for obj, attrs in checks:
            for attr in attrs:
                if not hasattr(obj, attr):
                    problems.append(f"{type(obj).__name__}.{attr} is missing")
        if not isinstance(dtls.transport, RTCIceTransport):
            problems.append("RTCDtlsTransport.transport is not an RTCIceTransport")
        elif not isinstance(getattr(dtls.transport._connection, "_nominated", None), dict):
            problems.append("aioice Connection._nominated is not a dict")
    finally:
        await pc.close()
    # asyncio's UDP transport: Egress sends on its socket unless it buffers.
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        for attr in ("_sock", "_buffer"):
            if not hasattr(transport, attr):
                problems.append(f"{type(transport).__name__}.{attr} is missing")
    finally:
        transport.close()
    return problems


def _raise(problems: list[str]) -> None:
    if problems:
        raise MediaError(
            "internals_changed",
            "aiortc/aioice internals changed; refusing to start the relay: "
            + "; ".join(problems),
        )


async def check_internals_async() -> None:
    """``check_internals`` for callers already inside an event loop."""
    _raise(_static_problems() + await _live_problems())


def check_internals() -> None:
    """Raise MediaError('internals_changed') listing every missing private name.

    Call before starting the event loop (use ``check_internals_async`` inside one).
    """
    _raise(_static_problems() + asyncio.run(_live_problems()))
