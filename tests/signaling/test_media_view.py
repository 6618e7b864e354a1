"""Adaptive simulcast over signaling: a viewer's tile sizes reach the relay only when
well formed, and which layers a publisher should send reaches that publisher alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from server.appkeys import LIVE
from testkit.live import Client, Live, admitted


def record_everything(c: Client) -> list[tuple[str, Any]]:
    """Every server event this client receives (those without a handler of their own;
    the rest are in ``c.received``)."""
    seen: list[tuple[str, Any]] = []

    async def on(event: str, data: Any = None) -> None:
        seen.append((event, data))

    c.sio.on("*", on)
    return seen


def views_of(live: Live) -> list[tuple[str, str, dict[str, tuple[int, int]]]]:
    """Record each ``set_view`` the relay is asked for, then let the relay do it."""
    relay = live.app[LIVE].relay
    calls: list[tuple[str, str, dict[str, tuple[int, int]]]] = []
    real = relay.set_view

    def set_view(session_id: str, viewer_id: str,
                 sizes: Mapping[str, tuple[int, int]]) -> None:
        calls.append((session_id, viewer_id, dict(sizes)))
        real(session_id, viewer_id, sizes)

    relay.set_view = set_view  # type: ignore[method-assign]
    return calls


async def test_tile_sizes_reach_the_relay_and_bad_ones_are_refused_readably(
        live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    a = room.people["a"]
    calls = views_of(live)
    await a.ok("media_join")
    assert await a.ok("media_view", {"sizes": {"1": [640, 360], "3": [0, 0]}}) == {}
    assert calls == [(room.sid, room.ids["a"], {"1": (640, 360), "3": (0, 0)})]
    assert await a.ok("media_view", {"sizes": {}}) == {}  # nothing changed: allowed

    too_many = {str(i): [160, 90] for i in range(65)}
    bad: list[tuple[Any, str]] = [
        ({"sizes": too_many}, "at most 64 tiles"),
        ({"sizes": {"video-1": [1, 1]}}, "not a receive slot's mid"),
        ({"sizes": {"1": [640, 360, 2]}}, "slot 1: the size must be [width, height]"),
        ({"sizes": {"2": [-1, 360]}}, "slot 2"),
        ({"sizes": {"2": [16385, 360]}}, "slot 2"),
        ({"sizes": {"2": [640.5, 360]}}, "slot 2"),
        ({"sizes": {"2": [True, 360]}}, "slot 2"),
        ({"sizes": {"2": "640x360"}}, "slot 2"),
        ({"sizes": [[640, 360]]}, "expected {mid: [width, height], ...}"),
        ({"sizes": {}, "who": "b"}, "who"),
        ({}, "sizes"),
    ]
    for payload, words in bad:
        res = await a.call("media_view", payload)
        assert res.get("error", {}).get("code") == "invalid", (payload, res)
        assert words in res["error"]["message"], (payload, res["error"]["message"])
    assert len(calls) == 2  # nothing refused reached the relay


async def test_tile_sizes_before_media_get_a_coded_error(live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    res = await room.people["a"].call("media_view", {"sizes": {"1": [320, 180]}})
    assert "error" in res, res
    assert res["error"]["code"] not in ("internal", "invalid"), res


async def test_tile_sizes_are_rate_limited_like_every_event(live: Live) -> None:
    room = await admitted(live, ("a", "client"))
    a = room.people["a"]
    await a.ok("media_join")
    results = await asyncio.gather(*(a.call("media_view", {"sizes": {"1": [i, i]}})
                                     for i in range(60)))
    codes = [r["error"]["code"] for r in results if "error" in r]
    assert codes, "a burst of 60 was never slowed down"
    assert set(codes) == {"rate_limited"}, codes


@pytest.mark.parametrize("live", ["sqlite"], indirect=True)
async def test_layers_reach_the_publisher_and_nobody_else(live: Live) -> None:
    room = await admitted(live, ("a", "client"), ("b", "partner"))
    t, a, b = room.therapist, room.people["a"], room.people["b"]
    heard = {name: record_everything(c) for name, c in (("t", t), ("a", a), ("b", b))}
    for c in (t, a, b):
        await c.ok("media_join")
    relay = live.app[LIVE].relay
    payload = {"mid": "1", "active": ["q", "h"]}
    relay.emit(room.sid, room.ids["a"], "layers", payload)
    await a.wait(lambda _: any(e == "media_layers" for e, _ in heard["a"]), "a told")
    assert [d for e, d in heard["a"] if e == "media_layers"] == [payload]
    await asyncio.sleep(0.5)  # anything sent to others alongside has arrived by now
    marker = json.dumps(payload, sort_keys=True)
    for name, c in (("t", t), ("b", b)):
        everything = [*heard[name], *((e, d) for e, ds in c.received.items() for d in ds)]
        assert not [e for e, _ in everything if e == "media_layers"], name
        assert marker not in json.dumps([d for _, d in everything], sort_keys=True,
                                        default=str), name
        assert '"active": ["q", "h"]' not in json.dumps(everything, default=str), name
