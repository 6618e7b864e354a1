"""The discreet check-in: only the clinicians hear of it.

The same scripted session runs twice on one server, once with partner A's check-in
and once without. Partner B's and the child's recorded events (every event name and
payload) are identical between the runs once ids are replaced by names and times and
versions are zeroed; the clinicians get the cue.
"""

from __future__ import annotations

from typing import Any

from testkit.live import Live
from tests.clinical.helpers import Family, audit_actions, family

TIMES = {"ts", "at", "since", "created", "knocked_at", "disconnected_at", "deadline",
         "closing_deadline", "now", "version", "start", "end", "remaining"}


def normalized(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {normalized(k, names): 0 if k in TIMES else normalized(v, names)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v, names) for v in value]
    if isinstance(value, str):
        for an_id, name in names.items():
            value = value.replace(an_id, name)
        return value
    if isinstance(value, float):
        return 0
    return value


async def script(live: Live, *, signal: bool) -> tuple[Family, dict[str, Any]]:
    fam = await family(live)
    alex, blair, kit = (fam.clients[n] for n in ("Alex", "Blair", "Kit"))
    await alex.ok("hand", {"raised": True})
    await kit.wait(lambda c: any(p.get("hand_raised") for p in c.state["participants"]),
                   "Alex's hand")
    answer: dict[str, Any] = {}
    if signal:
        answer = await alex.call("checkin", {})
        for name in ("Dr", "Dr Co"):
            await fam.clients[name].wait(lambda c: c.received.get("checkin"), f"{name}'s cue")
    await alex.ok("hand", {"raised": False})
    await blair.ok("hand", {"raised": True})
    for c in (blair, kit):
        await c.wait(lambda c: [p["name"] for p in c.state["participants"]
                                if p.get("hand_raised")] == ["Blair"], "Blair's hand")
    return fam, answer


async def test_only_clinicians_see_a_check_in(live: Live) -> None:
    quiet, _ = await script(live, signal=False)
    loud, answer = await script(live, signal=True)
    assert answer == {"ok": {"sent": True}}
    for name in ("Dr", "Dr Co"):
        cues = loud.clients[name].received["checkin"]
        assert [(c["participant_id"], c["name"]) for c in cues] == [(loud.ids["Alex"], "Alex")]
    for name in ("Blair", "Kit"):
        runs = []
        for fam in (quiet, loud):
            names = {p["id"]: p["name"] for p in fam.clients["Dr"].state["participants"]}
            names[fam.sid] = "SESSION"
            runs.append(normalized(fam.seen[name], names))
        assert runs[0] == runs[1], f"{name}'s events differ when Alex checks in"
        assert "checkin" not in {event for event, _ in loud.seen[name]}
    entries = [e for e in await audit_actions(live) if e["action"] == "checkin"]
    assert [(e["session"], e["actor"]) for e in entries] == [(loud.sid, loud.ids["Alex"])]


async def test_check_in_is_validated_limited_and_for_clients_only(live: Live) -> None:
    fam = await family(live, (("Alex", "client", None), ("Blair", "partner", None)))
    alex = fam.clients["Alex"]
    assert await alex.error("checkin", {"to": "everyone"}) == "invalid"
    await alex.ok("checkin")
    again = await alex.call("checkin")
    assert again["error"]["code"] == "too_soon"
    assert "already sent" in again["error"]["message"]
    assert await fam.clients["Dr"].error("checkin") == "forbidden"
    await fam.clients["Dr"].wait(lambda c: len(c.received.get("checkin", [])) == 1, "one cue")
    assert fam.clients["Blair"].received.get("checkin") is None
