"""The domain stays pure: no clock, I/O or randomness outside the service and the stores."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from rooms.commands import Command
from rooms.diagram import markdown
from rooms.machine import (
    BREAKOUT_TABLE,
    BREAKOUT_TRIGGERS,
    PARTICIPANT_TABLE,
    PARTICIPANT_TRIGGERS,
    SESSION_TABLE,
)
from rooms.plans import ASIDE_TABLE, PLAN_TABLE

ROOMS = Path(__file__).resolve().parents[2] / "rooms"
IMPURE_MODULES = {"time", "datetime", "asyncio", "os", "socket", "random", "secrets",
                  "logging", "pathlib", "sqlite3", "redis", "threading", "uuid"}
IMPURE_CALLS = {"open", "print", "input"}


def impurities(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in IMPURE_MODULES]
        elif (isinstance(node, ast.ImportFrom) and node.module
              and node.module.split(".")[0] in IMPURE_MODULES):
            found.append(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in IMPURE_CALLS):
            found.append(f"{node.func.id}()")
    return found


def test_pure_modules_have_no_clock_or_io() -> None:
    pure = [p for p in sorted(ROOMS.glob("*.py")) if p.name != "service.py"]
    assert len(pure) >= 8
    assert {p.name: impurities(p) for p in pure if impurities(p)} == {}


def test_the_checker_sees_impurity(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom os import path\nprint(open('x'))\n")
    assert impurities(bad) == ["time", "os", "print()", "open()"]


def test_generated_tables_list_every_transition() -> None:
    sections = markdown().split("\n\n**")
    # three machines, Enter's steps, then the plan and the private rooms
    assert len(sections) == 6
    tables: tuple[Mapping[tuple[StrEnum, type[Command]], StrEnum], ...] = (
        SESSION_TABLE, PARTICIPANT_TABLE, BREAKOUT_TABLE,  # type: ignore[assignment]
        PLAN_TABLE, ASIDE_TABLE)
    for doc, transitions in zip((*sections[:3], *sections[4:]), tables, strict=True):
        for (state, cmd), target in transitions.items():
            row = next(line for line in doc.splitlines() if line.startswith(f"| {state.value} |"))
            arrow = "↺" if target == state else f"→ {target.value}"
            assert f"{cmd.__name__} {arrow}" in row
    triggered = ((sections[1], PARTICIPANT_TRIGGERS), (sections[2], BREAKOUT_TRIGGERS))
    for doc, moves in triggered:
        for (state, trigger), target in moves.items():
            row = next(line for line in doc.splitlines() if line.startswith(f"| {state.value} |"))
            arrow = "↺" if target == state else f"→ {target.value}"
            assert f"{trigger.value} {arrow}" in row.split(" | ")[2]
