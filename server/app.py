"""aiohttp application factory: middlewares, probes and routes over the objects that
server/composition.py builds (each resource opened and closed in its own cleanup_ctx)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from rooms.errors import DomainError
from rooms.stores import StoreError
from server import api_audit, api_auth, api_join, api_program, api_sessions, api_setup
from server.appkeys import (
    ACCOUNTS,
    RUNTIME,
    SETTINGS,
    STORE,
)
from server.clinical import api as clinical_api
from server.clinical import plans_api
from server.composition import assemble
from server.config import Settings
from server.http import MAX_BODY, ApiError, error_json, security_headers
from server.keys import Keys, load_keys
from server.metrics import metrics_view
from server.openapi import openapi_json
from server.records import api as records_api
from server.storehealth import WatchedStore

log = logging.getLogger("hearth.server")
ROOT_DIR = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT_DIR / "web"
# Only the socket.io client's dist folder is served from node_modules (pinned by npm ci).
VENDOR_DIR = ROOT_DIR / "node_modules" / "socket.io-client" / "dist"
# lit-html (the session screen's renderer), pinned by npm ci, as ES modules.
LIT_DIR = ROOT_DIR / "node_modules" / "lit-html"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-site state changes: a browser's Origin must be our public origin."""
    origin = request.headers.get("Origin")
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and request.path.startswith("/api/")
        and origin is not None
        and origin != request.app[SETTINGS].public_origin
    ):
        return error_json(403, "forbidden_origin", "cross-site request refused")
    return await handler(request)


DOMAIN_STATUS = {"forbidden": 403, "not_found": 404, "invalid_state": 409, "conflict": 409,
                 "limit": 422}


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API routes answer JSON errors with a code; a store outage fails closed with 503."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_json(exc.status, exc.code, exc.message)
    except DomainError as exc:
        return error_json(DOMAIN_STATUS.get(exc.code, 400), exc.code, str(exc))
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return error_json(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except StoreError as exc:  # the cause is logged once per transition (WatchedStore)
        log.debug("store unavailable during request",
                  extra={"route": request.path, "reason": str(exc)})
        return error_json(503, "unavailable", "storage is unavailable, try again shortly")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.draining:
        return web.json_response({"status": "draining"}, status=503)
    store = request.app[STORE]
    if isinstance(store, WatchedStore) and store.write_error is not None:
        # Reads and pings may still work on a full disk; a refused write says otherwise
        # until a write succeeds again (the heartbeat writes every second).
        return web.json_response({"status": "store_unavailable", "detail": store.write_error},
                                 status=503)
    try:
        await request.app[STORE].ping()
    except StoreError as exc:
        return web.json_response({"status": "store_unavailable", "detail": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def static_page(request: web.Request) -> web.FileResponse:
    name = request.match_info.get("page", "index")
    return web.FileResponse(WEB_DIR / f"{name}.html")


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file readable by this user only (mode 0600 from creation)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an older file keeps its old mode through O_TRUNC
    return path


async def first_run_ctx(app: web.Application) -> AsyncIterator[None]:
    """With no therapist account yet, print a one-time setup link."""
    settings = app[SETTINGS]
    try:
        sealed = await app[ACCOUNTS].seal_all()
        if sealed:
            log.warning("sealed TOTP secrets stored in plain text", extra={"accounts": sealed})
        if await app[ACCOUNTS].count() == 0:
            token = await app[ACCOUNTS].issue_setup_token(settings.setup_link_minutes * 60)
            url = f"{settings.public_url}/setup#{token}"
            app[RUNTIME].setup_url = url
            # It grants an account: written to a file only the owner can read, and
            # printed only to a terminal, never to a log or a container's stdout.
            path = write_private(settings.data_dir / "secrets" / "setup-link", url + "\n")
            log.warning("no therapist account yet: the one-time setup link is in a file",
                        extra={"path": str(path), "minutes": settings.setup_link_minutes})
            if sys.stdout.isatty():
                print(
                    f"\nNo therapist account yet. Create the first one within "
                    f"{settings.setup_link_minutes} minutes (works once):\n  {url}\n",
                    flush=True,
                )
    except StoreError:
        log.error("cannot check accounts: store unavailable")
    yield


def create_app(settings: Settings, *, keys: Keys | None = None) -> web.Application:
    """Build the application; nothing is opened until it starts (cleanup_ctx)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[security_headers(settings.tls), api_errors, same_origin],
    )
    assemble(app, settings, keys or load_keys(settings))
    app.cleanup_ctx.append(first_run_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/setup", api_setup.setup_account)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/metrics", metrics_view)
    api_auth.setup_routes(app)
    api_sessions.setup_routes(app)
    api_program.setup_routes(app)
    api_join.setup_routes(app)
    api_audit.setup_routes(app)
    records_api.setup_routes(app)
    plans_api.setup(app)
    clinical_api.setup(app)
    app.router.add_get("/", static_page)
    app.router.add_get("/{page:setup|console|join}", static_page)
    app.router.add_static("/static/", WEB_DIR / "static", follow_symlinks=False)
    if VENDOR_DIR.is_dir():
        app.router.add_static("/vendor/", VENDOR_DIR, follow_symlinks=False)
    if LIT_DIR.is_dir():
        app.router.add_static("/lit/", LIT_DIR, follow_symlinks=False)
    return app
