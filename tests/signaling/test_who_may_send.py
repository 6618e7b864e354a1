"""Who may send an event, as docs/protocol.md says it, is what the policy table allows
for the commands the event runs: the table is the one source."""

from __future__ import annotations

from pathlib import Path

from rooms.model import Role
from rooms.policy import ALL, PERMISSIONS
from signaling.protocol_doc import catalogue
from signaling.registry import roles_text

ROOT = Path(__file__).resolve().parents[2]
# Events that run no rooms command, so the policy table has no row for them; their
# "who" is written where they register (media negotiation, chat, check-in).
NO_POLICY_ROW = {
    "chat_send", "chat_earlier", "checkin", "media_join", "media_publish",
    "media_subscribe", "media_answer", "media_ice", "media_pause", "media_report",
    "media_quality", "media_view",
}


def roles_named(text: str) -> frozenset[Role]:
    """The roles a "who may send" text names (the part before any note)."""
    roles = text.split(" (")[0]
    if roles == "anyone":
        return ALL
    if roles.startswith("anyone except "):
        return ALL - {Role(roles.removeprefix("anyone except "))}
    return frozenset(Role(role) for role in roles.split(", "))


def documented_who() -> dict[str, str]:
    """Event name → the "Who may send" column of docs/protocol.md's event table."""
    rows = {}
    for line in (ROOT / "docs" / "protocol.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[2]
    return rows


def test_every_role_set_of_the_policy_reads_back_from_its_text() -> None:
    for roles in set(PERMISSIONS.values()):
        assert roles_named(roles_text(roles)) == roles, sorted(roles)


def test_documented_who_is_the_policy_for_every_event_that_runs_commands() -> None:
    registry = catalogue()
    documented = documented_who()
    assert registry.events.keys() >= NO_POLICY_ROW
    for name, spec in registry.events.items():
        if name in NO_POLICY_ROW:
            assert spec.commands == (), f"{name} runs commands: its who comes from the policy"
            continue
        assert spec.commands, f"{name}: name the commands it runs (Runs) or list it above"
        for command in spec.commands:
            assert roles_named(documented[name]) == PERMISSIONS[command], (
                f"docs/protocol.md says {documented[name]!r} may send {name}, but the "
                f"policy lets {sorted(PERMISSIONS[command])} run {command.__name__}: run "
                "`.venv/bin/python -m signaling.protocol_doc > docs/protocol.md`")
