"""Chat history, encrypted at rest with AES-GCM, one list per (session, scope).

Each message is sealed with a fresh 96-bit nonce and the session and scope as
associated data, so a ciphertext moved to another session or scope fails to
open. History is purged when the session ends, or once the configured retention after
it has passed (``expire`` marks it due, ``purge_due`` purges what is due).
Every message is kept until then (no cap per thread); readers get a thread in
pages of ``PAGE_SIZE``, newest first, and ask for earlier pages by position.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag

from rooms.stores import Aead, Store, StoreError, rewrite_list

MAX_TEXT = 2000
HISTORY_LIMIT = 200
PAGE_SIZE = 100  # messages per history page ("Load earlier" asks for the one before)
PURGE_AT = "chat-purge-at:"  # + session id: when its chat is due for purging
PURGE_PENDING = "chat-purge-pending"  # ended sessions whose chat is kept for now


@dataclass(frozen=True)
class ChatMessage:
    id: str
    scope: str
    sender: str
    sender_name: str
    sender_role: str
    text: str
    ts: float
    kind: str = "message"  # "broadcast": a clinician's message to every room


@dataclass(frozen=True)
class Page:
    """A slice of one thread. ``start`` is the position of its first message in the
    thread: the cursor for the page before it (nothing earlier when it is 0)."""

    messages: list[ChatMessage]
    start: int


class ChatLog:
    def __init__(self, store: Store, aead: Aead) -> None:
        self._store = store
        self._aead = aead

    @staticmethod
    def _key(session_id: str, scope: str) -> str:
        return f"chat:{session_id}:{scope}"

    async def append(
        self, session_id: str, scope: str, *, sender: str, sender_name: str, sender_role: str,
        text: str, kind: str = "message",
    ) -> ChatMessage:
        message = ChatMessage(
            uuid.uuid4().hex, scope, sender, sender_name, sender_role, text, time.time(), kind
        )
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(
            nonce, json.dumps(asdict(message)).encode(), f"{session_id}|{scope}".encode()
        )
        await self._store.set_add(f"chat-scopes:{session_id}", scope)
        await self._store.append(self._key(session_id, scope), sealed)
        return message

    async def reseal(self, session_id: str) -> int:
        """Rewrite every message of the session under the current data key (a key
        rotation); a message that opens with no configured key is left as it is."""
        done = 0
        for scope in sorted(await self._store.set_members(f"chat-scopes:{session_id}")):
            aad = f"{session_id}|{scope}".encode()

            def again(sealed: bytes, aad: bytes = aad) -> bytes:
                try:
                    plain = self._aead.decrypt(sealed[:12], sealed[12:], aad)
                except InvalidTag:
                    return sealed
                nonce = os.urandom(12)
                return nonce + self._aead.encrypt(nonce, plain, aad)

            done += await rewrite_list(self._store, self._key(session_id, scope), again)
        return done

    def _open(self, session_id: str, scope: str, items: list[bytes]) -> list[ChatMessage]:
        out: list[ChatMessage] = []
        for sealed in items:
            try:
                plain = self._aead.decrypt(
                    sealed[:12], sealed[12:], f"{session_id}|{scope}".encode()
                )
            except InvalidTag:
                continue  # tampered or from another key: never shown
            out.append(ChatMessage(**json.loads(plain)))
        return out

    async def history(
        self, session_id: str, scope: str, limit: int = HISTORY_LIMIT
    ) -> list[ChatMessage]:
        """The newest ``limit`` messages of a thread, oldest first."""
        items = await self._store.range(self._key(session_id, scope), -limit)
        return self._open(session_id, scope, items)

    async def page(
        self, session_id: str, scope: str, *, before: int | None = None,
        limit: int = PAGE_SIZE,
    ) -> Page:
        """Up to ``limit`` messages ending just before position ``before`` (None: the
        newest). Positions count from the thread's first message, so a page asked for
        while others write is neither shifted nor short of a message."""
        items = await self._store.range(self._key(session_id, scope))
        end = len(items) if before is None else max(0, min(before, len(items)))
        start = max(0, end - limit)
        return Page(self._open(session_id, scope, items[start:end]), start)

    async def expire(self, session_id: str, retention: float, *, now: float) -> None:
        """The session ended: purge its chat now (no retention), or mark it due for
        ``purge_due`` once ``retention`` seconds have passed."""
        if retention == 0:
            await self.purge(session_id)
            return
        await self._store.put(f"{PURGE_AT}{session_id}", str(now + retention).encode())
        await self._store.set_add(PURGE_PENDING, session_id)

    async def purge_due(self, *, now: float) -> int:
        """Purge every ended session's chat whose retention has passed; how many."""
        purged = 0
        for sid in await self._store.set_members(PURGE_PENDING):
            due = await self._store.get(f"{PURGE_AT}{sid}")
            if due is None or float(due.value) <= now:
                await self.purge(sid)
                await self._store.delete(f"{PURGE_AT}{sid}")
                await self._store.set_remove(PURGE_PENDING, sid)
                purged += 1
        return purged

    async def purge(self, session_id: str) -> None:
        key = f"chat-scopes:{session_id}"
        for scope in await self._store.set_members(key):
            await self._store.delete(self._key(session_id, scope))
        await self._store.delete(key)


_log = logging.getLogger("hearth.chat")


async def sweep_retention(chat: ChatLog, every: float, *,
                          clock: Callable[[], float] = time.time) -> None:
    """Run until cancelled: purge each ended session's chat once its retention has
    passed. A store that refuses is tried again on the next sweep; purging twice (two
    nodes sweeping) is harmless."""
    while True:
        try:
            purged = await chat.purge_due(now=clock())
        except StoreError as exc:
            _log.warning("chat retention sweep failed", extra={"reason": str(exc)})
        else:
            if purged:
                _log.info("chat purged after retention", extra={"sessions": purged})
        await asyncio.sleep(every)
