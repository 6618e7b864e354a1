"""ICE and transport hooks, in three parts (this module gathers their public names):

* ``media.gathering``: which addresses and ports the relay gathers and announces,
  and single nomination when it controls;
* ``media.ingress``: decrypted RTP taken in the UDP callback of a publisher's
  transport, before aioice's queue and aiortc's DTLS task;
* ``media.egress``: protect-and-send straight to a subscribe transport's nominated
  pair.

Every private aiortc/aioice name they use is listed in ``media.aiortc_shim``.
"""

from __future__ import annotations

from .egress import Egress, egress_for
from .gathering import (
    _connections,
    _NominateOnce,
    dtls_transports,
    has_candidates,
    nominate_once,
    restrict_gathering,
)
from .ingress import INGRESS_BATCH, RtpSink, install_ingress
from .srtp import unprotect as srtp_unprotect

__all__ = [
    "INGRESS_BATCH",
    "Egress",
    "RtpSink",
    "_NominateOnce",
    "_connections",
    "dtls_transports",
    "egress_for",
    "has_candidates",
    "install_ingress",
    "nominate_once",
    "restrict_gathering",
    "srtp_unprotect",
]
