"""Chat threads with explicit recipients, over real socket.io clients on both stores.

Every event each client receives is recorded (not only chat), and canary texts are
looked for in all of it: a private thread reaches its person and the clinicians, the
clinicians' backchannel reaches clinicians only, and paging never opens a thread to
someone who does not read it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import socketio

from testkit.live import Client, Live


def record_everything(c: Client) -> list[tuple[str, Any]]:
    """Replace the client's socket with one that records every event, whatever its name."""
    seen: list[tuple[str, Any]] = []
    sio = socketio.AsyncClient(reconnection=False)

    async def any_event(event: str, *args: Any) -> None:
        data = args[0] if args else None
        seen.append((event, data))
        c.received[event].append(data)

    sio.on("*", any_event)
    sio.on("disconnect", c._on_disconnect)
    c.sio = sio
    return seen


def carries(seen: list[tuple[str, Any]], canary: str) -> bool:
    return canary in json.dumps(seen)


def texts(c: Client) -> list[str]:
    return [m["text"] for m in c.received["chat"]]


async def family(live: Live) -> tuple[dict[str, Client], dict[str, list[tuple[str, Any]]],
                                      dict[str, str], Any]:
    dr = await live.therapist()
    sid = await dr.session()
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for name, role, guardian in (("Alex", "client", None), ("Blair", "partner", None),
                                 ("Kit", "child", "Blair"), ("Dr Co", "co_therapist", None)):
        ids[name], tokens[name] = await dr.add(
            sid, name, role, guardians=[ids[guardian]] if guardian else None)
    tokens["Dr"] = await dr.join_token(sid)
    clients: dict[str, Client] = {}
    seen: dict[str, list[tuple[str, Any]]] = {}
    for name in ("Dr", "Dr Co", "Alex", "Blair", "Kit"):
        c = await live.client(tokens[name], connect=False)
        seen[name] = record_everything(c)
        await c.connect()
        await c.ok("join", {"consent_version": "v"})
        clients[name] = c
    await clients["Dr"].ok("admit_all")
    for name in ("Alex", "Blair", "Kit"):
        c = clients[name]
        await c.wait(lambda x: x.state["me"]["status"] == "admitted", f"{name} admitted")
        await c.ok("join", {"consent_version": "v"})
    ids["Dr"] = clients["Dr"].state["me"]["id"]
    return clients, seen, ids, dr


async def test_private_threads_and_backchannel_reach_exactly_their_readers(live: Live) -> None:
    c, seen, ids, dr = await family(live)
    clinicians = {"Dr", "Dr Co"}

    sent = await c["Kit"].ok("chat_send", {"scope": "clinicians", "text": "canary-kit-alone"})
    assert sent["scope"] == f"private:{ids['Kit']}"
    reply = await c["Dr"].ok("chat_send", {"scope": "clinicians", "to": ids["Kit"],
                                           "text": "canary-reply-to-kit"})
    assert reply["scope"] == f"private:{ids['Kit']}"
    await c["Alex"].ok("chat_send", {"scope": "clinicians", "text": "canary-alex-private"})
    back = await c["Dr Co"].ok("chat_send", {"scope": "clinicians",
                                             "text": "canary-backchannel"})
    assert back["scope"] == "clinical"

    for name in ("Kit", "Dr", "Dr Co"):
        await c[name].wait(lambda x: "canary-reply-to-kit" in texts(x), f"{name} has reply")
    await c["Alex"].wait(lambda x: "canary-alex-private" in texts(x), "Alex's own message")
    for name in clinicians:
        await c[name].wait(lambda x: "canary-backchannel" in texts(x), "backchannel")
        await c[name].wait(lambda x: "canary-alex-private" in texts(x), "Alex's private")
    # A clinician cannot address a private thread to another clinician.
    assert await c["Dr"].error("chat_send", {"scope": "clinicians", "to": ids["Dr Co"],
                                             "text": "x"}) == "not_found"
    # A client cannot choose a recipient.
    assert await c["Alex"].error("chat_send", {"scope": "clinicians", "to": ids["Kit"],
                                               "text": "x"}) == "forbidden"

    # Rejoining (history on join) and asking for earlier pages stay inside each thread.
    for name in ("Alex", "Blair", "Kit"):
        await c[name].ok("join", {"consent_version": "v"})
        for scope in (f"private:{ids['Kit']}", "clinical"):
            if name == "Kit" and scope.startswith("private:"):
                continue
            assert await c[name].error("chat_earlier", {"scope": scope, "before": 1}) \
                == "forbidden"

    readers = {
        "canary-kit-alone": clinicians | {"Kit"},
        "canary-reply-to-kit": clinicians | {"Kit"},
        "canary-alex-private": clinicians | {"Alex"},
        "canary-backchannel": clinicians,
    }
    for canary, who in readers.items():
        got = {name for name in c if carries(seen[name], canary)}
        assert got == who, f"{canary} reached {sorted(got)}"
    await dr.close()


