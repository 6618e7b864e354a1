"""Event kinds are one enum, and nothing compares them (or other enums) as strings."""

from __future__ import annotations

import ast
from pathlib import Path

from rooms import commands as c
from rooms.events import KINDS, EventKind
from rooms.machine import handle
from tests.rooms.builders import NOW, A, T, live_family, run

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rooms", "signaling", "server", "media")  # bench is a client: it reads the wire
KIND_NAMES = {k.value for k in EventKind}


def test_every_kind_is_described() -> None:
    assert set(KINDS) == set(EventKind)


def test_the_machine_emits_enum_members() -> None:
    s = run(live_family(), c.CreateBreakouts(actor=T, names=("One",)),
            c.Assign(actor=T, target=A, room_id="b1"), c.Assign(actor=T, target=T, room_id="b1"))
    for cmd in (c.OpenBreakouts(actor=T), c.CloseAll(actor=T, grace=0), c.EndSession(actor=T)):
        s, events = handle(s, cmd, now=NOW)
        assert events
        assert all(type(e.kind) is EventKind for e in events)


def string_comparisons(tree: ast.AST) -> list[str]:
    """Comparisons of an event kind name, or of an enum's ``.value``, with a string."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        strings = [s.value for s in sides
                   if isinstance(s, ast.Constant) and isinstance(s.value, str)]
        for side in sides:
            if isinstance(side, ast.Tuple | ast.Set | ast.List):
                strings += [e.value for e in side.elts
                            if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        values = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == "value"]
        if any(s in KIND_NAMES for s in strings) or (values and strings):
            found.append(f"line {node.lineno}")
    return found


def test_no_string_comparisons_of_kinds_or_enum_values() -> None:
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            hits = string_comparisons(ast.parse(path.read_text(), str(path)))
            if hits:
                offenders[str(path.relative_to(ROOT))] = hits
    assert offenders == {}


def test_the_checker_sees_string_comparisons() -> None:
    bad = ast.parse('a == "session_ended"\nb.phase.value == "ended"\nx in ("visibility_changed",)')
    assert string_comparisons(bad) == ["line 1", "line 2", "line 3"]
