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
    need_method(RTCRtpTransceiver, "setCodecPreferences", ("codecs",))
    need_method(StreamStatistics, "add", ("packet",))
    need_method(RTCIceGatherer, "gather")
    need_method(aioice.ice.Connection, "get_component_candidates",
                ("component", "addresses", "timeout"))
    need_method(aioice.ice.StunProtocol, "datagram_received", ("data", "addr"))
    need_method(aioice.ice.Connection, "gather_candidates")
    # Binding host candidates inside a fixed UDP range builds them like aioice does.
    need_method(aioice.ice.StunProtocol, "__init__", ("receiver",))
    import aioice.candidate

    for name in ("Candidate", "candidate_foundation", "candidate_priority"):
        if not hasattr(aioice.candidate, name):
            problems.append(f"aioice.candidate.{name} is missing")
    if not hasattr(pylibsrtp, "Error"):
        problems.append("pylibsrtp.Error is missing")

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
                        "_RTCRtpSender__octet_count")),
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
