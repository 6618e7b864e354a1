"""Egress: protect and send one subscribe transport's packets, off aiortc's path.

Protects with the transport's SRTP session (libsrtp called directly on the shared
buffer of ``media.srtp``) and writes straight to the nominated candidate pair's raw
socket, falling back to asyncio's transport when it would block, so order is kept.
``Egress.send`` runs once per packet per sink: its reads of ``_tx_srtp`` and the
transport's ``_buffer`` stay inline (both listed in ``aiortc_shim.INTERNALS``).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from . import aiortc_shim
from .srtp import BUF as _cbuf
from .srtp import DATA as _cdata
from .srtp import LEN as _clen
from .srtp import MAX_PACKET as _MAX_PACKET
from .srtp import PROTECT as _srtp_protect
from .srtp import VIEW as _cview

logger = logging.getLogger(__name__)


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

    def __init__(self, dtls: Any, connect: bool = False) -> None:
        self.dtls = dtls
        self._connect = connect
        self._nominated: dict[int, Any] = aiortc_shim.nominated(aiortc_shim.ice_connection(dtls))
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
        sock = aiortc_shim.raw_socket(transport)
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
            raise aiortc_shim.SrtpError(f"srtp_protect failed with status {status}")
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


def egress_for(dtls: Any, connect: bool = False) -> Egress:
    """The transport's ``Egress``, created on first use and kept on the transport.

    ``connect``: ``connect()`` the nominated pair's socket to the remote address (see
    ``RelayConfig.connect_egress_sockets``); only the first call for a transport
    decides it.
    """
    egress: Egress | None = getattr(dtls, "_hearth_egress", None)
    if egress is None:
        egress = Egress(dtls, connect)
        dtls._hearth_egress = egress
    return egress
