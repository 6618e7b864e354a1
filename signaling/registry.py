"""The event catalogue: every socket.io event, its payload schema and who may send it.

Handlers register here with their schema class; the namespace dispatches only
what is registered, and ``docs/protocol.md`` is generated from this registry,
so the documentation cannot drift from the code. An event that runs rooms commands
names them (``Runs``), and who may send it is read from the policy table
(``rooms.policy.PERMISSIONS``), so the catalogue cannot drift from the policy either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import UnionType
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from rooms.commands import Command
from rooms.model import Role
from rooms.policy import ALL, PERMISSIONS

P = TypeVar("P", bound=BaseModel)
MAX_EVENT_BYTES = 8 * 1024


class Payload(BaseModel):
    """Base for every client → server payload: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Empty(Payload):
    """An event that carries nothing."""


@dataclass(frozen=True)
class Caller:
    """Who sent an event: taken from the verified link, never from the payload."""

    sid: str
    session_id: str
    participant_id: str
    role: str
    jti: str


Handler = Callable[[Caller, P], Awaitable[Any]]


def roles_text(roles: frozenset[Role]) -> str:
    """A set of roles as the catalogue says it: ``anyone``, ``anyone except <role>``,
    or the roles in ``Role`` order (``therapist, co_therapist``)."""
    if roles == ALL:
        return "anyone"
    missing = [role.value for role in Role if role not in roles]
    if len(missing) == 1:
        return f"anyone except {missing[0]}"
    return ", ".join(role.value for role in Role if role in roles)


class Runs:
    """An event that runs these rooms commands: the policy says who may send it.
    ``note`` adds what the policy's checks beyond the table mean for this event."""

    def __init__(self, *commands: type[Command], note: str = "") -> None:
        self.commands = commands
        self.note = note

    @property
    def roles(self) -> frozenset[Role]:
        """The roles the policy table allows, the same for every command of the event."""
        allowed = {PERMISSIONS[command] for command in self.commands}
        if len(allowed) != 1:
            raise ValueError(f"{[c.__name__ for c in self.commands]} differ in who may "
                             "run them: register them as separate events")
        return allowed.pop()

    def text(self) -> str:
        return roles_text(self.roles) + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class EventSpec(Generic[P]):
    name: str
    payload: type[P]
    handler: Handler[P]
    summary: str
    who: str
    max_bytes: int
    # The rooms commands the event runs (its ``who`` comes from their policy row);
    # empty for events with no policy row, whose ``who`` is written where they register.
    commands: tuple[type[Command], ...] = ()


class Registry:
    def __init__(self) -> None:
        self.events: dict[str, EventSpec[Any]] = {}

    def event(
        self, name: str, payload: type[P], *, who: str | Runs,
        max_bytes: int = MAX_EVENT_BYTES,
    ) -> Callable[[Handler[P]], Handler[P]]:
        """Register a handler; its docstring's first line is the catalogue summary.
        ``who``: ``Runs(commands...)`` for an event that runs rooms commands (the text
        comes from the policy), else the text itself."""
        text, commands = (who.text(), who.commands) if isinstance(who, Runs) else (who, ())

        def register(fn: Handler[P]) -> Handler[P]:
            if name in self.events:
                raise ValueError(f"event {name!r} registered twice")
            summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
            self.events[name] = EventSpec(name, payload, fn, summary, text, max_bytes,
                                          commands)
            return fn

        return register


def _type_name(annotation: Any) -> str:
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return " or ".join(f'"{a}"' for a in args)
    if args and origin in (Union, UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if args:
        return f"{getattr(origin, '__name__', origin)} of {_type_name(args[0])}"
    return str(getattr(annotation, "__name__", annotation))


def _fields(model: type[BaseModel]) -> str:
    parts = []
    for name, info in model.model_fields.items():
        annotation = _type_name(info.annotation)
        optional = "" if info.is_required() else "?"
        parts.append(f"`{name}{optional}: {annotation}`")
    return ", ".join(parts) or "—"


def catalogue_markdown(registry: Registry, server_events: dict[str, str]) -> str:
    """docs/protocol.md's event tables, generated from the registry."""
    lines = [
        "| Event | Payload | Who may send | What it does |",
        "|---|---|---|---|",
    ]
    for spec in sorted(registry.events.values(), key=lambda s: s.name):
        lines.append(
            f"| `{spec.name}` | {_fields(spec.payload)} | {spec.who} | {spec.summary} |"
        )
    lines += ["", "| Server → client event | Meaning |", "|---|---|"]
    for name, meaning in sorted(server_events.items()):
        lines.append(f"| `{name}` | {meaning} |")
    return "\n".join(lines)
