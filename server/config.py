"""Configuration: defaults < optional TOML file < ``HEARTH_*`` environment.

Every setting is a field of ``Settings``; the README table is checked against
these fields by a test, so documentation cannot drift. Secrets may be given as
``HEARTH_<NAME>_FILE`` pointing at a file, so they never sit in the environment
or in code.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "HEARTH_"
CONFIG_ENV = "HEARTH_CONFIG"
SECRET_FIELDS = frozenset({"redis_url", "jwt_keys", "data_key", "turn_secret"})


class ConfigError(Exception):
    """A setting is wrong; the message names it and fits on one line."""


class Settings(BaseModel):
    """All of Hearth's settings, with their defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["development", "production"] = Field(
        "development", description="`production` enforces passwords, real certs and keys."
    )
    host: str = Field("127.0.0.1", description="Address the HTTPS server binds to.")
    port: int = Field(8443, ge=1, le=65535, description="HTTPS port.")
    public_url: str = Field(
        "",
        description="URL people open (default `https://localhost:<port>`); links, cookies "
        "and the Origin check derive from it.",
    )
    data_dir: Path = Field(Path("data"), description="Where the embedded store and dev keys live.")
    redis_url: SecretStr | None = Field(
        None, description="Use Redis for state and socket.io fan-out (several processes or nodes)."
    )
    tls: bool = Field(True, description="Serve HTTPS; set false only behind a TLS proxy.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain; default `<data_dir>/certs/server.pem`."
    )
    tls_key: Path | None = Field(
        None, description="PEM private key; default `<data_dir>/certs/server.key`."
    )
    jwt_keys: SecretStr | None = Field(
        None,
        description="Link-signing keys `kid:secret,kid:secret` (first signs); dev generates one.",
    )
    data_key: SecretStr | None = Field(
        None, description="Base64 32-byte AES-GCM key for chat/notes at rest; dev generates one."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    trusted_proxies: tuple[str, ...] = Field(
        (), description="Proxy addresses whose `X-Forwarded-*` headers are trusted."
    )
    login_idle_minutes: float = Field(30, gt=0, description="Therapist sign-in expires when idle.")
    setup_link_minutes: int = Field(60, ge=1, description="Lifetime of the first-run setup link.")
    link_lifetime_hours: int = Field(
        24, ge=1, description="Join-link lifetime when a session has no schedule."
    )
    max_participants: int = Field(50, ge=2, description="Participants per session.")
    max_breakouts: int = Field(20, ge=1, description="Breakout rooms per session.")
    reconnect_grace_seconds: int = Field(
        60, ge=1, description="A dropped participant shows as left after this."
    )
    chat_retention_hours: int = Field(
        0, ge=0, description="Keep encrypted chat this long after a session ends. Until "
        "then every message is kept (no cap per thread); joining returns the newest 100 of "
        "each thread and \"Load earlier\" pages back 100 at a time."
    )
    media_hosts: tuple[str, ...] = Field(
        (), description="Addresses the relay gathers and announces for ICE (empty: all local)."
    )
    media_announce: tuple[str, ...] = Field(
        (), description="NAT 1:1: the public address announced for each of `media_hosts`, "
        "in order (unset: announce `media_hosts` themselves).",
    )
    media_ports: str | None = Field(
        None, description="UDP range for the relay's ICE sockets, e.g. `40000-40999` (unset: any)."
    )
    ice_servers: tuple[str, ...] = Field(
        (), description="STUN/TURN URLs given to clients and the relay; none by default."
    )
    turn_secret: SecretStr | None = Field(
        None, description="coturn `static-auth-secret` for time-limited TURN credentials."
    )
    turn_credential_minutes: int = Field(
        60, ge=1, le=24 * 60, description="Lifetime of the TURN credentials given to a client."
    )
    shutdown_grace_seconds: int = Field(
        10, ge=0, description="On SIGTERM, how long live sessions may go on here before they "
        "move to another node."
    )
    node_id: str = Field(
        "", pattern=r"^[A-Za-z0-9_.-]{0,64}$",
        description="This process's name in session placement (default `<hostname>-<port>`).",
    )
    node_url: str = Field(
        "", description="Where clients reach this process, e.g. `https://hearth.example/n/a` "
        "behind a proxy (default: `public_url`).",
    )
    placement_heartbeat_seconds: float = Field(
        1.0, gt=0, le=60, description="How often a node renews its liveness record."
    )
    placement_ttl_seconds: float = Field(
        4.0, gt=0, le=600, description="A node silent this long is dead; its sessions move."
    )

    @field_validator("public_url", "node_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value == "":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("media_ports")
    @classmethod
    def _ports(cls, value: str | None) -> str | None:
        if value is None:
            return value
        low, sep, high = value.partition("-")
        if not (sep and low.isdigit() and high.isdigit()
                and 1024 <= int(low) <= int(high) <= 65535):
            raise ValueError("must be LOW-HIGH within 1024-65535, e.g. 40000-40999")
        return value

    @property
    def media_port_range(self) -> tuple[int, int] | None:
        if self.media_ports is None:
            return None
        low, _, high = self.media_ports.partition("-")
        return int(low), int(high)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in (
            "redis",
            "rediss",
            "unix",
        ):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.public_url == "":
            scheme = "https" if self.tls else "http"
            object.__setattr__(self, "public_url", f"{scheme}://localhost:{self.port}")
        if not self.node_id:
            object.__setattr__(self, "node_id", f"{socket.gethostname()}-{self.port}"[:64])
        if not self.node_url:
            object.__setattr__(self, "node_url", self.public_url)
        if self.media_announce and len(self.media_announce) != len(self.media_hosts):
            raise ValueError("media_announce: give one public address per media_hosts entry")
        if self.placement_ttl_seconds < 2 * self.placement_heartbeat_seconds:
            raise ValueError("placement_ttl_seconds must be at least twice the heartbeat")
        if self.mode != "production":
            return self
        if self.redis_url and not urlsplit(self.redis_url.get_secret_value()).password:
            raise ValueError(
                "redis_url: production refuses a Redis URL without a password "
                "(use redis://:PASSWORD@host:6379/0)"
            )
        if not self.jwt_keys:
            raise ValueError("jwt_keys: production needs HEARTH_JWT_KEYS or HEARTH_JWT_KEYS_FILE")
        if not self.data_key:
            raise ValueError("data_key: production needs HEARTH_DATA_KEY or HEARTH_DATA_KEY_FILE")
        return self

    def secret(self, name: str) -> str | None:
        """The plain value of a secret setting, for the one place that uses it."""
        value = getattr(self, name)
        return None if value is None else str(value.get_secret_value())

    @property
    def cert_path(self) -> Path:
        return self.tls_cert or self.data_dir / "certs" / "server.pem"

    @property
    def key_path(self) -> Path:
        return self.tls_key or self.data_dir / "certs" / "server.key"

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    fields = Settings.model_fields
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.endswith("_file") and key[: -len("_file")] in SECRET_FIELDS:
            field = key[: -len("_file")]
            try:
                values[field] = Path(raw).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{name}: cannot read {raw!r}: {exc.strerror}") from exc
            continue
        if key not in fields:
            raise ConfigError(f"{name}: unknown setting")
        annotation = str(fields[key].annotation)
        if "tuple" in annotation:
            values[key] = tuple(p.strip() for p in raw.split(",") if p.strip())
        else:
            values[key] = raw
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings, raising ConfigError with one line naming the bad setting."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get(CONFIG_ENV)
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                values.update(tomllib.load(fh))
        except OSError as exc:
            raise ConfigError(f"{CONFIG_ENV}: cannot read {config_file!r}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{CONFIG_ENV}: {config_file!r} is not valid TOML: {exc}") from exc
    values.update(_env_values(env))
    values.update(overrides or {})
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if loc == "config" and ": " in msg:  # model-level rule: "field: reason"
            loc, msg = msg.split(": ", 1)
        where = f"{ENV_PREFIX}{loc.upper()}" if loc != "config" else "config"
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        raise ConfigError(f"{where}: {msg}") from exc


def settings_table() -> str:
    """The README's configuration table, generated from the fields themselves."""
    rows = [
        "| Variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, tuple):
            shown = ",".join(default) or "(empty)"
        elif default is None or default == "":
            shown = "(unset)"
        else:
            shown = str(default)
        secret = f" Secret: also `HEARTH_{name.upper()}_FILE`." if name in SECRET_FIELDS else ""
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {info.description}{secret} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
