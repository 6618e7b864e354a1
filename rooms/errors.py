"""Domain errors with stable codes that signaling and REST pass through unchanged."""

from __future__ import annotations


class DomainError(Exception):
    """A refused command. The stored state is unchanged when one is raised."""

    code = "error"


class Forbidden(DomainError):
    """The actor's role may not issue this command (or not on this target)."""

    code = "forbidden"


class InvalidTransition(DomainError):
    """The command is not legal in the current state."""

    code = "invalid_state"


InvalidState = InvalidTransition


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """Concurrent writers kept colliding, or the thing already exists."""

    code = "conflict"


class ChildSafe(Forbidden):
    """What child-safe mode does not allow (renaming, screen share, chat with others)."""

    code = "child_safe"


class Limit(DomainError):
    """A configured limit (participants, breakouts) would be exceeded."""

    code = "limit"


class NoClinician(InvalidTransition):
    """A room holding a client would have no clinician (breakouts that require one,
    and every phase of a session plan)."""

    code = "no_clinician"


class PlanEnd(InvalidTransition):
    """The plan's last phase is current: there is no next phase."""

    code = "plan_last_phase"
