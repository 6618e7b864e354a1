"""AES-GCM sealing of identifying fields, with the data key the chat uses.

Each value gets a fresh 96-bit nonce and its record key as associated data, so a
sealed blob cannot be moved to another record. For key rotation a Sealer takes
the current key first and any previous keys after it: it seals with the first
and opens with whichever authenticates, and ``reseal`` rewrites a blob under the
current key (see docs/program.md).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened with any configured key."""


class Sealer:
    def __init__(self, keys: Sequence[AESGCM]) -> None:
        if not keys:
            raise ValueError("at least one data key")
        self._keys = list(keys)

    def seal(self, plain: bytes, context: str) -> str:
        nonce = os.urandom(12)
        blob = FORMAT + nonce + self._keys[0].encrypt(nonce, plain, context.encode())
        return base64.b64encode(blob).decode()

    def open(self, sealed: str, context: str) -> bytes:
        blob = base64.b64decode(sealed)
        if blob[:1] != FORMAT:
            raise SealError("unknown sealed format")
        nonce, body = blob[1:13], blob[13:]
        for key in self._keys:
            try:
                return key.decrypt(nonce, body, context.encode())
            except InvalidTag:
                continue
        raise SealError("no key opens this value")

    def reseal(self, sealed: str, context: str) -> str:
        return self.seal(self.open(sealed, context), context)
