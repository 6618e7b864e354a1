"""The REST API's OpenAPI 3.1 document, built from the same schema classes the routes use.

Each operation is declared once here next to its request model; a test checks
that every ``/api`` route the app registers is documented, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.api_auth import LoginBody
from server.api_sessions import AddParticipantBody, CreateSessionBody
from server.api_setup import SetupBody
from server.responses import (
    AccountCreated,
    LinkRevoked,
    Me,
    OwnLink,
    ParticipantLink,
    SessionDetail,
    SessionEnded,
    SessionSummary,
    SignedIn,
)
from server.state import SETTINGS


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    auth: bool = True
    ok: int = 200
    content: str = "application/json"
    # The ``ok`` member of the success body; a list route answers a list of ``item``.
    response: type[BaseModel] | None = None
    many: bool = False
    logout: bool = False


OPERATIONS = [
    Operation("post", "/api/setup", "Create the first therapist with the one-time setup token",
              SetupBody, auth=False, ok=201, response=AccountCreated),
    Operation("post", "/api/login", "Sign in; sets the HttpOnly login cookie", LoginBody,
              auth=False, response=SignedIn),
    Operation("post", "/api/logout", "Sign out", auth=False, logout=True),
    Operation("get", "/api/me", "The signed-in therapist", response=Me),
    Operation("post", "/api/sessions", "Create a session", CreateSessionBody, ok=201,
              response=SessionSummary),
    Operation("get", "/api/sessions", "List your sessions", response=SessionSummary,
              many=True),
    Operation("get", "/api/sessions/{session_id}", "One session with its participants",
              response=SessionDetail),
    Operation("post", "/api/sessions/{session_id}/participants",
              "Add a participant; returns their personal link", AddParticipantBody, ok=201,
              response=ParticipantLink),
    Operation("post", "/api/sessions/{session_id}/participants/{participant_id}/link",
              "Issue a new personal link (the previous one is revoked)",
              response=ParticipantLink),
    Operation("delete", "/api/sessions/{session_id}/participants/{participant_id}/link",
              "Revoke a participant's link", response=LinkRevoked),
    Operation("get", "/api/sessions/{session_id}/participants/{participant_id}/invite.ics",
              "Calendar invite with the personal link", content="text/calendar"),
    Operation("post", "/api/sessions/{session_id}/join", "Your own link into the session",
              response=OwnLink),
    Operation("post", "/api/sessions/{session_id}/end", "End the session for everyone",
              response=SessionEnded),
]


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _component(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Add ``model`` (and what it refers to) to the components; return its $ref."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for sub_name, sub in schema.pop("$defs", {}).items():
        schemas[sub_name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def success_schema(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    """The success body: ``{"ok": <model>}`` (a list for list routes); text for .ics."""
    if op.content != "application/json":
        return {"type": "string"}
    if op.logout:
        ok: dict[str, Any] = {"const": True}
    elif op.response is None:
        raise ValueError(f"{op.method} {op.path} has no response model")
    else:
        ok = _component(op.response, schemas)
        if op.many:
            ok = {"type": "array", "items": ok}
    return {"type": "object", "required": ["ok"], "additionalProperties": False,
            "properties": {"ok": ok}}


def build_document(public_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}",
            "responses": {
                str(op.ok): {"description": "success", "content": {
                    op.content: {"schema": success_schema(op, schemas)}}},
                "4XX": {"description": "refused with a code",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}}},
                "503": {"description": "storage unavailable; nothing changed"},
            },
        }
        params = [seg[1:-1] for seg in op.path.split("/") if seg.startswith("{")]
        if params:
            entry["parameters"] = [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "string", "maxLength": 64}}
                for p in params
            ]
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _component(op.body, schemas)}},
            }
        if op.auth:
            entry["security"] = [{"login": []}]
            entry["responses"]["401"] = {"description": "not signed in"}
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hearth REST API", "version": "1"},
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "login": {"type": "apiKey", "in": "cookie", "name": "hearth_login"}
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app[SETTINGS].public_url))
