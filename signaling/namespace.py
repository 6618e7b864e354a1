"""The socket.io namespace: authenticate on connect, then parse → service → ack.

Identity and role come only from the verified link saved in the socket session.
Every event passes the same gate: a per-connection token bucket, a size cap, a
registered name, a schema. Whatever goes wrong becomes an error ack with a
code: never a crash, never a silent drop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from pydantic import ValidationError

from rooms.errors import DomainError
from rooms.stores import StoreError
from signaling.outbox import socket_room
from signaling.ratelimit import TokenBucket
from signaling.registry import Caller, Registry
from signaling.tokens import JoinClaims, LinkError, LinkSigner

log = logging.getLogger("hearth.signaling")
NAMESPACE = "/"


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@dataclass
class Connection:
    caller: Caller
    bucket: TokenBucket = field(default_factory=TokenBucket)


ConnectHook = Callable[[Caller, JoinClaims], Awaitable[None]]
DisconnectHook = Callable[[Caller, bool], Awaitable[None]]
AuditHook = Callable[[str, dict[str, Any]], Awaitable[None]]
ObserveHook = Callable[[str, str, float], None]  # event (bounded), outcome code, seconds
PlaceHook = Callable[[str], Awaitable[str | None]]  # session → URL of the node serving it
# Series links: verified claims → the occurrence session and person they mean now.
ResolveHook = Callable[[JoinClaims], Awaitable[JoinClaims]]


class HearthNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        registry: Registry,
        links: LinkSigner,
        *,
        on_join: ConnectHook,
        on_leave: DisconnectHook,
        audit: AuditHook,
        clock: Callable[[], float] = time.monotonic,
        coded_errors: tuple[type[Exception], ...] = (),
        observe: ObserveHook | None = None,
        place: PlaceHook | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self.registry = registry
        self.links = links
        self.on_join = on_join
        self.on_leave = on_leave
        self.audit = audit
        self.clock = clock
        # Errors from ports (e.g. the relay's MediaError) that carry a stable ``code``.
        self.coded_errors = coded_errors
        self.observe = observe
        # Placement: a session lives in one process; a socket reaching another is sent on.
        self.place = place
        self.connections: dict[str, Connection] = {}
        self.resolve: ResolveHook | None = None

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            await self.audit("link_refused", {"code": "missing_token", "via": "socket"})
            raise socketio.exceptions.ConnectionRefusedError("invalid_token")
        try:
            claims = await self.links.verify(token)
            if self.resolve is not None:
                claims = await self.resolve(claims)
        except LinkError as exc:
            await self.audit("link_refused", {"code": exc.code, "via": "socket"})
            raise socketio.exceptions.ConnectionRefusedError(exc.code) from exc
        except StoreError as exc:
            raise socketio.exceptions.ConnectionRefusedError("unavailable") from exc
        caller = Caller(sid, claims.session_id, claims.participant_id, claims.role, claims.jti)
        try:
            await self.on_join(caller, claims)
        except DomainError as exc:
            await self.audit("join_refused", {"code": exc.code, "session": claims.session_id})
            raise socketio.exceptions.ConnectionRefusedError(exc.code) from exc
        except StoreError as exc:
            raise socketio.exceptions.ConnectionRefusedError("unavailable") from exc
        if self.place is not None:
            try:
                elsewhere = await self.place(caller.session_id)
            except (DomainError, StoreError) as exc:
                raise socketio.exceptions.ConnectionRefusedError("unavailable") from exc
            if elsewhere is not None:
                raise socketio.exceptions.ConnectionRefusedError("wrong_node", {"url": elsewhere})
        # A second tab with the same link takes over; the first is told why.
        for old_sid in self.sids_of(caller.session_id, caller.participant_id):
            self.connections.pop(old_sid, None)
            await self.emit("notice", {"kind": "superseded"}, to=old_sid)
            await self.disconnect(old_sid)
        self.connections[sid] = Connection(caller)
        await self.enter_room(sid, socket_room(caller.session_id, caller.participant_id))
        log.info("connected", extra={"session": caller.session_id,
                                     "participant": caller.participant_id})

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        others = bool(self.sids_of(conn.caller.session_id, conn.caller.participant_id))
        try:
            await self.on_leave(conn.caller, others)
        except (DomainError, StoreError):
            log.warning("disconnect bookkeeping failed",
                        extra={"session": conn.caller.session_id})

    def sids_of(self, session_id: str, participant_id: str | None) -> list[str]:
        """Local sockets of one participant (or of a whole session when None)."""
        return [
            sid for sid, conn in self.connections.items()
            if conn.caller.session_id == session_id
            and (participant_id is None or conn.caller.participant_id == participant_id)
        ]

    async def kick(self, session_id: str, participant_id: str | None) -> None:
        """Close the sockets of a removed person, or of every person of an ended session."""
        for sid in self.sids_of(session_id, participant_id):
            self.connections.pop(sid, None)
            await self.disconnect(sid)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        started = time.perf_counter()
        result = await self._dispatch(event, *args)
        if self.observe is not None:
            name = event if event in self.registry.events else "unknown"
            outcome = result["error"]["code"] if "error" in result else "ok"
            self.observe(name, outcome, time.perf_counter() - started)
        return result

    async def _dispatch(self, event: str, *args: Any) -> dict[str, Any]:
        sid = args[0]
        conn = self.connections.get(sid)
        if conn is None:
            return error("unauthenticated", "not connected")
        if not conn.bucket.take(self.clock()):
            if conn.bucket.exhausted:
                log.warning("flooding client disconnected",
                            extra={"session": conn.caller.session_id})
                await self.disconnect(sid)
            return error("rate_limited", "too many events; slow down")
        if len(args) > 2:
            return error("invalid", "send one payload object per event")
        spec = self.registry.events.get(event)
        if spec is None:
            return error("unknown_event", "no such event")
        data = args[1] if len(args) == 2 else {}
        try:
            size = len(json.dumps(data, separators=(",", ":")))
        except (TypeError, ValueError):
            return error("invalid", "payload is not JSON")
        if size > spec.max_bytes:
            return error("too_large", f"payload over {spec.max_bytes} bytes")
        try:
            payload = spec.payload.model_validate(data if data is not None else {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            return error("invalid", f"{where}: {first['msg']}")
        try:
            result = await spec.handler(conn.caller, payload)
        except DomainError as exc:
            return error(exc.code, str(exc))
        except StoreError:
            return error("unavailable", "storage is unavailable; nothing was changed")
        except self.coded_errors as exc:
            return error(str(getattr(exc, "code", "error")), str(exc))
        except Exception:  # a bug must still answer, never leave the client hanging
            log.exception("handler failed", extra={"event": event,
                                                   "session": conn.caller.session_id})
            return error("internal", "something went wrong; nothing was changed")
        return {"ok": result}
