"""Every successful JSON answer a live app gives is checked against the response schema
the OpenAPI document publishes for its route, so a handler and its documented model
cannot drift apart in any suite that drives the app."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from aiohttp import web
from aiohttp.typedefs import Handler

from server.openapi import build_document


class DocumentedResponses:
    """``middleware()`` for the app; ``problems`` lists each answer its schema refused."""

    def __init__(self) -> None:
        self._doc = build_document("http://127.0.0.1")
        self._validators: dict[tuple[str, str, int], Any] = {}
        self.problems: list[str] = []
        self.checked: set[tuple[str, str]] = set()

    def _validator(self, path: str, method: str, status: int) -> Any:
        key = (path, method, status)
        if key not in self._validators:
            responses = self._doc["paths"][path][method]["responses"]
            if str(status) not in responses:
                return None
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            self._validators[key] = jsonschema_rs.validator_for(
                {**schema, "components": self._doc["components"]})
        return self._validators[key]

    def middleware(self) -> Any:
        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            response = await handler(request)
            self.check(request, response)
            return response

        return check

    def check(self, request: web.Request, response: web.StreamResponse) -> None:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else ""
        method = request.method.lower()
        if not isinstance(response, web.Response) or response.status >= 300 \
                or response.content_type != "application/json" \
                or method not in self._doc["paths"].get(path, {}):
            return
        validator = self._validator(path, method, response.status)
        if validator is None:
            self.problems.append(f"{method} {path}: undocumented status {response.status}")
            return
        assert isinstance(response.body, bytes)
        body = json.loads(response.body)
        self.checked.add((method, path))
        for error in validator.iter_errors(body):
            self.problems.append(f"{method} {path}: {error.message} at {list(error.instance_path)}")
