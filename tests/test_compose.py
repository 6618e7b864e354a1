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
    """Compose's interpolation: ``${VAR}``, and ``${VAR:-default}`` when unset or empty."""
    def one(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        return env.get(name) or (default if default is not None else env[name])
    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value)


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
    assert "${REDIS_PASSWORD}@${REDIS_HOST:-127.0.0.1}:6379" in app_url
    # One host: loopback only; two nodes: the private address set in REDIS_BIND.
    assert [substitute(p, example_env()) for p in redis["ports"]] == ["127.0.0.1:6379:6379"]
    assert [substitute(p, {}) for p in redis["ports"]] == ["127.0.0.1:6379:6379"]


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


def nginx_rules() -> tuple[dict[str, str], list[str]]:
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    rules = dict(re.findall(r"location (/n/\w+/\d+/) \{ proxy_pass https://([\d.:]+)/; \}", text))
    upstream = re.search(r"upstream hearth_entry \{(.*?)\}", text, re.S)
    assert upstream is not None
    return rules, re.findall(r"server ([\d.:]+)", upstream.group(1))


def test_proxy_has_one_rule_per_worker_matching_the_apps_node_urls() -> None:
    """Worker i of node X must be reachable at <node_url>/i, as `--workers` announces."""
    rules, entry = nginx_rules()
    env = example_env()
    workers = int(env["HEARTH_WORKERS"])
    app = compose()["services"]["app"]
    assert app["command"][-1] == "${HEARTH_WORKERS:-2}"
    node_path = env["HEARTH_NODE_URL"].removeprefix(env["HEARTH_PUBLIC_URL"])
    assert node_path == "/n/a"
    for i in range(workers):  # node a's workers are on 8443+i, like the supervisor's ports
        assert rules[f"{node_path}/{i}/"].endswith(f":{8443 + i}")
    # Every worker of every node has a rule, and every one is also an entry upstream.
    assert sorted(rules.values()) == sorted(entry)
    assert len({addr.split(":")[0] for addr in entry}) == 2  # two nodes
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade" in text  # websockets pass
    assert "proxy_next_upstream error" in text  # a dead worker is skipped


def test_proxy_keeps_workers_in_rotation_through_a_rolling_upgrade() -> None:
    """A restart or a drain must not take a worker out for long: everyone reconnects at
    once after `moved`, and max_fails=1 fail_timeout=5s let one person back every 5 s."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream hearth_entry \{(.*?)\}", text, re.S)
    assert upstream is not None
    servers = re.findall(r"server ([\d.:]+)([^;]*);", upstream.group(1))
    assert servers
    for _, options in servers:
        fails = re.search(r"max_fails=(\d+)", options)
        timeout = re.search(r"fail_timeout=(\d+)s", options)
        assert fails is not None
        assert int(fails.group(1)) >= 3
        assert timeout is not None
        assert int(timeout.group(1)) <= 2
    entry = re.search(r"location / \{(.*?)\}", text, re.S)
    assert entry is not None
    rules = dict(re.findall(r"(proxy_\w+) ([^;]+);", entry.group(1)))
    # Only connect errors and timeouts count as failures: not a 503 from a draining
    # worker, not a worker answering 5xx to one request.
    assert rules["proxy_next_upstream"].split() == ["error", "timeout"]
    connect = rules["proxy_connect_timeout"]
    assert connect.endswith("s")
    assert float(connect.removesuffix("s")) <= 2
    assert int(rules["proxy_next_upstream_tries"]) >= 2
    # Websockets live as long as a session; the read timeout must not cut them.
    assert "proxy_read_timeout 3600s" in text


def test_node_b_can_run_without_its_own_redis() -> None:
    services = compose()["services"]
    assert services["redis"]["profiles"] == ["redis"]
    assert services["app"]["depends_on"]["redis"]["required"] is False
    assert example_env()["COMPOSE_PROFILES"] == "redis"  # one host: Redis on by default
    assert "${REDIS_HOST:-127.0.0.1}" in services["app"]["environment"]["HEARTH_REDIS_URL"]
    grace = int(services["app"]["stop_grace_period"].removesuffix("s"))
    assert grace > int(example_env()["HEARTH_DRAIN_SECONDS"])
