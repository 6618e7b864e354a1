"""Rotating the data key: everything sealed under the old key stays readable while the
old key is configured as previous, `hearth keys reseal` moves it all to the new key, and
afterwards the new key alone opens every household, series link, session record, chat
message, consent entry and attendance track. Both backends, a real server each step."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.appkeys import LIVE, ROOMS, STORE
from server.cli import main
from server.reseal import reseal_everything
from server.sealedstore import SealedStore, SealedValueError
from signaling.chat import ChatLog
from testkit.live import Live, accept_consent, start_live
from testkit.servers import RedisServer


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


async def chat_of(live: Live, sid: str) -> list[Any]:
    scopes = await live.app[STORE].set_members(f"chat-scopes:{sid}")
    return [m for scope in sorted(scopes) for m in await live.app[LIVE].chat.history(sid, scope)]


async def everything_reads(live: Live, seeded: dict[str, Any]) -> dict[str, Any]:
    """What a clinic reads back: each kind of sealed value, opened."""
    dr = await live.therapist(admin=True)
    home = await dr.api("GET", f"/api/households/{seeded['hid']}")
    link = await dr.api("GET", f"/api/series/{seeded['series']}/members/{seeded['mid']}/link")
    session = await live.app[ROOMS].get(seeded["sid"])
    assert session is not None
    records = live.app[LIVE].records
    chat = await chat_of(live, seeded["sid"])
    ledger, unreadable = await records.consent.entries()
    track = await records.attendance.track(seeded["sid"], seeded["pid"])
    notes = await dr.api("GET", seeded["notes"])
    panel = await dr.api("GET", seeded["safety"])
    return {"members": [m["name"] for m in home["members"]], "link": link["link"],
            "notes": [n["text"] for n in notes],
            "places": [(p["location"] or {}).get("place") for p in panel["people"]],
            "names": sorted(p.display_name for p in session.participants.values()),
            "chat": [m.text for m in chat], "ledger": len(ledger), "unreadable": unreadable,
            "track": track is not None}


async def seed(live: Live) -> dict[str, Any]:
    dr = await live.therapist(admin=True)
    home = await dr.api("POST", "/api/households", {"label": "Okafor", "members": [
        {"name": "Adaeze Okafor", "role": "client"}]})
    mid = home["members"][0]["id"]
    series = await dr.api("POST", "/api/series", {
        "household_id": home["id"], "weekdays": [1], "start_time": "18:00",
        "first_date": "2027-01-05", "count": 2})
    await dr.api("POST", f"/api/series/{series['id']}/members/{mid}/link")
    sid = await dr.session("Okafor Tuesday")
    pid, token = await dr.add(sid, "Chidi Okafor", "client", consent=False)
    await accept_consent(live.url, token)
    therapist = await live.client(await dr.join_token(sid))
    await therapist.ok("join", {"consent_version": "v"})
    chidi = await live.client(token)
    await chidi.ok("join", {"consent_version": "v"})
    await therapist.ok("admit", {"participant_id": pid})
    await chidi.wait(lambda c: c.state["me"]["status"] == "admitted", "admitted")
    await chidi.ok("join", {"consent_version": "v"})
    await chidi.ok("chat_send", {"scope": "room", "text": "sealed under the old key"})
    note = await dr.api("POST", f"/api/clinical/sessions/{sid}/notes", {"text": "A note"})
    await dr.api("PUT", f"/api/clinical/sessions/{sid}/notes/{note['id']}", {"shared": True})
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http, \
            http.put(f"{live.url}/api/clinical/location",
                     json={"place": "At home", "region": "Oregon"}) as r:
        assert r.status == 200, await r.text()
    return {"hid": home["id"], "mid": mid, "series": series["id"], "sid": sid, "pid": pid,
            "notes": f"/api/clinical/sessions/{sid}/notes",
            "safety": f"/api/clinical/sessions/{sid}/safety"}


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_rotate_then_reseal_then_drop_the_old_key(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = None
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.fresh_url()
    old, new = new_key(), new_key()

    live = await start_live(tmp_path, backend, url, data_key=old)
    try:
        seeded = await seed(live)
        before = await everything_reads(live, seeded)
    finally:
        await live.close()
    assert before["chat"] == ["sealed under the old key"]
    assert before["places"] == ["At home"]
    assert before["notes"] == ["A note"]  # shared, so the clinic admin reads it
    assert before["track"]
    assert before["ledger"] >= 1

    # The new key seals, the old one still opens: nothing is lost mid-rotation.
    live = await start_live(tmp_path, backend, url, data_key=new, data_key_previous=old)
    try:
        assert await everything_reads(live, seeded) == before
        counts = await reseal_everything(live.app)
    finally:
        await live.close()
    assert counts["households"] >= 1
    assert counts["series_links"] == 1
    assert counts["session_records"] >= 2
    assert counts["chat_messages"] == 1
    assert counts["notes"] == 1
    assert counts["locations"] == 1
    assert counts["consent_entries"] >= 2
    assert counts["attendance_tracks"] >= 1

    # The old key is gone: everything still opens with the new key alone, and the old
    # key alone opens none of it any more (so the reseal really rewrote it).
    live = await start_live(tmp_path, backend, url, data_key=new)
    try:
        assert await everything_reads(live, seeded) == before
        stale = ChatLog(live.app[STORE], AESGCM(base64.b64decode(old)))
        scopes = await live.app[STORE].set_members(f"chat-scopes:{seeded['sid']}")
        assert scopes
        assert [m for s in scopes for m in await stale.history(seeded["sid"], s)] == []
        backend_store = live.app[STORE].inner.inner  # under the watching and sealing
        stale_store = SealedStore(backend_store, AESGCM(base64.b64decode(old)))
        with pytest.raises(SealedValueError):
            await stale_store.get(f"room:{seeded['sid']}")
    finally:
        await live.close()


def test_cli_reseal_reports_what_it_rewrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEARTH_DATA_KEY", new_key())
    monkeypatch.setenv("HEARTH_DATA_KEY_PREVIOUS", new_key())
    assert main(["keys", "reseal"]) == 0
    out = capsys.readouterr().out
    assert "resealed under the current data key: 0 households" in out
    assert "HEARTH_DATA_KEY_PREVIOUS can now be removed" in out
    monkeypatch.setenv("HEARTH_DATA_KEY_PREVIOUS", "not base64!")
    assert main(["keys", "reseal"]) != 0
    assert "HEARTH_DATA_KEY_PREVIOUS: not valid base64" in capsys.readouterr().err
