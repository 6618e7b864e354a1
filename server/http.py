"""HTTP helpers: errors with a stable code, and schema-validated request bodies."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """Raised by routes; the error middleware answers ``{"error": {code, message}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_json(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate a JSON body against a schema class, or raise 400/413 with a code."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"body over {MAX_BODY} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "too_large", f"body over {MAX_BODY} bytes") from exc
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(400, "invalid", f"{where}: {err['msg']}") from exc
