"""Stopping background tasks at shutdown, bounded.

A task that is cancelled but never awaited may still be running when the event loop
closes (a test's teardown then waits on it); one awaited without a bound can hold
shutdown forever if it swallows the cancellation or sits in a read that does not
notice it. Every service loop (placement heartbeat, session bus, socket.io's Redis
listener, reconcile passes) is stopped through ``stop_task``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("hearth.tasks")

STOP_WITHIN = 5.0  # seconds a background task gets to end once cancelled


async def stop_task(task: asyncio.Task[Any] | None, what: str,
                    within: float = STOP_WITHIN) -> bool:
    """Cancel a background task and wait for it, bounded: shutdown must end even if
    the task is stuck (a Redis read that ignores cancellation, a hook that hangs).
    Returns whether it ended; if not, says so in the log and leaves it."""
    if task is None or task.done():
        return True
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("background task did not stop when cancelled",
                    extra={"task": what, "seconds": within})
        return False
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task had failed", extra={"task": what},
                    exc_info=task.exception())
    else:
        log.debug("background task cancelled", extra={"task": what})
    return True
