"""The audit log a clinic can read: append-only and hash-chained.

Each entry records when, who (actor id), about whom (subject id), which session,
from where (the client address, or a keyed hash of it), what and with what
outcome. Entries carry opaque ids only. Each one holds the hash of the one before
it, so editing or deleting an entry breaks the chain and ``hearth audit verify``
says where. The chain's head (sequence number and hash) is moved by
compare-and-set, so several processes append to one chain in order.

Changes that come from the rooms service (admit, deny, remove, breakouts, end) are
audited by ``AuditSink``, one more sink next to the outbox; REST and signaling
call an ``Auditor`` for what they alone see (sign-in, links, refusals).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rooms.events import Event, EventKind, Scope
from rooms.model import Session
from rooms.stores import Store

log = logging.getLogger("hearth.audit")

LOG_KEY = "audit:log"
HEAD_KEY = "audit:head"
GENESIS = "0" * 64
MAX_ATTEMPTS = 50
FIELDS = ("seq", "ts", "actor", "subject", "session", "address", "action", "outcome",
          "code", "prev")

# Rooms events that are audit actions (event kind → action).
EVENT_ACTIONS: dict[EventKind, str] = {
    EventKind.ADMITTED: "admit",
    EventKind.DENIED: "deny",
    EventKind.REMOVED: "remove",
    EventKind.SENT_BACK: "send_to_lobby",
    EventKind.BREAKOUTS_OPENED: "breakout_open",
    EventKind.PARTICIPANT_MOVED: "breakout_move",
    EventKind.BREAKOUTS_CLOSED: "breakout_close",
    EventKind.SESSION_ENDED: "session_end",
    EventKind.SETTINGS_CHANGED: "settings_change",
    EventKind.PLAN_SET: "plan_set",
    EventKind.PHASE_STARTED: "plan_phase",
    EventKind.ASIDE_STARTED: "private_room_start",
    EventKind.HOST_HANDED_OVER: "host_handed_over",
    EventKind.ASIDE_ENDED: "private_room_end",
}


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 over the entry's fields (not its own hash) in a canonical form."""
    body = {k: entry.get(k) for k in FIELDS}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str


def verify_chain(entries: Iterable[dict[str, Any]]) -> list[Problem]:
    """Every break in the chain: an edited entry, a missing one, a reordered one."""
    problems: list[Problem] = []
    prev, expected = GENESIS, 1
    for entry in sorted(entries, key=lambda e: int(e.get("seq", 0))):
        seq = int(entry.get("seq", 0))
        if seq != expected:
            problems.append(Problem(expected, f"entries {expected}..{seq - 1} are missing"))
        if entry.get("prev") != prev:
            problems.append(Problem(seq, "does not follow the entry before it"))
        if entry_hash(entry) != entry.get("hash"):
            problems.append(Problem(seq, "was changed after it was written"))
        prev, expected = str(entry.get("hash")), seq + 1
    return problems


class AuditLog:
    def __init__(self, store: Store, salt: bytes, *, hash_addresses: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._salt = salt
        self._hash_addresses = hash_addresses
        self._clock = clock

    def _address(self, address: str | None) -> str | None:
        if address is None or not self._hash_addresses:
            return address
        return "h:" + hmac.new(self._salt, address.encode(), hashlib.sha256).hexdigest()[:24]

    async def write(self, action: str, *, actor: str | None = None,
                    subject: str | None = None, session: str | None = None,
                    address: str | None = None, outcome: str = "ok",
                    code: str | None = None) -> dict[str, Any]:
        """Append one entry to the chain (and to its session's index)."""
        for _ in range(MAX_ATTEMPTS):
            head = await self._store.get(HEAD_KEY)
            seq, prev = (0, GENESIS) if head is None else (
                int(json.loads(head.value)["seq"]), str(json.loads(head.value)["hash"]))
            entry: dict[str, Any] = {
                "seq": seq + 1, "ts": round(self._clock(), 3), "actor": actor,
                "subject": subject, "session": session, "address": self._address(address),
                "action": action, "outcome": outcome, "code": code, "prev": prev,
            }
            entry["hash"] = entry_hash(entry)
            new_head = json.dumps({"seq": seq + 1, "hash": entry["hash"]}).encode()
            if await self._store.cas(HEAD_KEY, new_head,
                                     expected_version=head.version if head else 0) is not None:
                break
        else:
            raise RuntimeError("audit log is busy")
        raw = json.dumps(entry, sort_keys=True).encode()
        await self._store.append(LOG_KEY, raw)
        if session:
            await self._store.append(f"audit:session:{session}", raw)
        return entry

    async def entries(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in await self._store.range(LOG_KEY)]

    async def for_session(self, session_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in await self._store.range(f"audit:session:{session_id}")]

    async def verify(self) -> list[Problem]:
        entries = await self.entries()
        problems = verify_chain(entries)
        head = await self._store.get(HEAD_KEY)
        if head is not None:
            last = int(json.loads(head.value)["seq"])
            top = max((int(e.get("seq", 0)) for e in entries), default=0)
            if top < last:
                problems.append(Problem(top + 1, f"entries {top + 1}..{last} are missing"))
        return problems


class AuditSink:
    """A RoomService sink: committed moderation changes become audit entries."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        for event in events:
            action = EVENT_ACTIONS.get(event.kind)
            if action is None:
                continue
            subject = event.audience.target if event.audience.scope is Scope.PARTICIPANT \
                else event.data.get("participant_id")
            await self.audit.write(action, actor=event.actor or None,
                                   subject=str(subject) if subject else None,
                                   session=session.id, code=event.data.get("setting"))


class Auditor:
    """What REST and signaling call to record an action they alone see. A failed write
    is logged and never fails the request that caused it; a refused link is counted
    (``on_refused(code)``) whether or not the write succeeds."""

    def __init__(self, audit: AuditLog,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.audit = audit
        self._on_refused = on_refused

    async def __call__(self, action: str, fields: Mapping[str, Any]) -> None:
        """Write one action to the chain (opaque ids only); ``outcome`` defaults to
        "refused" when the fields carry a code, else "ok"."""
        code = fields.get("code")
        if action == "link_refused" and self._on_refused is not None:
            self._on_refused(str(code))
        outcome = str(fields.get("outcome") or ("refused" if code else "ok"))
        try:
            await self.audit.write(
                action, actor=_opt(fields.get("actor")), subject=_opt(fields.get("subject")),
                session=_opt(fields.get("session")), address=_opt(fields.get("address")),
                outcome=outcome, code=_opt(code))
        except Exception:
            log.exception("audit write failed")
        log.info("audit", extra={"audit_event": action, "code": str(code)})


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
