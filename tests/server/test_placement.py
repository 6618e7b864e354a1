"""Placement over both stores: one owner per session, takeover when its node is gone,
and a draining node sends new sessions elsewhere."""

from __future__ import annotations

from rooms.stores import Store
from server.placement import Placement


def node(store: Store, name: str, claimed: list[str] | None = None) -> Placement:
    async def on_claim(session_id: str) -> None:
        if claimed is not None:
            claimed.append(session_id)

    return Placement(store, name, f"http://{name}.test", heartbeat=1.0, ttl=4.0,
                     on_claim=on_claim)


async def test_first_node_reached_owns_the_session_and_others_point_to_it(
    any_store: Store,
) -> None:
    claimed: list[str] = []
    a, b = node(any_store, "a", claimed), node(any_store, "b")
    await a.beat()
    await b.beat()
    assert (await a.locate("s1")).id == "a"
    assert claimed == ["s1"]
    assert a.is_local("s1")
    found = await b.locate("s1")
    assert (found.id, found.url) == ("a", "http://a.test")
    assert not b.is_local("s1")
    assert (await a.locate("s1")).id == "a"
    assert claimed == ["s1"]  # adopting again does not re-run the claim hook


async def test_a_dead_nodes_sessions_are_taken_over_once(any_store: Store) -> None:
    a, b, c = node(any_store, "a"), node(any_store, "b"), node(any_store, "c")
    for n in (a, b, c):
        await n.beat()
    await a.locate("s1")
    await a.stop()  # its liveness record is gone, as after the TTL of a killed node
    assert (await b.locate("s1")).id == "b"
    assert (await c.locate("s1")).id == "b"  # c sees b's fresh placement, not a takeover
    assert [n.id for n in await c.nodes()] == ["b", "c"]


async def test_draining_node_keeps_its_sessions_but_places_new_ones_elsewhere(
    any_store: Store,
) -> None:
    a, b = node(any_store, "a"), node(any_store, "b")
    await a.beat()
    await b.beat()
    await a.locate("old")
    await a.drain()
    assert (await a.locate("old")).id == "a"
    assert (await a.locate("new")).id == "b"
    assert (await b.locate("new")).id == "b"
    await a.release("old")
    assert not a.is_local("old")
    assert (await b.locate("old")).id == "b"
    await b.drain()  # the last node standing still places sessions, on itself
    assert (await b.locate("third")).id == "b"


async def test_a_node_whose_record_lapsed_gives_up_sessions_taken_over(any_store: Store) -> None:
    lost: list[str] = []

    async def on_lost(session_id: str) -> None:
        lost.append(session_id)

    a = Placement(any_store, "a", "http://a.test", heartbeat=1.0, ttl=4.0, on_lost=on_lost)
    b = node(any_store, "b")
    await a.beat()
    await b.beat()
    await a.locate("s1")
    await a.locate("s2")
    await any_store.delete("node:a")  # a store outage longer than the TTL
    assert (await b.locate("s1")).id == "b"
    await any_store.delete("placement:s2")  # lapsed with nobody else on it
    await a.beat()
    assert lost == ["s1"]
    assert not a.is_local("s1")
    assert a.is_local("s2")
    assert (await b.locate("s2")).id == "a"  # a re-claimed it on its heartbeat
