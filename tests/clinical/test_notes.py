"""Private notes: written over REST by clinicians, sealed at rest, never on a socket.

Every event every client socket receives is recorded while notes are written, read,
shared and exported; no recorded event, and nothing at rest (the SQLite file and its
journal, or every Redis key and value), contains the canary text.
"""

from __future__ import annotations

import json
import uuid

import aiohttp

from testkit.live import Live
from tests.clinical.helpers import at_rest, audit_actions, family, rest

NOTES = "/api/clinical/sessions/{sid}/notes"


async def test_notes_never_reach_a_socket_nor_rest_in_the_clear(live: Live) -> None:
    fam = await family(live)
    canary = f"canary-{uuid.uuid4().hex}"
    path = NOTES.format(sid=fam.sid)
    status, made = await rest(live, fam.tokens["Dr"], "POST", path,
                              {"text": f"Alex spoke of {canary}"})
    assert status == 201, made
    note = made["ok"]
    assert note["room_name"] == "Main room"
    assert note["mine"] is True
    # Autosave: the text changes as the clinician types; then shared with the co-therapist.
    status, _ = await rest(live, fam.tokens["Dr"], "PUT", f"{path}/{note['id']}",
                           {"text": f"Alex spoke of {canary} twice"})
    assert status == 200
    status, _ = await rest(live, fam.tokens["Dr Co"], "POST", path,
                           {"text": f"co-therapist's own {canary}-co"})
    assert status == 201
    # The co-therapist reads only their own until the therapist shares.
    _, mine = await rest(live, fam.tokens["Dr Co"], "GET", path)
    assert [n["text"] for n in mine["ok"]] == [f"co-therapist's own {canary}-co"]
    await rest(live, fam.tokens["Dr"], "PUT", f"{path}/{note['id']}", {"shared": True})
    _, both = await rest(live, fam.tokens["Dr Co"], "GET", path)
    assert {n["text"] for n in both["ok"]} == {f"co-therapist's own {canary}-co",
                                               f"Alex spoke of {canary} twice"}
    # The co-therapist cannot change the therapist's note.
    status, refused = await rest(live, fam.tokens["Dr Co"], "PUT", f"{path}/{note['id']}",
                                 {"text": "overwritten"})
    assert status == 404
    assert refused["error"]["code"] == "not_found"
    status, text = await rest(live, fam.tokens["Dr"], "GET", f"{path}/export")
    assert status == 200
    assert canary in text
    # Clients (and a guardian's child) are refused, with a code, from their own links.
    for name in ("Alex", "Blair", "Kit"):
        status, body = await rest(live, fam.tokens[name], "GET", path)
        assert status == 404
        assert body["error"]["code"] == "not_found"
        status, body = await rest(live, fam.tokens[name], "GET", f"{path}/export")
        assert status == 404
    # Some traffic after the notes, so a late leak would have had its chance.
    await fam.clients["Alex"].ok("hand", {"raised": True})
    await fam.clients["Kit"].wait(lambda c: any(
        p.get("hand_raised") for p in c.state["participants"]), "hand seen")
    for name, events in fam.seen.items():
        assert events, f"{name} recorded nothing"
        assert canary not in json.dumps(events), f"{name}'s socket carried a note"
    stored = await at_rest(live)
    assert fam.sid.encode() in stored, "the dump does not read the store"
    assert canary.encode() not in stored
    actions = [e["action"] for e in await audit_actions(live)]
    assert actions.count("notes_read") >= 2
    assert "notes_export" in actions
    assert "note_shared" in actions
    # A clinician removed from the session reads nothing more with their link.
    await fam.clients["Dr"].ok("remove", {"participant_id": fam.ids["Dr Co"]})
    status, gone = await rest(live, fam.tokens["Dr Co"], "GET", path)
    assert status in (401, 404), gone


async def test_progress_note_export(live: Live) -> None:
    fam = await family(live, (("Alex", "client", None), ("Blair", "partner", None)))
    path = NOTES.format(sid=fam.sid)
    for text in ("Opened with the week's goals", "Blair asked for # a heading\n- and a list"):
        status, _ = await rest(live, fam.tokens["Dr"], "POST", path, {"text": text})
        assert status == 201
    status, md = await rest(live, fam.tokens["Dr"], "GET", f"{path}/export")
    assert status == 200
    lines = md.splitlines()
    assert lines[0] == "# Progress note (draft): Family session"
    assert any(line.startswith("- Date: ") and line.endswith(" UTC") for line in lines)
    assert any(line.startswith("- Duration: ") and line.endswith(" minutes") for line in lines)
    attendees = lines[lines.index("## Attendees") + 2:lines.index("## Phases") - 1]
    assert {a.split(" (")[0] for a in attendees} >= {"- Alex", "- Blair"}
    assert all(a.endswith(" min") for a in attendees)
    assert "- No session plan was followed." in lines
    assert "### Room: Main room" in lines
    assert any(line.endswith("Opened with the week's goals") for line in lines)
    # A note's text cannot start a heading or a list item of its own.
    assert not any(line.startswith(("# a heading", "- and a list")) for line in lines)
    assert any("\\# a heading - and a list" in line for line in lines)
    status, as_json = await rest(live, fam.tokens["Dr"], "GET", f"{path}/export?format=json")
    assert status == 200
    assert as_json["ok"]["markdown"] == md
    status, bad = await rest(live, fam.tokens["Dr"], "GET", f"{path}/export?format=pdf")
    assert status == 400
    assert bad["error"]["code"] == "invalid"
    assert sum(e["action"] == "notes_export" for e in await audit_actions(live)) == 2


async def test_printable_progress_note_escapes_everything(live: Live) -> None:
    """The page to print or save as PDF: served under the strict CSP, a note's text
    shown as text (never markup), its line breaks kept."""
    fam = await family(live, (("Alex", "client", None),))
    path = NOTES.format(sid=fam.sid)
    canary = "<script>alert('canary')</script> & <b>bold</b>\nsecond line"
    status, _ = await rest(live, fam.tokens["Dr"], "POST", path, {"text": canary})
    assert status == 201
    async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {fam.tokens['Dr']}"}) as http, \
            http.get(f"{live.url}{path}/export?format=html") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"
        page = await r.text()
    assert "<h1>Progress note (draft): Family session</h1>" in page
    assert "<script>alert" not in page
    assert "<b>bold" not in page
    assert ("&lt;script&gt;alert(&#x27;canary&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
            "<br>second line") in page
    assert '<script type="module" src="/static/print-note.js"></script>' in page
    assert page.count("<script") == 1  # the one module, no inline script
    assert sum(e["action"] == "notes_export" for e in await audit_actions(live)) == 1


async def test_note_input_is_validated(live: Live) -> None:
    fam = await family(live, (("Alex", "client", None),))
    path = NOTES.format(sid=fam.sid)
    for body in ({}, {"text": "x" * 20001}, {"text": "ok", "author": "someone"}, []):
        status, answer = await rest(live, fam.tokens["Dr"], "POST", path, body)
        assert status == 400, answer
        assert answer["error"]["code"]
        assert answer["error"]["message"]
    status, answer = await rest(live, fam.tokens["Dr"], "PUT", f"{path}/nope", {"text": "x"})
    assert status == 404
