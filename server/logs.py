"""Structured JSON logs that carry opaque ids only.

Call sites log ids (session, participant, event names), never names, chat,
tokens or SDP. As a second line of defence, a filter scrubs anything shaped
like a JWT, an SDP body or an ICE password before a record is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_SCRUB = [
    re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.?[A-Za-z0-9_\-]*"),  # JWT
    re.compile(r"a=ice-pwd:\S+"),
    re.compile(r"a=ice-ufrag:\S+"),
    re.compile(r"v=0\r?\n[\s\S]*"),  # an SDP body
]
# Attributes every LogRecord has; anything else came from `extra=` and is emitted.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_ALLOWED_EXTRA = re.compile(r"^[a-z_]{1,32}$")


def scrub(text: str) -> str:
    for pattern in _SCRUB:
        text = pattern.sub("[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and opaque-id fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or not _ALLOWED_EXTRA.match(key):
                continue
            if isinstance(value, str | int | float | bool) or value is None:
                payload[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(payload, separators=(",", ":"))


def setup_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route every logger (ours and libraries') through the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log payloads at DEBUG (SDP, packets, engine.io frames) stay at WARNING.
    for noisy in ("aioice", "aiortc", "engineio", "socketio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
