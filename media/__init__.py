"""Hearth's SFU media relay: RTP-level forwarding on aiortc (see media/README.md).

The relay and the self-test are imported on first use, so the pure mechanism modules
(``media.munger``, ``media.nack``, ``media.keyframes``, ``media.rtcp``,
``media.speaker``, ``media.rtp``) import without aiortc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import IceServer, RelayConfig
from .errors import MediaError

if TYPE_CHECKING:
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

_LAZY = {"Relay": "relay", "check_internals": "selftest", "check_internals_async": "selftest"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'media' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
