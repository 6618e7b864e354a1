"""The socket.io namespace: authenticate on connect, then parse → service → ack.

Identity and role come only from the verified link saved in the socket session.
Every event passes the same gate: a per-connection token bucket, a size cap, a
registered name, a schema. Whatever goes wrong becomes an error ack with a
code: never a crash, never a silent drop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

import socketio
from pydantic import ValidationError

from rooms.errors import DomainError
from rooms.events import Event, EventKind
from rooms.model import Session
from rooms.stores import StoreError
from signaling import timing
from signaling.outbox import socket_room
from signaling.ratelimit import Penalties, TokenBucket
from signaling.registry import Caller, Registry
from signaling.tokens import (
    Identify,
    Identity,
    JoinClaims,
    LinkError,
    LinkSigner,
    cookie_name,
)

log = logging.getLogger("hearth.signaling")
NAMESPACE = "/"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
NOTICE_GRACE = 0.3  # seconds between a closing notice and the close


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@dataclass
class Connection:
    caller: Caller
    bucket: TokenBucket = field(default_factory=TokenBucket)
    address: str = "unknown"
    closing: bool = False  # being closed (revoked, flooding): its events are refused


def link_of(environ: dict[str, Any], auth: Any) -> tuple[str, bool] | None:
    """The link a socket presents, and whether it came from the session cookie: in the
    auth payload (API clients), or, for a page that exchanged its link, the HttpOnly
    cookie of the session named in the auth."""
    if not isinstance(auth, dict):
        return None
    token = auth.get("token")
    if isinstance(token, str):
        return token, False
    session_id = auth.get("session")
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(str(environ.get("HTTP_COOKIE", "")))
    except CookieError:
        return None
    morsel = cookies.get(cookie_name(session_id))
    return (morsel.value, True) if morsel is not None else None


ConnectHook = Callable[[Caller, JoinClaims], Awaitable[None]]
# A socket closed; the callable says whether the person has a live socket here now.
DisconnectHook = Callable[[Caller, Callable[[], bool]], Awaitable[None]]
AuditHook = Callable[[str, dict[str, Any]], Awaitable[None]]
ObserveHook = Callable[[str, str, float], None]  # event (bounded), outcome code, seconds
PlaceHook = Callable[[str], Awaitable[str | None]]  # session → URL of the node serving it
AddressHook = Callable[[dict[str, Any]], str]  # WSGI-style environ → client address
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
        identify: Identify | None = None,
        penalties: Penalties | None = None,
        address: AddressHook | None = None,
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
        # Role and name come from the server after the link is verified, never the link.
        self.identify: Identify = identify or self._identify_unknown
        self.penalties = penalties
        self.address = address

    @staticmethod
    async def _identify_unknown(claims: JoinClaims) -> Identity:
        raise LinkError("invalid_token", "link is not valid")

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        address = self.address_of(environ)
        if self.penalties is not None:
            wait = await self._refused_for(self.penalties.address(address))
            if wait:
                await self.audit("link_refused", {"code": "rate_limited", "via": "socket",
                                                  "address": address})
                raise socketio.exceptions.ConnectionRefusedError(
                    "rate_limited", {"retry_after": math.ceil(wait)})
        presented = link_of(environ, auth)
        if presented is None:
            await self.audit("link_refused", {"code": "missing_token", "via": "socket",
                                              "address": address})
            raise socketio.exceptions.ConnectionRefusedError("invalid_token")
        token, from_cookie = presented
        try:
            claims = await self.links.verify(token)
            if self.resolve is not None:
                claims = await self.resolve(claims)
            if not from_cookie and await self.links.claimed(claims.jti, claims.session_id):
                # Spent by a browser: only that browser's cookie may present it now.
                raise LinkError("link_used", "this link was already used in a browser")
            if self.penalties is not None:
                wait = await self.penalties.refused_for(self.penalties.link(claims.jti))
                if wait:
                    raise socketio.exceptions.ConnectionRefusedError(
                        "rate_limited", {"retry_after": math.ceil(wait)})
            me = await self.identify(claims)
        except LinkError as exc:
            await self.audit("link_refused", {"code": exc.code, "via": "socket",
                                              "address": address})
            raise socketio.exceptions.ConnectionRefusedError(exc.code) from exc
        except StoreError as exc:
            raise socketio.exceptions.ConnectionRefusedError("unavailable") from exc
        caller = Caller(sid, me.session_id, me.participant_id, me.role, me.jti)
        try:
            await self.on_join(caller, claims)
        except DomainError as exc:
            await self.audit("join_refused", {"code": exc.code, "session": caller.session_id,
                                              "subject": caller.participant_id,
                                              "address": address})
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
        self.connections[sid] = Connection(caller, address=address)
        await self.enter_room(sid, socket_room(caller.session_id, caller.participant_id))
        log.info("connected", extra={"session": caller.session_id,
                                     "participant": caller.participant_id})

    async def _refused_for(self, key: str) -> float:
        assert self.penalties is not None
        try:
            return await self.penalties.refused_for(key)
        except StoreError as exc:
            raise socketio.exceptions.ConnectionRefusedError("unavailable") from exc

    def address_of(self, environ: dict[str, Any]) -> str:
        """The client's address (through trusted proxies when the server says so)."""
        if self.address is not None:
            return self.address(environ)
        return str(environ.get("REMOTE_ADDR") or "unknown")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        session_id, participant_id = conn.caller.session_id, conn.caller.participant_id

        def connected() -> bool:
            return bool(self.sids_of(session_id, participant_id))

        try:
            await self.on_leave(conn.caller, connected)
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

    async def close_revoked(self, session_id: str, participant_id: str) -> int:
        """Close this person's sockets whose link is on the deny-list (re-issued or
        revoked); a socket holding the person's new link stays. Returns how many."""
        doomed = []
        for sid in self.sids_of(session_id, participant_id):
            conn = self.connections.get(sid)
            if conn is not None and await self.links.revoked(conn.caller.jti):
                doomed.append(sid)
        for sid in doomed:
            self.connections[sid].closing = True  # from now on its events are refused
            await self.emit("notice", {"kind": "revoked"}, to=sid)
        if doomed:
            await asyncio.sleep(NOTICE_GRACE)  # let the notice reach the page first
        for sid in doomed:  # on_disconnect then records the person as gone from here
            await self.disconnect(sid)
        return len(doomed)

    async def kick(self, session_id: str, participant_id: str | None) -> None:
        """Close the sockets of a removed person, or of every person of an ended session."""
        for sid in self.sids_of(session_id, participant_id):
            self.connections.pop(sid, None)
            await self.disconnect(sid)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        started = time.perf_counter()
        watch = timing.start(event)
        result = await self._dispatch(event, *args)
        timing.finish(watch)
        if self.observe is not None:
            name = event if event in self.registry.events else "unknown"
            outcome = result["error"]["code"] if "error" in result else "ok"
            self.observe(name, outcome, time.perf_counter() - started)
        return result

    async def _cut_off(self, sid: str, conn: Connection) -> None:
        """A flooding socket is closed, and its link and address are refused at connect
        for a growing back-off, on every node (the record is in the store)."""
        conn.closing = True
        backoff = 0.0
        if self.penalties is not None:
            try:
                backoff = await self.penalties.cut_off(
                    self.penalties.link(conn.caller.jti), self.penalties.address(conn.address))
            except StoreError:
                log.warning("could not record a flood cut-off",
                            extra={"session": conn.caller.session_id})
        log.warning("flooding client disconnected",
                    extra={"session": conn.caller.session_id, "backoff": backoff})
        await self.audit("flood_cut_off", {"session": conn.caller.session_id,
                                           "subject": conn.caller.participant_id,
                                           "actor": conn.caller.participant_id,
                                           "address": conn.address,
                                           "code": "rate_limited"})
        await self.disconnect(sid)

    async def _dispatch(self, event: str, *args: Any) -> dict[str, Any]:
        sid = args[0]
        conn = self.connections.get(sid)
        if conn is None or conn.closing:
            return error("unauthenticated", "not connected")
        if not conn.bucket.take(self.clock()):
            if conn.bucket.exhausted:
                await self._cut_off(sid, conn)
            return error("rate_limited", "too many events; slow down")
        if len(args) > 2:
            return error("invalid", "send one payload object per event")
        spec = self.registry.events.get(event)
        if spec is None:
            return error("unknown_event", "no such event")
        data = args[1] if len(args) == 2 else {}
        if isinstance(data, dict) and OVERSIZED in data:  # cut short by the frame guard
            return error("too_large", f"payload over {spec.max_bytes} bytes")
        try:  # characters as sent (UTF-8 bytes), not escaped ASCII: "ж" is 2, not 6
            size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError):
            return error("invalid", "payload is not JSON")
        if size > spec.max_bytes:
            return error("too_large", f"payload over {spec.max_bytes} bytes")
        try:
            payload = spec.payload.model_validate(data if data is not None else {})
        except ValidationError as exc:
            return error("invalid", readable(exc))
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


