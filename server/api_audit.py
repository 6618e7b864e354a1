"""REST: a therapist reads the audit entries of their own sessions."""

from __future__ import annotations

from aiohttp import web

from server.api_program import require_staff
from server.api_sessions import visible
from server.appkeys import LIVE, SETTINGS
from server.http import client_address


async def session_audit(request: web.Request) -> web.Response:
    """Every audit entry of a session the caller may read (its clinicians, the admin)."""
    viewer = await require_staff(request)
    record = await visible(request, viewer)  # 404 for a session one may not read
    entries = await request.app[LIVE].audit_log.for_session(record.id)
    await request.app[LIVE].audit("export", {
        "actor": viewer.id, "session": record.id, "code": "audit_read",
        "address": client_address(request, request.app[SETTINGS].trusted_proxies)})
    return web.json_response({"ok": sorted(entries, key=lambda e: int(e["seq"]))})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/audit", session_audit)
