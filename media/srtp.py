"""libsrtp called directly on one preallocated buffer (ingress and egress share it).

One process-wide SRTP work buffer: libsrtp protects and unprotects in place; the event
loop is single-threaded and every use copies out (or sends) before returning, so one
buffer serves every session. pylibsrtp's ``Session.protect`` does the same on a
per-session buffer but allocates an ``int *`` and a result copy per call.
"""

from __future__ import annotations

from typing import Any

from . import aiortc_shim

BUF_SIZE = 4096
TRAILER = 4 + 16 + 128  # pylibsrtp's SRTP_MAX_SRTCP_TRAILER_LEN
MAX_PACKET = BUF_SIZE - TRAILER
DATA = aiortc_shim.SRTP_FFI.new("char[]", BUF_SIZE)
BUF = aiortc_shim.SRTP_FFI.buffer(DATA)
VIEW = memoryview(BUF)
LEN = aiortc_shim.SRTP_FFI.new("int *")
PROTECT = aiortc_shim.SRTP_PROTECT
UNPROTECT = aiortc_shim.SRTP_UNPROTECT


def unprotect(session: Any, data: bytes) -> bytes | None:
    """``session.unprotect(data)`` without pylibsrtp's per-call allocations; None on
    an authentication or replay failure (what pylibsrtp raises for)."""
    n = len(data)
    if n > MAX_PACKET:
        return None
    BUF[0:n] = data
    LEN[0] = n
    if UNPROTECT(session._srtp[0], DATA, LEN):
        return None
    out: bytes = BUF[0 : LEN[0]]
    return out
