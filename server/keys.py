"""Key material: link-signing keys with rotation, and the at-rest encryption key.

Keys come from configuration (or ``*_FILE``). In development only, missing keys
are generated once into ``<data_dir>/secrets/`` with mode 0600 so that a fresh
checkout runs with one command and keys survive restarts.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.config import ConfigError, Settings

MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    """HS256 signing keys by kid; the first one signs, all of them verify."""

    keys: dict[str, bytes]
    active_kid: str

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        for item in spec.split(","):
            kid, sep, secret = item.strip().partition(":")
            if not sep or not kid or not secret:
                raise ConfigError("HEARTH_JWT_KEYS: expected `kid:secret[,kid:secret...]`")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"HEARTH_JWT_KEYS: key {kid!r} is shorter than {MIN_SECRET_BYTES} bytes"
                )
            keys[kid] = secret.encode()
        return cls(keys, next(iter(keys)))

    @property
    def active(self) -> bytes:
        return self.keys[self.active_kid]


def parse_data_key(value: str, setting: str = "HEARTH_DATA_KEY") -> AESGCM:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(f"{setting}: not valid base64") from exc
    if len(raw) != 32:
        raise ConfigError(f"{setting}: must decode to exactly 32 bytes (AES-256)")
    return AESGCM(raw)


class DataKeys:
    """The data-key ring: seals with the current key; the previous keys (a rotation in
    progress) still open what they sealed. ``hearth keys reseal`` rewrites every sealed
    value under the current key, after which the previous keys can be dropped."""

    def __init__(self, current: AESGCM, previous: Sequence[AESGCM] = ()) -> None:
        self._current = current
        self._keys = (current, *previous)

    @property
    def rotating(self) -> bool:
        return len(self._keys) > 1

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._current.encrypt(nonce, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        for key in self._keys:
            try:
                return key.decrypt(nonce, data, associated_data)
            except InvalidTag:
                continue
        raise InvalidTag

    def is_current(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bool:
        """Whether the current key opens this value (a reseal skips it)."""
        try:
            self._current.decrypt(nonce, data, associated_data)
        except InvalidTag:
            return False
        return True


def _dev_secret(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(make)
    return make


@dataclass(frozen=True)
class Keys:
    ring: KeyRing
    data: DataKeys


def load_keys(settings: Settings) -> Keys:
    """Keys from settings; in development, generate missing ones into the data dir."""
    jwt_spec = settings.secret("jwt_keys")
    data_key = settings.secret("data_key")
    secrets_dir = settings.data_dir / "secrets"
    if jwt_spec is None:
        if settings.mode == "production":
            raise ConfigError("HEARTH_JWT_KEYS: required in production")
        jwt_spec = _dev_secret(
            secrets_dir / "jwt_keys", f"dev1:{secrets.token_urlsafe(48)}"
        )
    if data_key is None:
        if settings.mode == "production":
            raise ConfigError("HEARTH_DATA_KEY: required in production")
        data_key = _dev_secret(
            secrets_dir / "data_key", base64.b64encode(AESGCM.generate_key(256)).decode()
        )
    previous = settings.secret("data_key_previous") or ""
    older = [parse_data_key(item, "HEARTH_DATA_KEY_PREVIOUS")
             for item in previous.split(",") if item.strip()]
    return Keys(KeyRing.parse(jwt_spec), DataKeys(parse_data_key(data_key), older))
