"""The compose file agrees with the app's configuration (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from server.config import SECRET_FIELDS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def example_env() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / "deploy" / "hearth.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def substitute(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)


def test_services_and_healthchecks() -> None:
    services = compose()["services"]
    assert set(services) == {"app", "redis", "coturn"}
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        assert svc["healthcheck"]["test"], name
    assert services["app"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_app_environment_is_valid_configuration(tmp_path: Path) -> None:
    app = compose()["services"]["app"]
    env = {k: substitute(str(v), example_env()) for k, v in app["environment"].items()}
    known = {f"HEARTH_{n.upper()}" for n in Settings.model_fields}
    known |= {f"HEARTH_{n.upper()}_FILE" for n in SECRET_FIELDS}
    assert set(env) <= known, set(env) - known
    # Secret files are mounted by compose; stand in for them so the loader reads real files.
    for var in [k for k in env if k.endswith("_FILE")]:
        name = var.removeprefix("HEARTH_").removesuffix("_FILE").lower()
        path = tmp_path / name
        path.write_text("k1:" + "s" * 40 if name == "jwt_keys" else "A" * 43 + "=")
        env[var] = str(path)
    settings = load_settings(env)  # production mode: would refuse a password-less Redis
    assert settings.mode == "production"
    assert app["network_mode"] == "host"  # media sockets need the host's addresses
    assert settings.port == 8443
    assert settings.host == "0.0.0.0"
    assert settings.media_hosts == ("203.0.113.10",)
    assert settings.media_port_range == (40000, 40999)
    assert settings.secret("turn_secret") == example_env()["TURN_SECRET"]
    assert any(u.startswith("turn:") for u in settings.ice_servers)
    assert str(settings.cert_path).startswith("/run/hearth/tls")


def test_redis_persists_with_aof_and_password() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--requirepass ${REDIS_PASSWORD}" in command
    assert "REDIS_PASSWORD" in example_env()
    assert "redis-data:/data" in redis["volumes"]
    app_url = compose()["services"]["app"]["environment"]["HEARTH_REDIS_URL"]
    assert "${REDIS_PASSWORD}@127.0.0.1:6379" in app_url
    assert redis["ports"] == ["127.0.0.1:6379:6379"]  # never exposed beyond the host


def test_coturn_uses_the_shared_secret_the_app_uses() -> None:
    coturn = compose()["services"]["coturn"]
    command = " ".join(coturn["command"])
    assert "--use-auth-secret" in command
    assert "--static-auth-secret=${TURN_SECRET}" in command
    assert compose()["services"]["app"]["environment"]["HEARTH_TURN_SECRET"] == "${TURN_SECRET}"
    assert "--no-multicast-peers" in command
    assert "--denied-peer-ip=10.0.0.0-10.255.255.255" in command
    assert "--allowed-peer-ip=${HEARTH_MEDIA_HOSTS}" in command


def test_dockerfile_runs_the_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["hearth", "serve"]' in dockerfile
    assert "EXPOSE 8443" in dockerfile
    assert "npm ci" in dockerfile
