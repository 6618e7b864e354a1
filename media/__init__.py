"""Hearth's SFU media relay: RTP-level forwarding on aiortc (see media/README.md)."""

from .config import IceServer, RelayConfig
from .errors import MediaError
from .relay import Relay
from .selftest import check_internals, check_internals_async

__all__ = [
    "IceServer",
    "MediaError",
    "Relay",
    "RelayConfig",
    "check_internals",
    "check_internals_async",
]
