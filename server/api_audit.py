"""REST: a therapist reads the audit entries of their own sessions."""

from __future__ import annotations

from aiohttp import web

from server.api_auth import require_therapist
from server.api_sessions import owned
from server.http import client_address
from server.state import LIVE, SETTINGS


async def session_audit(request: web.Request) -> web.Response:
    """Every audit entry of one of the caller's sessions, oldest first."""
    account = await require_therapist(request)
    record = await owned(request, account)  # 404 for anyone else's session
    entries = await request.app[LIVE].audit_log.for_session(record.id)
    await request.app[LIVE].audit("export", {
        "actor": account.id, "session": record.id, "code": "audit_read",
        "address": client_address(request, request.app[SETTINGS].trusted_proxies)})
    return web.json_response({"ok": sorted(entries, key=lambda e: int(e["seq"]))})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/audit", session_audit)
