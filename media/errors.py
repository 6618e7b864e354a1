"""Errors the relay raises towards signaling: a stable code plus a human message."""

from __future__ import annotations


class MediaError(Exception):
    """A request the relay refused; ``code`` is stable and safe to put in an error ack.

    Codes: ``bad_sdp``, ``sdp_too_large``, ``too_many_mlines``, ``codec_mismatch``,
    ``bad_candidate``, ``no_such_session``, ``no_such_peer``, ``bad_state``,
    ``bad_source``, ``internals_changed``.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
