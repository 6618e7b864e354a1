"""REST: a therapist reads the audit entries of their own sessions."""

from __future__ import annotations

from aiohttp import web

from server.api_program import require_staff
from server.api_sessions import owned
from server.state import LIVE


async def session_audit(request: web.Request) -> web.Response:
    """Every audit entry of one of the caller's sessions, oldest first."""
    viewer = await require_staff(request)
    record = await owned(request, viewer)  # 404 for anyone else's session
    entries = await request.app[LIVE].audit_log.for_session(record.id)
    return web.json_response({"ok": sorted(entries, key=lambda e: int(e["seq"]))})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/audit", session_audit)
