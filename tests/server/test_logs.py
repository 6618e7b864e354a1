"""Logs are JSON with opaque ids; tokens, SDP and ICE passwords are scrubbed."""

from __future__ import annotations

import io
import json
import logging

from server.logs import setup_logging


def test_json_lines_with_extra_ids_and_scrubbing() -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", stream)
    log = logging.getLogger("hearth.test")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    log.info("joined with %s", token, extra={"session": "s1", "participant": "p9"})
    log.debug("sdp: v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\na=ice-pwd:abcdefsecret\r\n")
    log.warning("pwd a=ice-pwd:zzzsecret", extra={"Weird Key": "x", "obj": object()})
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert lines[0]["session"] == "s1"
    assert lines[0]["participant"] == "p9"
    assert lines[0]["level"] == "INFO"
    text = stream.getvalue()
    for leaked in ("eyJ", "abcdefsecret", "zzzsecret", "o=- 1 1"):
        assert leaked not in text
    assert "obj" not in lines[2]
    assert "Weird Key" not in lines[2]
    logging.getLogger().handlers.clear()