async def test_history_is_the_whole_thread_in_pages(live: Live) -> None:
    c, _, _, dr = await family(live)
    total = 230
    writers = [c[name] for name in ("Dr", "Dr Co", "Alex", "Blair")]
    for i in range(total):  # spread over four people: each stays under the rate limit
        await writers[i % 4].ok("chat_send", {"scope": "room", "text": f"m{i}"})
        await asyncio.sleep(0.01)
    alex = c["Alex"]
    alex.received["chat_history"].clear()
    await alex.ok("join", {"consent_version": "v"})
    first = await alex.wait(
        lambda x: [h for h in x.received["chat_history"] if h["scope"] == "main"], "history")
    page = first[-1]
    got = [m["text"] for m in page["messages"]]
    assert got == [f"m{i}" for i in range(total - 100, total)]
    start = page["start"]
    assert start == total - 100
    while start > 0:
        earlier = await alex.ok("chat_earlier", {"scope": "main", "before": start})
        assert earlier["scope"] == "main"
        got = [m["text"] for m in earlier["messages"]] + got
        start = earlier["start"]
    assert got == [f"m{i}" for i in range(total)]
    assert await alex.error("chat_earlier", {"scope": "main", "before": -1}) == "invalid"
    await dr.close()


async def test_broadcast_stays_in_every_rooms_chat_marked(live: Live) -> None:
    c, _, _, dr = await family(live)
    await c["Dr"].ok("breakouts_by_role", {"plan": "each_client_with_clinician"})
    await c["Dr"].ok("breakouts_open", {"minutes": 15})
    for name in ("Alex", "Blair"):
        await c[name].wait(lambda x: x.state["me"]["room"] is not None, f"{name} in a room")
    await c["Dr"].ok("breakouts_broadcast", {"text": "canary five minutes"})
    for name in ("Alex", "Blair"):
        msg = await c[name].wait(
            lambda x: [m for m in x.received["chat"] if m["text"] == "canary five minutes"],
            f"{name} has the broadcast in chat")
        assert msg[0]["kind"] == "broadcast"
        assert msg[0]["scope"] == f"breakout:{c[name].state['me']['room']}"
    # Back in the same room later, the broadcast is part of that room's history.
    alex = c["Alex"]
    room = alex.state["me"]["room"]
    alex.received["chat_history"].clear()
    await alex.ok("join", {"consent_version": "v"})
    history = await alex.wait(lambda x: [h for h in x.received["chat_history"]
                                         if h["scope"] == f"breakout:{room}"], "history")
    assert [m["kind"] for m in history[-1]["messages"]] == ["broadcast"]
    await dr.close()


async def test_knocking_on_a_locked_room_is_told_so(live: Live) -> None:
    dr = await live.therapist()
    sid = await dr.session()
    _, token = await dr.add(sid, "Alex", "client")
    t = await live.client(await dr.join_token(sid))
    await t.ok("join", {"consent_version": "v"})
    await t.ok("lock", {"locked": True})
    alex = await live.client(token)
    res = await alex.call("join", {"consent_version": "v"})
    assert res["error"]["code"] == "locked"
    assert "locked" in res["error"]["message"]
    await t.ok("lock", {"locked": False})
    assert (await alex.ok("join", {"consent_version": "v"}))["status"] == "waiting"
    await dr.close()