def readable(exc: ValidationError) -> str:
    """The first schema error as a person reads it; lengths count characters:
    ``message too long (2113 / 2000)``."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    if first["type"] == "string_too_long" and isinstance(first.get("input"), str):
        what = "message" if where == "text" else where
        return f"{what} too long ({len(first['input'])} / {first['ctx']['max_length']})"
    return f"{where}: {first['msg']}"


class Revocations:
    """A RoomService sink: when a person's link is revoked or re-issued, close the
    sockets on this node that still hold the old link (``link_revoked`` events reach
    the serving node through the session bus too)."""

    def __init__(self, namespace: HearthNamespace) -> None:
        self.namespace = namespace
        self._tasks: set[asyncio.Task[int]] = set()

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind is EventKind.LINK_REVOKED and event.audience.target:
                task = asyncio.get_running_loop().create_task(
                    self.namespace.close_revoked(session.id, event.audience.target))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)


# --- frames over the cap --------------------------------------------------------------
OVERSIZED = "\u0000oversized"  # marker field: the gate answers ``too_large``
FRAME_HEAD = re.compile(r'^42(/[^,\[]{0,64},)?(\d{0,12})\["((?:[^"\\]|\\.){1,64})"')
WEBSOCKET_CEILING = 2 * 1024 * 1024  # beyond this the socket closes with 1009 (too big)


def oversized_substitute(frame: str, cap: int) -> str | None:
    """A small engine.io frame standing for an oversized one (engine.io message ``4``,
    socket.io event ``2``): same event
    name and ack id, payload ``{OVERSIZED: size}``, so the gate answers it with the
    same ``too_large`` error ack as any payload over its cap. None if the frame is
    not a socket.io event (then engine.io refuses it)."""
    match = FRAME_HEAD.match(frame[:200])
    if match is None:
        return None
    namespace, ack, name = match.group(1) or "", match.group(2), json.loads(f'"{match[3]}"')
    return "42" + namespace + ack + json.dumps([name, {OVERSIZED: len(frame.encode())}])


def answer_oversized_frames(sio: Any, cap: int) -> None:
    """Make engine.io's cap equal the gate's, and answer a frame over it with an error
    ack instead of dropping the connection. Relies on engine.io's aiohttp driver
    (``python-engineio`` is pinned exactly)."""
    from aiohttp.web import WebSocketResponse
    from engineio.async_drivers.aiohttp import WebSocket

    sio.eio.max_http_buffer_size = cap

    class GuardedWebSocket(WebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> Any:
            self._sock = WebSocketResponse(max_msg_size=WEBSOCKET_CEILING)
            await self._sock.prepare(environ["aiohttp.request"])
            self.environ = environ
            await self.handler(self)
            return self._sock

        async def wait(self) -> Any:
            data = await super().wait()
            if isinstance(data, str) and len(data) > cap:
                substitute = oversized_substitute(data, cap)
                if substitute is not None:
                    return substitute
            return data

    sio.eio._async = {**sio.eio._async, "websocket": GuardedWebSocket}
