"""ICE gathering and nomination on the relay's own peer connections.

* ``restrict_gathering``: aioice gathers on every interface except loopback
  (``aioice.ice.get_host_addresses``). We replace, per aioice ``Connection``
  instance, ``get_component_candidates`` so that it binds exactly the configured
  addresses (optionally inside a UDP port range, optionally announced under a NAT's
  public address). Nothing global is patched, so two relays (or a relay and test
  clients) in one process can use different addresses.
* ``nominate_once``: regular nomination when the relay is the controlling agent.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

from . import aiortc_shim

logger = logging.getLogger(__name__)


def _connections(pc: RTCPeerConnection) -> list[Any]:
    seen: dict[int, Any] = {}
    for t in pc.getTransceivers():
        for dtls in (t.receiver.transport, t.sender.transport):
            conn = aiortc_shim.ice_connection(dtls)
            seen[id(conn)] = conn
    sctp = pc.sctp
    if sctp is not None:
        conn = aiortc_shim.sctp_ice_connection(sctp)
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
                    lambda: aiortc_shim.StunProtocol(conn), local_addr=(address, port)
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
            aiortc_shim.protocols(conn).append(protocol)
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
