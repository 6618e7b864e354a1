"""The transition tables rendered as Markdown, so documentation is generated, not retyped.

``markdown()`` returns one table per machine (no I/O here; print it from a shell:
``python -c "from rooms.diagram import markdown; print(markdown())"``). Rows are
states; cells list the commands accepted there and the state they lead to, then the
triggered moves (the session ending, a deadline passing) from the trigger tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from rooms.commands import Command
from rooms.machine import (
    BREAKOUT_TABLE,
    BREAKOUT_TRIGGERS,
    ENTER_OPENS,
    ENTER_STEPS,
    PARTICIPANT_TABLE,
    PARTICIPANT_TRIGGERS,
    SESSION_TABLE,
    Trigger,
)

S = TypeVar("S", bound=StrEnum)


def _moves(transitions: Mapping[tuple[S, type[Command]], S]
           | Mapping[tuple[S, Trigger], S], state: S) -> list[str]:
    moves = []
    for (src, cause), target in transitions.items():
        if src != state:
            continue
        name = cause.value if isinstance(cause, Trigger) else cause.__name__
        moves.append(f"{name} → {target.value}" if target != state else f"{name} ↺")
    return sorted(moves)


def table(title: str, transitions: Mapping[tuple[S, type[Command]], S],
          states: list[S], triggers: Mapping[tuple[S, Trigger], S] | None = None) -> str:
    """One Markdown table: ``state | command → next state, ... | triggered moves``."""
    lines = [f"**{title}**", "", "| state | command → next state | triggered |",
             "|---|---|---|"]
    for state in states:
        moves = _moves(transitions, state)
        triggered = _moves(triggers, state) if triggers is not None else []
        lines.append(f"| {state.value} | {', '.join(moves) or '(terminal)'} | "
                     f"{', '.join(triggered) or '-'} |")
    return "\n".join(lines)


def enter_table() -> str:
    """Enter's steps: the command each status takes, and where it leads by the table."""
    opens = ", ".join(sorted(r.value for r in ENTER_OPENS))
    lines = ["**Entering from a link (`Enter`, one transition)**", "",
             f"A {opens}'s Enter first applies OpenSession while the session is scheduled. "
             "Then each step below applies at most once, starting from the person's "
             "status; a status not listed cannot enter.", "",
             "| status | step → next status |", "|---|---|"]
    for state, kind in ENTER_STEPS.items():
        target = PARTICIPANT_TABLE[(state, kind)]
        arrow = "↺" if target == state else f"→ {target.value}"
        lines.append(f"| {state.value} | {kind.__name__} {arrow} |")
    lines.append("")
    lines.append("A knock that admits on the spot (the session's owner, or a role the "
                 "session admits automatically) reaches admitted, whose step, Connect, "
                 "follows in the same transition.")
    return "\n".join(lines)


def markdown() -> str:
    """All the machines; a pair not listed raises InvalidTransition."""
    from rooms.model import BreakoutPhase, ParticipantStatus, PlanStatus, SessionPhase
    from rooms.plans import ASIDE_TABLE, PLAN_TABLE, AsideState

    return "\n\n".join([
        table("Session phase", SESSION_TABLE, list(SessionPhase)),
        table("Participant status (lobby included)", PARTICIPANT_TABLE,
              list(ParticipantStatus), PARTICIPANT_TRIGGERS),
        table("Breakout phase", BREAKOUT_TABLE, list(BreakoutPhase), BREAKOUT_TRIGGERS),
        enter_table(),
        table("Session plan (NextPhase runs the phase's breakout commands)", PLAN_TABLE,
              list(PlanStatus)),
        table("Private room, per person (StepAside / BringBack)", ASIDE_TABLE,
              list(AsideState)),
    ]) + "\n"
