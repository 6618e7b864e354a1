"""The transition tables rendered as Markdown, so documentation is generated, not retyped.

``markdown()`` returns one table per machine (no I/O here; print it from a shell:
``python -c "from rooms.diagram import markdown; print(markdown())"``). Rows are
states; cells list the commands accepted there and the state they lead to.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from rooms.commands import Command
from rooms.machine import BREAKOUT_TABLE, PARTICIPANT_TABLE, SESSION_TABLE

S = TypeVar("S", bound=StrEnum)


def table(title: str, transitions: Mapping[tuple[S, type[Command]], S],
          states: list[S]) -> str:
    """One Markdown table: ``state | command → next state, ...``."""
    lines = [f"**{title}**", "", "| state | command → next state |", "|---|---|"]
    for state in states:
        moves = sorted(
            f"{cmd.__name__} → {target.value}" if target != state else f"{cmd.__name__} ↺"
            for (src, cmd), target in transitions.items() if src == state
        )
        lines.append(f"| {state.value} | {', '.join(moves) or '(terminal)'} |")
    return "\n".join(lines)


def markdown() -> str:
    """All three machines; a pair not listed raises InvalidTransition."""
    from rooms.model import BreakoutPhase, ParticipantStatus, SessionPhase

    return "\n\n".join([
        table("Session phase", SESSION_TABLE, list(SessionPhase)),
        table("Participant status (lobby included)", PARTICIPANT_TABLE, list(ParticipantStatus)),
        table("Breakout phase", BREAKOUT_TABLE, list(BreakoutPhase)),
    ]) + "\n"
