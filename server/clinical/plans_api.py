"""REST for session plans: the clinic's templates, and attaching one to a series or a
session. Bodies are validated with pydantic; the signed-in staff member's role
decides (every staff member reads; the admin and therapists write); every change and
attachment is written to the audit log (opaque ids only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from rooms.errors import DomainError
from server.api_program import require_role, require_staff
from server.api_sessions import owned
from server.appkeys import LIVE, PROGRAM, ROOMS, STORE
from server.clinical.plans import PlanBody, PlanBook, PlanError, PlanRecord
from server.http import ApiError, parse_body
from server.program.service import ProgramError, Viewer

PLANS = web.AppKey("plans", PlanBook)


class AttachBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: str | None = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")


class PlanRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str


class SeriesPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: str | None


class SeriesPlanAttached(SeriesPlan):
    series_id: str


class SessionPlanAttached(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str
    plan_id: str


def _view(p: PlanRecord) -> dict[str, Any]:
    return p.model_dump()


async def _audit(request: web.Request, action: str, viewer: Viewer, subject: str | None,
                 session: str | None = None) -> None:
    await request.app[LIVE].audit(action, {"actor": viewer.id, "subject": subject,
                                           "session": session})


def _coded(exc: PlanError | ProgramError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def list_plans(request: web.Request) -> web.Response:
    await require_staff(request)
    return web.json_response({"ok": [_view(p) for p in await request.app[PLANS].list()]})


async def get_plan(request: web.Request) -> web.Response:
    await require_staff(request)
    plan = await request.app[PLANS].get(request.match_info["pid"])
    if plan is None:
        raise ApiError(404, "not_found", "no such plan")
    return web.json_response({"ok": _view(plan)})


async def create_plan(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    body = await parse_body(request, PlanBody)
    plan = await request.app[PLANS].save(viewer.id, body)
    await _audit(request, "plan_create", viewer, plan.id)
    return web.json_response({"ok": _view(plan)}, status=201)


async def update_plan(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    body = await parse_body(request, PlanBody)
    try:
        plan = await request.app[PLANS].save(viewer.id, body, request.match_info["pid"])
    except PlanError as exc:
        raise _coded(exc) from exc
    await _audit(request, "plan_update", viewer, plan.id)
    return web.json_response({"ok": _view(plan)})


async def delete_plan(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    require_role(viewer, "admin", "therapist")
    pid = request.match_info["pid"]
    try:
        await request.app[PLANS].delete(pid)
    except PlanError as exc:
        raise _coded(exc) from exc
    await _audit(request, "plan_delete", viewer, pid)
    return web.json_response({"ok": {"id": pid}})


async def series_plan(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    sid = request.match_info["sid"]
    try:
        await request.app[PROGRAM].series(viewer, sid)
    except ProgramError as exc:
        raise _coded(exc) from exc
    return web.json_response({"ok": {"plan_id": await request.app[PLANS].of_series(sid)}})


async def attach_to_series(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    sid = request.match_info["sid"]
    body = await parse_body(request, AttachBody)
    try:
        await request.app[PROGRAM].series(viewer, sid, write=True)
        await request.app[PLANS].attach_series(sid, body.plan_id)
    except (PlanError, ProgramError) as exc:
        raise _coded(exc) from exc
    await _audit(request, "plan_attach_series", viewer, body.plan_id)
    return web.json_response({"ok": {"series_id": sid, "plan_id": body.plan_id}})


async def attach_to_session(request: web.Request) -> web.Response:
    viewer = await require_staff(request)
    record = await owned(request, viewer)
    body = await parse_body(request, AttachBody)
    if body.plan_id is None:
        raise ApiError(400, "invalid", "plan_id: name a plan")
    try:
        plan = await request.app[PLANS].attach_session(record.id, record.owner, body.plan_id)
    except PlanError as exc:
        raise _coded(exc) from exc
    except DomainError as exc:
        raise ApiError(409, exc.code, str(exc)) from exc
    await _audit(request, "plan_attach_session", viewer, plan.id, record.id)
    return web.json_response({"ok": {"session_id": record.id, "plan_id": plan.id}})


ROUTES: list[dict[str, Any]] = [
    {"method": "get", "path": "/api/plans", "handler": list_plans, "response": PlanRecord,
     "many": True, "summary": "The clinic's session plans (shipped defaults first)"},
    {"method": "post", "path": "/api/plans", "handler": create_plan, "body": PlanBody,
     "ok": 201, "response": PlanRecord, "summary": "Create a session plan (admin, therapist)"},
    {"method": "get", "path": "/api/plans/{pid}", "handler": get_plan, "response": PlanRecord,
     "summary": "One session plan"},
    {"method": "put", "path": "/api/plans/{pid}", "handler": update_plan, "body": PlanBody,
     "response": PlanRecord,
     "summary": "Edit a session plan; editing a default keeps the clinic's own version"},
    {"method": "delete", "path": "/api/plans/{pid}", "handler": delete_plan,
     "response": PlanRef, "summary": "Delete a plan (a default returns to how it shipped)"},
    {"method": "get", "path": "/api/series/{sid}/plan", "handler": series_plan,
     "response": SeriesPlan, "summary": "The plan a series' occurrences follow"},
    {"method": "put", "path": "/api/series/{sid}/plan", "handler": attach_to_series,
     "body": AttachBody, "response": SeriesPlanAttached,
     "summary": "Attach a plan to a series (null: none)"},
    {"method": "put", "path": "/api/sessions/{session_id}/plan", "handler": attach_to_session,
     "body": AttachBody, "response": SessionPlanAttached,
     "summary": "Attach a plan to a session (its therapist)"},
]


def setup(app: web.Application) -> None:
    """After the program's routes (it needs the program service)."""
    book = PlanBook(app[STORE], app[ROOMS])
    app[PLANS] = book
    app[PROGRAM].on_occurrence = book.on_occurrence
    for route in ROUTES:
        app.router.add_route(route["method"].upper(), route["path"], route["handler"])
