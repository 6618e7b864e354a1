"""ice.Egress: direct libsrtp protect and raw-socket send, with the asyncio fallback."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from types import SimpleNamespace
from typing import Any

import pylibsrtp
import pytest

from media import ice

KEY = os.urandom(30)


def _sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    return tx, rx


def _rtp(seq: int, size: int = 900) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0xABCD) + bytes(size)


async def _setup(connect: bool) -> tuple[Any, Any, socket.socket, Any, pylibsrtp.Session]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    rx_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx_sock.bind(("127.0.0.1", 0))
    rx_sock.settimeout(2)
    tx, rx = _sessions()
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=transport),
                           remote_addr=rx_sock.getsockname())
    dtls = SimpleNamespace(_tx_srtp=tx,
                           transport=SimpleNamespace(_connection=SimpleNamespace(
                               _nominated={1: pair})))
    return ice.Egress(dtls, connect=connect), transport, rx_sock, dtls, rx  # type: ignore[arg-type]


@pytest.mark.parametrize("connect", [False, True])
async def test_protects_and_sends(connect: bool) -> None:
    egress, transport, rx_sock, _dtls, rx = await _setup(connect)
    try:
        for seq in (1, 2, 3):
            assert egress.send(_rtp(seq))
            assert rx.unprotect(rx_sock.recv(4096)) == _rtp(seq)
        sock = transport.get_extra_info("socket")
        if connect:
            assert sock.getpeername() == rx_sock.getsockname()
        else:
            with pytest.raises(OSError):
                sock.getpeername()
    finally:
        transport.close()
        rx_sock.close()


async def test_falls_back_to_the_transport_when_the_socket_would_block() -> None:
    egress, transport, rx_sock, _dtls, rx = await _setup(True)
    try:
        assert egress.send(_rtp(1))
        rx_sock.recv(4096)

        def would_block(*_: Any) -> None:
            raise BlockingIOError

        egress._send = would_block  # the cached raw send
        egress._sendto = would_block
        assert egress.send(_rtp(2))  # went through asyncio's transport instead
        assert rx.unprotect(rx_sock.recv(4096)) == _rtp(2)
    finally:
        transport.close()
        rx_sock.close()


async def test_not_ready_and_rekey() -> None:
    egress, transport, rx_sock, dtls, _rx = await _setup(False)
    try:
        session = dtls._tx_srtp
        dtls._tx_srtp = None
        assert not egress.ready()
        assert not egress.send(_rtp(1))
        # a new SRTP session (e.g. a new DTLS handshake) is picked up
        tx2, rx2 = _sessions()
        dtls._tx_srtp = tx2
        assert egress.send(_rtp(5))
        assert rx2.unprotect(rx_sock.recv(4096)) == _rtp(5)
        assert session is not tx2
        # a closed transport is "not ready", not a failure
        transport.close()
        await asyncio.sleep(0)
        assert not egress.send(_rtp(6))
    finally:
        transport.close()
        rx_sock.close()


def test_unprotect_direct() -> None:
    tx, rx = _sessions()
    data = _rtp(9)
    assert ice.srtp_unprotect(rx, tx.protect(data)) == data
    assert ice.srtp_unprotect(rx, b"\x80" + bytes(40)) is None  # bad auth tag: dropped
