"""Configuration: defaults < optional TOML file < ``HEARTH_<NAME>_FILE`` secrets <
``HEARTH_*`` environment < explicit overrides, through pydantic-settings.

Every setting is a field of ``Settings``; the README table is generated from these
fields and a test compares it, so documentation cannot drift. Secrets may be given as
``HEARTH_<NAME>_FILE`` pointing at a file, so they never sit in the environment or in
code. Lists are comma-separated in the environment (``NoDecode``: not JSON).
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "HEARTH_"
CONFIG_ENV = "HEARTH_CONFIG"
SECRET_FIELDS = frozenset({"redis_url", "jwt_keys", "data_key", "data_key_previous",
                           "turn_secret", "smtp_url",
                           "metrics_token"})


class ConfigError(Exception):
    """A setting is wrong; the message names it and fits on one line."""


# The environment one ``load_settings`` call reads (``os.environ`` when unset).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("hearth_environ", default=None)
Items = Annotated[tuple[str, ...], NoDecode]  # "a, b" in the environment, a list in TOML


class _Env(EnvSettingsSource):
    """``HEARTH_*`` variables from the mapping ``load_settings`` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        return {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}


class _SecretFiles(PydanticBaseSettingsSource):
    """``HEARTH_<NAME>_FILE``: a secret setting read from a file (Docker/systemd secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        environ = _ENVIRON.get()
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in sorted(SECRET_FIELDS):
            var = f"{ENV_PREFIX}{name.upper()}_FILE"
            path = env.get(var)
            if path is None:
                continue
            try:
                values[name] = Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{var}: cannot read {path!r}: {exc.strerror}") from exc
        return values


class _Toml(TomlConfigSettingsSource):
    """The file ``HEARTH_CONFIG`` names; keys as the fields. Unreadable is an error."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        environ = _ENVIRON.get()
        path = (os.environ if environ is None else environ).get(CONFIG_ENV)
        if path:
            try:
                with open(path, "rb") as fh:
                    tomllib.load(fh)
            except OSError as exc:
                raise ConfigError(f"{CONFIG_ENV}: cannot read {path!r}: {exc.strerror}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{CONFIG_ENV}: {path!r} is not valid TOML: {exc}") from exc
        super().__init__(settings_cls, toml_file=Path(path) if path else [])


class Settings(BaseSettings):
    """All of Hearth's settings, with their defaults."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Earlier sources win: overrides, environment, secret files, TOML, defaults."""
        return (init_settings, _Env(settings_cls), _SecretFiles(settings_cls),
                _Toml(settings_cls))

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
        None, description="Base64 32-byte AES-GCM key for everything sealed at rest (names, "
        "chat, notes, records); dev generates one."
    )
    data_key_previous: SecretStr | None = Field(
        None, description="During a rotation: the earlier data keys (base64, comma-separated); "
        "they still open what they sealed, new writes use `data_key`. Drop them after "
        "`hearth keys reseal`."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    trusted_proxies: Items = Field(
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
        0, ge=0, description="Keep encrypted chat this long after a session ends (0: purge "
        "when it ends; otherwise swept every quarter of it, at most every 10 minutes). Until "
        "then every message is kept (no cap per thread); joining returns the newest 100 of "
        "each thread and \"Load earlier\" pages back 100 at a time."
    )
    media_hosts: Items = Field(
        (), description="Addresses the relay gathers and announces for ICE (empty: all local)."
    )
    media_announce: Items = Field(
        (), description="NAT 1:1: the public address announced for each of `media_hosts`, "
        "in order (unset: announce `media_hosts` themselves).",
    )
    media_ports: str | None = Field(
        None, description="UDP range for the relay's ICE sockets, e.g. `40000-40999` (unset: any)."
    )
    ice_servers: Items = Field(
        (), description="STUN/TURN URLs given to clients and the relay; none by default."
    )
    simulcast: bool = Field(
        False, description="Browsers send their camera in three layers (180p, 360p, 720p) "
        "and each viewer receives the one that fits its tile and its connection; false: "
        "one layer for everyone, and no adaptation. Off by default: see the README's "
        "\"How quality adapts\" for what it does not handle yet."
    )
    video_max_layer: Literal["q", "h", "f"] = Field(
        "f", description="The clinic's cap on the camera layer anyone receives: `q` "
        "180p, `h` 360p, `f` 720p (a screen share is never capped)."
    )
    turn_secret: SecretStr | None = Field(
        None, description="coturn `static-auth-secret` for time-limited TURN credentials."
    )
    smtp_url: SecretStr | None = Field(
        None, description="Mail server for invitations and reminders, "
        "`smtp://user:pass@host:587` (STARTTLS) or `smtps://…:465`; unset: links are copied."
    )
    smtp_from: str = Field(
        "hearth@localhost", max_length=200, description="Sender address of invitations."
    )
    turn_credential_minutes: int = Field(
        60, ge=1, le=24 * 60, description="Lifetime of the TURN credentials given to a client."
    )
    move_settle_seconds: float = Field(
        10, gt=0, le=300, description="After a session moves to this node, people who have "
        "not reconnected here by then show as reconnecting (then left, after "
        "`reconnect_grace_seconds`)."
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
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token `/metrics` requires (unset: `/metrics` answers 404)."
    )
    audit_hash_addresses: bool = Field(
        True, description="Audit entries keep a keyed hash of client addresses, not the "
        "addresses themselves."
    )

    @field_validator("trusted_proxies", "media_hosts", "media_announce", "ice_servers",
                     mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

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


def _unknown(environ: Mapping[str, str]) -> None:
    """A ``HEARTH_*`` variable that names no setting is a typo: stop and name it."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known |= {f"{ENV_PREFIX}{name.upper()}_FILE" for name in SECRET_FIELDS}
    known.add(CONFIG_ENV)
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise ConfigError(f"{name}: unknown setting")


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings, raising ConfigError with one line naming the bad setting."""
    env = dict(os.environ if environ is None else environ)
    _unknown(env)
    try:
        with _reading(env):
            return Settings(**dict(overrides or {}))
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
