"""AES-GCM sealing of identifying fields (households, series links) with the data key.

Each value gets a fresh 96-bit nonce and its record key as associated data, so a
sealed blob cannot be moved to another record. The data key is the ring of
``server.keys.DataKeys``: sealed with the current key, opened by any configured one;
``reseal`` rewrites a blob under the current key (``hearth keys reseal``).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag

from rooms.stores import Aead

FORMAT = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened with any configured key."""


class Sealer:
    def __init__(self, aead: Aead) -> None:
        self._aead = aead

    def seal(self, plain: bytes, context: str) -> str:
        nonce = os.urandom(12)
        blob = FORMAT + nonce + self._aead.encrypt(nonce, plain, context.encode())
        return base64.b64encode(blob).decode()

    def open(self, sealed: str, context: str) -> bytes:
        blob = base64.b64decode(sealed)
        if blob[:1] != FORMAT:
            raise SealError("unknown sealed format")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], context.encode())
        except InvalidTag as exc:
            raise SealError("no key opens this value") from exc

    def reseal(self, sealed: str, context: str) -> str:
        return self.seal(self.open(sealed, context), context)
