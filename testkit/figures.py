"""Figures a test measures on its way (how long a failover took): reported, never asserted.

They are logged on ``hearth.figures`` at INFO; show them with
``pytest --log-cli-level=INFO``. Limits belong in assertions, timings in benchmarks.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("hearth.figures")


def figure(text: str) -> None:
    _log.info("%s", text.strip())
