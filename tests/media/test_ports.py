"""Fixed media ports: the relay's ICE sockets stay inside the configured UDP range, and
an exhausted range refuses that one join with a clear code."""

from __future__ import annotations

import socket

import pytest

from media.config import RelayConfig
from media.errors import MediaError
from media.ice import _connections
from media.relay import Relay
from testkit.rtc import Client, one_way

pytestmark = pytest.mark.timeout(40)


def free_range(width: int) -> tuple[int, int]:
    """``width`` consecutive UDP ports on 127.0.0.1 that are free right now."""
    for base in range(41000, 60000, 97):
        socks = []
        try:
            for port in range(base, base + width):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base, base + width - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free UDP range")


async def test_sockets_stay_in_range_and_media_flows() -> None:
    low, high = free_range(12)
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",), port_range=(low, high)))
    try:
        async with one_way(relay, 0x33):
            ports = []
            for peer in relay.routers["s1"].peers.values():
                for pc in (peer.publish_pc, peer.subscribe_pc):
                    if pc is None:
                        continue
                    for conn in _connections(pc):
                        ports += [p.transport.get_extra_info("sockname")[1]
                                  for p in conn._protocols]
            assert ports
            assert all(low <= p <= high for p in ports), (ports, low, high)
    finally:
        await relay.close()


async def test_exhausted_range_refuses_that_join_only() -> None:
    low, high = free_range(1)
    relay = Relay(RelayConfig(host_addresses=("127.0.0.1",), port_range=(low, high)))
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", low))  # the only port of the range is taken
    a = Client(relay, "s1", "a", code=0x44)
    try:
        await a.join()
        with pytest.raises(MediaError) as err:
            await a.publish()
        assert err.value.code == "no_media_ports"
        blocker.close()  # the port comes free: the next attempt works
        b = Client(relay, "s1", "b", code=0x45)
        await b.join()
        await b.publish()
        await b.close()
    finally:
        blocker.close()
        await a.close()
        await relay.close()
