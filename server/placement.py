"""Which process serves a session, recorded in the shared store.

A session's media is relayed inside one process, so every participant of a session
must reach that process. The first live, non-draining process a participant reaches
places the session on itself (compare-and-set on ``placement:<session>``). Each
process renews a liveness record ``node:<id>`` with a TTL; a placement naming a node
whose record expired (killed) or that released it (drained) is taken over by the next
process a participant reaches, again by compare-and-set, so exactly one wins.

With the embedded store there is one process, and every session lands on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass

from rooms.errors import Conflict
from rooms.stores import Store, StoreError
from server.tasks import stop_task

log = logging.getLogger("hearth.placement")
NODES = "nodes"
# Placements are deleted when a session ends; this only bounds what a crash leaves behind.
PLACEMENT_TTL = 7 * 24 * 3600
ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class Node:
    """A serving process as other processes see it."""

    id: str
    url: str
    draining: bool = False
    sessions: int = 0


def _placement_key(session_id: str) -> str:
    return f"placement:{session_id}"


def _node_key(node_id: str) -> str:
    return f"node:{node_id}"


class Placement:
    """This process's view of placement: locate sessions, heartbeat, drain."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        url: str,
        *,
        heartbeat: float,
        ttl: float,
        on_claim: Callable[[str], Awaitable[None]] | None = None,
        on_lost: Callable[[str], Awaitable[None]] | None = None,
        on_beat: Callable[[bool], None] | None = None,
    ) -> None:
        self._store = store
        self.node_id = node_id
        self.url = url
        self.heartbeat = heartbeat
        self.ttl = ttl
        self._on_claim = on_claim
        self._on_lost = on_lost
        # Called after each renewed record; True when the one before had failed (the
        # store is back), so the node can catch up on what it missed meanwhile.
        self._on_beat = on_beat
        self.draining = False
        self.local: set[str] = set()  # sessions placed here, as far as this process knows
        self._task: asyncio.Task[None] | None = None

    @property
    def me(self) -> Node:
        return Node(self.node_id, self.url, self.draining, len(self.local))

    def is_local(self, session_id: str) -> bool:
        return session_id in self.local

    # --- liveness ------------------------------------------------------------------
    async def beat(self) -> None:
        """Renew this node's record (and announce draining through it), then check that
        our sessions are still ours.

        If this node's record lapsed (a store outage longer than the TTL) another node
        may have taken a session over; the session must then leave here, or its people
        would be split between two relays.
        """
        await self._store.put(_node_key(self.node_id), json.dumps(asdict(self.me)).encode(),
                              ttl=self.ttl)
        await self._store.set_add(NODES, self.node_id)
        for session_id in sorted(self.local):
            key = _placement_key(session_id)
            found = await self._store.get(key)
            if found is None:  # lapsed with nobody else on it: still ours
                await self._store.cas(key, self.node_id.encode(), expected_version=0,
                                      ttl=PLACEMENT_TTL)
            elif found.value.decode() != self.node_id:
                self.local.discard(session_id)
                log.warning("session taken over by another node",
                            extra={"session": session_id})
                if self._on_lost is not None:
                    await self._on_lost(session_id)

    async def start(self) -> None:
        try:
            await self.beat()
        except StoreError:
            log.warning("placement heartbeat failed; retrying")
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.beat()
            except StoreError:  # the record may lapse; sessions move only after the TTL
                if not failing:
                    log.warning("placement heartbeat failed")
                failing = True
                continue
            if failing:
                log.info("placement heartbeat renewed again")
            if self._on_beat is not None:
                self._on_beat(failing)
            failing = False

    async def stop(self) -> None:
        """Leave the cluster: stop beating and remove the record (best effort)."""
        await stop_task(self._task, "placement heartbeat")
        with contextlib.suppress(StoreError):
            await self._store.delete(_node_key(self.node_id))
            await self._store.set_remove(NODES, self.node_id)

    async def node(self, node_id: str) -> Node | None:
        """A live node's record, or None when it expired."""
        if node_id == self.node_id:
            return self.me
        found = await self._store.get(_node_key(node_id))
        return None if found is None else Node(**json.loads(found.value))

    async def nodes(self) -> list[Node]:
        """Every live node; records that expired are pruned from the index."""
        live: list[Node] = []
        for node_id in sorted(await self._store.set_members(NODES)):
            node = await self.node(node_id)
            if node is None:
                await self._store.set_remove(NODES, node_id)
            else:
                live.append(node)
        return live

    # --- placement -----------------------------------------------------------------
    async def locate(self, session_id: str) -> Node:
        """The node that serves ``session_id``, placing it first when nobody (alive) does.

        A draining node keeps the sessions it already has but places new ones on the
        least-loaded other live node, or on itself when it is the last one.
        """
        key = _placement_key(session_id)
        for _ in range(ATTEMPTS):
            found = await self._store.get(key)
            if found is not None:
                owner = await self.node(found.value.decode())
                if owner is not None:
                    if owner.id == self.node_id:
                        await self._adopt(session_id)
                    return owner
            target = self.me if not self.draining else await self._elsewhere()
            version = 0 if found is None else found.version
            written = await self._store.cas(key, target.id.encode(), expected_version=version,
                                            ttl=PLACEMENT_TTL)
            if written is None:
                continue  # another process placed it first: read again
            log.info("session placed", extra={"session": session_id, "node": target.id,
                                               "takeover": found is not None})
            if target.id == self.node_id:
                await self._adopt(session_id)
            return target
        raise Conflict("session placement is busy; try again")

    async def _adopt(self, session_id: str) -> None:
        if session_id in self.local:
            return
        self.local.add(session_id)
        if self._on_claim is not None:
            await self._on_claim(session_id)

    async def _elsewhere(self) -> Node:
        others = [n for n in await self.nodes() if n.id != self.node_id and not n.draining]
        if not others:
            return self.me
        return min(others, key=lambda n: (n.sessions, n.id))

    async def release(self, session_id: str) -> None:
        """Give a session up (drain, or it ended), only if it is still placed here."""
        self.local.discard(session_id)
        key = _placement_key(session_id)
        found = await self._store.get(key)
        if found is not None and found.value.decode() == self.node_id:
            await self._store.delete(key)

    async def drain(self) -> None:
        """Stop taking new sessions; the others see it on the record at once."""
        self.draining = True
        with contextlib.suppress(StoreError):
            await self.beat()


# --- drain (SIGTERM) ---------------------------------------------------------------
async def drain(placement: Placement, connections: Callable[[], Collection[str]],
                move: Callable[[list[str]], Awaitable[None]], grace: float) -> None:
    """SIGTERM: place nothing new here; let live sessions go on for up to ``grace``
    seconds, then move the rest: release their placement and ask their people to
    reconnect (``move`` the sockets still in ``connections()``), which lands them on
    another node with the same link, role and room."""
    await placement.drain()
    for _ in range(int(grace * 10)):  # bounded wait for the sessions to finish here
        if not connections():
            break
        await asyncio.sleep(0.1)
    moved = sorted(placement.local)
    for session_id in moved:
        try:
            await placement.release(session_id)
        except StoreError:
            log.warning("could not release a placement; it moves after the TTL",
                        extra={"session": session_id})
    await move(list(connections()))
    log.info("drained", extra={"sessions": len(moved)})
