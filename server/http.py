"""HTTP helpers: errors with a stable code, schema-validated request bodies, and the
headers every response carries (404s and error pages included)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
        raise ApiError(400, "invalid", validation_message(exc)) from exc


def validation_message(exc: ValidationError) -> str:
    """The first problem, as ``field: what is wrong`` for a person to read."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def client_address(request: web.BaseRequest, trusted_proxies: tuple[str, ...]) -> str:
    """The client's address; ``X-Forwarded-For`` counts only from a trusted proxy."""
    remote = request.remote or "unknown"
    if remote in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    return remote


def environ_address(environ: dict[str, Any], trusted_proxies: tuple[str, ...]) -> str:
    """``client_address`` for a socket.io connect (engine.io keeps the aiohttp request)."""
    request = environ.get("aiohttp.request")
    if isinstance(request, web.BaseRequest):
        return client_address(request, trusted_proxies)
    return str(environ.get("REMOTE_ADDR") or "unknown")


# Strict CSP: no inline script, nothing from other origins, no plugins, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SERVER_NAME = "Hearth"  # never a version: it only helps an attacker pick an exploit
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_security_headers(headers: Any, *, api: bool, tls: bool) -> None:
    headers["Server"] = SERVER_NAME
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault(
        "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"
    )
    if api:  # names, links and audit entries must never sit in a shared or disk cache
        headers["Cache-Control"] = "no-store"
    if tls:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def security_headers(tls: bool) -> Any:
    """Middleware: the security headers on every response, errors and 404s too."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        api = request.path.startswith("/api/")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            add_security_headers(exc.headers, api=api, tls=tls)
            raise
        add_security_headers(response.headers, api=api, tls=tls)
        return response

    return middleware
