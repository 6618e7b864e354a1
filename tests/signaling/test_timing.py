"""A breakout switch reports where its time went, stage by stage, as seconds since the
command arrived: in path order, once per timed command, under stage names only."""

from __future__ import annotations

import re

from testkit.live import Live, admitted

STAGE = re.compile(r'^hearth_breakout_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$')


async def stages(live: Live) -> dict[str, tuple[float, float]]:
    """stage -> (count, sum) from /metrics (read on loopback)."""
    async with live.http.get(f"{live.url}/metrics") as r:
        text = await r.text()
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = STAGE.match(line)
        if m:
            found.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    return {stage: (v["count"], v["sum"]) for stage, v in found.items()}


async def test_a_breakout_open_reports_its_stages_in_path_order(live: Live) -> None:
    room = await admitted(live, ("Alex", "client"), ("Sam", "partner"))
    t = room.therapist
    await t.ok("breakouts_create", {"names": ["One", "Two"]})
    await t.ok("breakouts_assign", {"participant_id": room.ids["Alex"], "room_id": "b1"})
    await t.ok("breakouts_assign", {"participant_id": room.ids["Sam"], "room_id": "b2"})
    await t.ok("lock", {"locked": True})
    assert await stages(live) == {}  # creating, assigning and locking are not timed
    await t.ok("breakouts_open", {})
    after = await stages(live)
    # No media was started here, so the relay has no one to re-point: the other stages.
    path = ["committed", "snapshot", "acked"]
    assert {s: after[s][0] for s in path} == dict.fromkeys(path, 1.0), after
    times = [after[s][1] for s in path]
    assert times == sorted(times), after
    await t.ok("breakouts_close", {"grace_seconds": 0})
    assert (await stages(live))["acked"][0] == 2.0
