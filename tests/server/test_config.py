"""Configuration: defaults, env and TOML layering, secrets from files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, load_settings, settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_configuration() -> None:
    s = load_settings({})
    assert (s.host, s.port, s.public_url, s.redis_url, s.mode) == (
        "127.0.0.1", 8443, "https://localhost:8443", None, "development"
    )
    assert s.data_dir == Path("data")


def test_env_overrides_and_lists() -> None:
    s = load_settings({
        "HEARTH_PORT": "9443", "HEARTH_PUBLIC_URL": "https://clinic.example/",
        "HEARTH_MEDIA_HOSTS": "127.0.0.1, 10.0.0.5", "HEARTH_TLS": "false",
    })
    assert s.port == 9443
    assert s.public_url == "https://clinic.example"
    assert s.public_origin == "https://clinic.example"
    assert s.media_hosts == ("127.0.0.1", "10.0.0.5")
    assert s.tls is False


def test_toml_file_then_env_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "hearth.toml"
    cfg.write_text('port = 7000\nhost = "0.0.0.0"\n')
    s = load_settings({"HEARTH_CONFIG": str(cfg), "HEARTH_PORT": "7001"})
    assert (s.host, s.port) == ("0.0.0.0", 7001)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEARTH_PORT": "abc"}, "HEARTH_PORT: Input should be a valid integer"),
        ({"HEARTH_PORT": "70000"}, "HEARTH_PORT: Input should be less than or equal to 65535"),
        ({"HEARTH_COLOUR": "blue"}, "HEARTH_COLOUR: unknown setting"),
        ({"HEARTH_PUBLIC_URL": "clinic"}, "HEARTH_PUBLIC_URL: must be an absolute http(s) URL"),
        ({"HEARTH_REDIS_URL": "http://x"}, "HEARTH_REDIS_URL: must start with redis://"),
        ({"HEARTH_LOG_LEVEL": "LOUD"}, "HEARTH_LOG_LEVEL: Input should be"),
        ({"HEARTH_CONFIG": "/nonexistent.toml"}, "HEARTH_CONFIG: cannot read"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_unknown_key_in_toml_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "hearth.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="HEARTH_PROT: unknown setting"):
        load_settings({"HEARTH_CONFIG": str(cfg)})


def test_secret_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "redis"
    secret.write_text("redis://:s3cret-pw@127.0.0.1:6379/0\n")
    s = load_settings({"HEARTH_REDIS_URL_FILE": str(secret)})
    assert s.secret("redis_url") == "redis://:s3cret-pw@127.0.0.1:6379/0"
    assert "s3cret" not in repr(s)
    assert "s3cret" not in str(s.model_dump())


def test_secret_file_missing_is_named() -> None:
    with pytest.raises(ConfigError, match="HEARTH_DATA_KEY_FILE: cannot read"):
        load_settings({"HEARTH_DATA_KEY_FILE": "/nope/key"})


def test_production_refuses_redis_without_password() -> None:
    base = {"HEARTH_MODE": "production", "HEARTH_JWT_KEYS": "k:" + "x" * 40,
            "HEARTH_DATA_KEY": "A" * 44}
    with pytest.raises(ConfigError, match="HEARTH_REDIS_URL: production refuses"):
        load_settings({**base, "HEARTH_REDIS_URL": "redis://127.0.0.1:6379/0"})
    ok = load_settings({**base, "HEARTH_REDIS_URL": "redis://:pw@127.0.0.1:6379/0"})
    assert ok.redis_url is not None
    # Development tolerates a password-less local Redis.
    assert load_settings({"HEARTH_REDIS_URL": "redis://127.0.0.1:6379/0"}).redis_url


def test_production_requires_keys() -> None:
    with pytest.raises(ConfigError, match="HEARTH_JWT_KEYS"):
        load_settings({"HEARTH_MODE": "production"})


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's configuration table is stale: " \
        "paste the output of `.venv/bin/python -m server.config`"


def test_media_ports_range() -> None:
    assert load_settings({"HEARTH_MEDIA_PORTS": "40000-40999"}).media_port_range == (40000, 40999)
    assert load_settings({}).media_port_range is None
    for bad in ("40000", "50000-40000", "80-90", "a-b"):
        with pytest.raises(ConfigError, match="HEARTH_MEDIA_PORTS"):
            load_settings({"HEARTH_MEDIA_PORTS": bad})


def test_nat_announce_pairs_with_media_hosts() -> None:
    from server.composition import relay_config

    s = load_settings({"HEARTH_MEDIA_HOSTS": "10.0.0.5", "HEARTH_MEDIA_ANNOUNCE": "203.0.113.7"})
    assert relay_config(s).announce == (("10.0.0.5", "203.0.113.7"),)
    assert relay_config(load_settings({"HEARTH_MEDIA_HOSTS": "10.0.0.5"})).announce == ()
    with pytest.raises(ConfigError, match="one public address per media_hosts entry"):
        load_settings({"HEARTH_MEDIA_HOSTS": "10.0.0.5",
                       "HEARTH_MEDIA_ANNOUNCE": "203.0.113.7,203.0.113.8"})


def test_placement_defaults_and_node_identity() -> None:
    s = load_settings({"HEARTH_PORT": "9001", "HEARTH_PUBLIC_URL": "https://clinic.example"})
    assert s.node_id.endswith("-9001")
    assert s.node_url == "https://clinic.example"
    with pytest.raises(ConfigError, match="at least twice the heartbeat"):
        load_settings({"HEARTH_PLACEMENT_HEARTBEAT_SECONDS": "3",
                       "HEARTH_PLACEMENT_TTL_SECONDS": "4"})


def test_lists_from_toml_and_env_and_the_order_of_sources(tmp_path: Path) -> None:
    cfg = tmp_path / "hearth.toml"
    cfg.write_text('ice_servers = ["turn:a.example:3478", "stun:b.example"]\n'
                   'media_hosts = "10.0.0.5, 10.0.0.6"\nlog_level = "DEBUG"\n')
    secret = tmp_path / "turn"
    secret.write_text("from-file\n")
    s = load_settings({"HEARTH_CONFIG": str(cfg), "HEARTH_TURN_SECRET_FILE": str(secret),
                       "HEARTH_LOG_LEVEL": "WARNING"})
    assert s.ice_servers == ("turn:a.example:3478", "stun:b.example")
    assert s.media_hosts == ("10.0.0.5", "10.0.0.6")
    assert s.log_level == "WARNING"  # the environment wins over the file
    assert s.secret("turn_secret") == "from-file"
    both = load_settings({"HEARTH_TURN_SECRET_FILE": str(secret), "HEARTH_TURN_SECRET": "env"})
    assert both.secret("turn_secret") == "env"
    assert load_settings({"HEARTH_TRUSTED_PROXIES": "[1]"}).trusted_proxies == ("[1]",)  # not JSON
    assert load_settings({}, {"port": 9000}).port == 9000  # explicit overrides win


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "hearth.toml"
    cfg.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match=r"HEARTH_CONFIG: .* is not valid TOML"):
        load_settings({"HEARTH_CONFIG": str(cfg)})


def test_settings_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.config import Settings

    monkeypatch.setenv("HEARTH_PORT", "9555")
    monkeypatch.setenv("HEARTH_MEDIA_HOSTS", "127.0.0.1,127.0.0.2")
    assert Settings().port == 9555
    assert load_settings().media_hosts == ("127.0.0.1", "127.0.0.2")


def test_simulcast_and_the_clinic_cap_reach_the_relay() -> None:
    from server.composition import relay_config

    default = relay_config(load_settings({"HEARTH_MEDIA_HOSTS": "127.0.0.1"}))
    assert (default.simulcast, default.max_layer) == (False, "f")
    assert default.simulcast_encodings() == []
    capped = relay_config(load_settings({"HEARTH_MEDIA_HOSTS": "127.0.0.1",
                                         "HEARTH_SIMULCAST": "true",
                                         "HEARTH_VIDEO_MAX_LAYER": "h"}))
    assert (capped.simulcast, capped.max_layer) == (True, "h")
    assert [e["rid"] for e in capped.simulcast_encodings()] == ["q", "h", "f"]
    for bad in ("x", "720p", "F "):
        with pytest.raises(ConfigError, match="HEARTH_VIDEO_MAX_LAYER"):
            load_settings({"HEARTH_VIDEO_MAX_LAYER": bad})
    with pytest.raises(ConfigError, match="HEARTH_SIMULCAST"):
        load_settings({"HEARTH_SIMULCAST": "sometimes"})
