"""Startup self-test: every private aiortc/aioice name the relay relies on must exist.

The relay forwards RTP through private internals of aiortc 1.16.0 and aioice 0.13.0
(pinned exactly). If an upgrade renames one, refuse to start with a clear message
instead of silently decoding, dropping media or crashing per packet.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any

from . import aiortc_shim
from .errors import MediaError

EXPECTED_VERSIONS = {"aiortc": "1.16.0", "aioice": "0.13.0"}


def _owner(path: str) -> Any:
    """The class at a dotted path ("package.module.Class"), or None."""
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, name, None)


def _static_problems() -> list[str]:
    from importlib.metadata import version

    import aioice.ice
    import pylibsrtp

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

    # every private method the relay touches (aiortc_shim.INTERNALS)
    for internal in aiortc_shim.INTERNALS:
        if internal.method:
            cls = _owner(internal.owner)
            if cls is None:
                problems.append(f"{internal.owner} is missing")
            else:
                need_method(cls, internal.name, internal.params)
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
    import pylibsrtp
    from aiortc import RTCPeerConnection
    from aiortc.rtcicetransport import RTCIceTransport

    problems: list[str] = []
    # asyncio's UDP transport: Egress sends on its socket unless it buffers.
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    pc = RTCPeerConnection()
    try:
        t = pc.addTransceiver("video", direction="sendonly")
        dtls = t.sender.transport
        live: dict[str, object] = {
            "aiortc.rtcdtlstransport.RTCDtlsTransport": dtls,
            "aiortc.rtcicetransport.RTCIceTransport": dtls.transport,
            "aioice.ice.Connection": dtls.transport._connection,
            "aiortc.rtcrtpsender.RTCRtpSender": t.sender,
            "aiortc.rtcrtpreceiver.RTCRtpReceiver": t.receiver,
            "aiortc.rtcrtptransceiver.RTCRtpTransceiver": t,
            "pylibsrtp.Session": pylibsrtp.Session(),
            "asyncio.selector_events._SelectorDatagramTransport": udp,
        }
        for internal in aiortc_shim.INTERNALS:
            if internal.live:
                obj = live.get(internal.owner)
                if obj is None:
                    problems.append(f"no live {internal.owner} to check {internal.name} on")
                elif not hasattr(obj, internal.name):
                    problems.append(f"{type(obj).__name__}.{internal.name} is missing")
        # public names the relay relies on, on the same objects
        checks: tuple[tuple[object, tuple[str, ...]], ...] = (
            (dtls, ("transport",)),
            (dtls.transport._connection, ("get_component_candidates",)),
            (t.sender, ("transport",)),
            (t, ("mid", "receiver", "sender")),
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
        udp.close()
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
