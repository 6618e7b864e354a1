"""Key material: rotation-ready key ring, data key validation, dev keys persisted."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from server.config import ConfigError, load_settings
from server.keys import KeyRing, load_keys, parse_data_key


def test_key_ring_first_key_signs_all_verify() -> None:
    ring = KeyRing.parse(f"new:{'n' * 32},old:{'o' * 32}")
    assert ring.active_kid == "new"
    assert set(ring.keys) == {"new", "old"}


@pytest.mark.parametrize("spec", ["nokid", f":{'x' * 32}", "k:short"])
def test_key_ring_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError, match="HEARTH_JWT_KEYS"):
        KeyRing.parse(spec)


def test_data_key_must_be_32_bytes() -> None:
    parse_data_key(base64.b64encode(b"k" * 32).decode())
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_data_key(base64.b64encode(b"k" * 16).decode())
    with pytest.raises(ConfigError, match="base64"):
        parse_data_key("not base64!!")


def test_dev_keys_are_generated_once_and_private(tmp_path: Path) -> None:
    settings = load_settings({"HEARTH_DATA_DIR": str(tmp_path)})
    first = load_keys(settings)
    second = load_keys(settings)
    assert first.ring == second.ring
    key_file = tmp_path / "secrets" / "jwt_keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    nonce = b"n" * 12
    assert second.data.decrypt(nonce, first.data.encrypt(nonce, b"hi", None), None) == b"hi"
