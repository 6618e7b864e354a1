"""NAT 1:1: the relay binds a private address and announces the public one.

A userspace 1:1 NAT stands in front of the relay: each port of the public address
(127.0.0.2) forwards to the same port of the private one (127.0.0.1), and replies
leave from the public address. The relay's descriptions must name only the public
address, its sockets must stay on the private one, and the clients' checks sent to the
public address must be answered through the NAT.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from media.config import RelayConfig
from media.ice import _connections
from media.relay import Relay
from testkit.rtc import one_way

from .test_ports import free_range

pytestmark = pytest.mark.timeout(40)
PRIVATE, PUBLIC, INSIDE = "127.0.0.1", "127.0.0.2", "127.0.0.3"


class _Inside(asyncio.DatagramProtocol):
    """The NAT's socket towards the relay for one (client, port) mapping."""

    def __init__(self, outside: _Outside, client: tuple[str, int]) -> None:
        self.outside = outside
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.outside.nat.replies += 1
        assert self.outside.transport is not None
        self.outside.transport.sendto(data, self.client)


class _Outside(asyncio.DatagramProtocol):
    """The NAT's public socket on one port."""

    def __init__(self, nat: OneToOneNat, port: int) -> None:
        self.nat = nat
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.inside: dict[tuple[str, int], _Inside] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.nat.forwarded += 1
        inside = self.inside.get(addr)
        if inside is None:
            inside = self.inside[addr] = _Inside(self, addr)
            task = asyncio.get_running_loop().create_task(self._open(inside, data))
            self.nat.tasks.add(task)
            task.add_done_callback(self.nat.tasks.discard)
            return
        if inside.transport is not None:
            inside.transport.sendto(data, (PRIVATE, self.port))

    async def _open(self, inside: _Inside, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: inside, local_addr=(INSIDE, 0))
        assert inside.transport is not None
        inside.transport.sendto(first, (PRIVATE, self.port))


class OneToOneNat:
    def __init__(self, ports: tuple[int, int]) -> None:
        self.ports = ports
        self.forwarded = 0
        self.replies = 0
        self.outside: list[_Outside] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in range(self.ports[0], self.ports[1] + 1):
            side = _Outside(self, port)
            await loop.create_datagram_endpoint(lambda s=side: s,  # type: ignore[misc]
                                                local_addr=(PUBLIC, port))
            self.outside.append(side)

    def close(self) -> None:
        for side in self.outside:
            for inside in side.inside.values():
                if inside.transport is not None:
                    inside.transport.close()
            if side.transport is not None:
                side.transport.close()


async def test_relay_announces_the_public_address_reachable_through_the_nat() -> None:
    low, high = free_range(8)
    nat = OneToOneNat((low, high))
    await nat.start()
    relay = Relay(RelayConfig(host_addresses=(PRIVATE,), port_range=(low, high),
                              announce=((PRIVATE, PUBLIC),)))
    async with one_way(relay, 0x44, limit=20):
        sdps = []
        for peer in relay.routers["s1"].peers.values():
            for pc in (peer.publish_pc, peer.subscribe_pc):
                if pc is not None and pc.localDescription is not None:
                    sdps.append(pc.localDescription.sdp)
                    for conn in _connections(pc):  # sockets stay on the private address
                        assert {p.transport.get_extra_info("sockname")[0]
                                for p in conn._protocols} == {PRIVATE}
        assert len(sdps) == 2
        for sdp in sdps:  # only the public address is announced
            hosts = re.findall(r"a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", sdp)
            assert hosts, sdp
            assert set(hosts) == {PUBLIC}, hosts
        # The clients' checks went to the public address, and the relay answered them
        # through the NAT: the announcement is reachable.
        assert nat.forwarded > 0
        assert nat.replies > 0
        await relay.close()
        nat.close()
