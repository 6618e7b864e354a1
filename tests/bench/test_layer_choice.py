"""How the relay benchmark gives every simulcast viewer the same layer on both SFUs:
the tile sizes a Hearth viewer reports, the substream a Janus viewer asks for, and the
wait until the viewers receive it. No network."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import relay, simulcast
from bench.janus_adapter import JanusError, substream_request
from media.config import RelayConfig
from media.layers import layer_frames, size_index
from signaling.media import ViewPayload

LAYOUT: dict[str, dict[str, Any]] = {
    "0": {"kind": "audio", "publisher_id": "p1", "source": "mic"},
    "1": {"kind": "video", "publisher_id": "p1", "source": "camera"},
    "2": {"kind": "audio", "publisher_id": "p2", "source": "mic"},
    "3": {"kind": "video", "publisher_id": "p2", "source": "camera"},
    "4": {"kind": "video", "publisher_id": None},  # a slot no publisher is bound to
}


@pytest.mark.parametrize("rid", simulcast.RIDS)
def test_the_tile_size_reported_is_one_hearth_gives_exactly_that_layer(rid: str) -> None:
    """Hearth's size rule: the smallest layer that covers the tile. A tile of the
    layer's own frame is covered by it and by no lower layer."""
    frames = list(layer_frames(RelayConfig().layers).values())
    assert size_index(simulcast.tile_size(rid), frames) == simulcast.RIDS.index(rid)


def test_the_top_tile_is_720p_and_the_lowest_180p() -> None:
    assert simulcast.tile_size("f") == (1280, 720)
    assert simulcast.tile_size("q") == (320, 180)


def test_every_bound_video_slot_is_reported_and_nothing_else() -> None:
    sizes = simulcast.view_sizes(LAYOUT, "f")
    assert sizes == {"1": [1280, 720], "3": [1280, 720]}
    assert simulcast.view_sizes(LAYOUT, "q") == {"1": [320, 180], "3": [320, 180]}
    assert simulcast.view_sizes({}, "f") == {}


def test_the_view_message_is_one_the_server_accepts() -> None:
    """The payload the server validates ``media_view`` with: mids as the relay numbers
    its slots, whole pixel sizes."""
    body = ViewPayload.model_validate({"sizes": simulcast.view_sizes(LAYOUT, "f")})
    assert body.view() == {"1": (1280, 720), "3": (1280, 720)}


def test_janus_substreams_run_low_to_high() -> None:
    assert [simulcast.substream(rid) for rid in ("q", "h", "f")] == [0, 1, 2]
    with pytest.raises(ValueError, match="no simulcast layer 'x'"):
        simulcast.substream("x")


def test_janus_configure_names_every_video_mline_of_the_subscription() -> None:
    attached = {"videoroom": "attached", "streams": [
        {"type": "audio", "mid": "0", "feed_id": 7},
        {"type": "video", "mid": "1", "feed_id": 7},
        {"type": "audio", "mid": "2", "feed_id": 8},
        {"type": "video", "mid": "3", "feed_id": 8},
    ]}
    assert substream_request(attached, 2) == {
        "request": "configure",
        "streams": [{"mid": "1", "substream": 2}, {"mid": "3", "substream": 2}]}
    with pytest.raises(JanusError, match="no video"):
        substream_request({"streams": [{"type": "audio", "mid": "0"}]}, 2)


def test_layer_and_settle_flags() -> None:
    args = relay.parse_args(["--sfu", "hearth-simulcast"])
    assert (args.layer, args.settle) == ("f", 120.0)
    args = relay.parse_args(["--layer", "q", "--settle", "0"])
    assert (args.layer, args.settle) == ("q", 0.0)
    with pytest.raises(SystemExit):
        relay.parse_args(["--layer", "x"])
    with pytest.raises(SystemExit):
        relay.parse_args(["--settle", "1000"])


# --- the layer each slot ended on, and the wait for it ---------------------------------

TICK = 1 / 30


def _part(now: float, viewer_rid: str) -> dict[str, Any]:
    """One publisher sending q and f for the last 2 s; one viewer receiving
    ``viewer_rid`` of it."""
    sent, got = [], []
    for i in range(60):
        t = now - 2 + i * TICK
        for base, rid in ((1000, "q"), (3000, "f")):
            sent.append((0, rid, base + i, t))
            if rid == viewer_rid:
                got.append((0, base + i, t + 0.002))
    return {"sent_video": sent, "subscribers": {0: {"video": got}}}


def test_join_counts_slots_by_the_layer_they_ended_on() -> None:
    """A slot switched from q to f: mostly q over the window, but it ended on f."""
    now = 100.0
    q, f = _part(now, "q"), _part(now, "f")
    switch = now - 0.5
    video = ([v for v in q["subscribers"][0]["video"] if v[2] < switch]
             + [v for v in f["subscribers"][0]["video"] if v[2] >= switch])
    out = relay.join_video(
        [{"sent_video": q["sent_video"], "subscribers": {0: {"video": video}}}],
        now - 2, now)
    assert out["layers"] == {"q": 1}
    assert out["ended"] == {"f": 1}


class FakeHandle:
    """A worker whose viewer receives q for its first ``switch_after`` collects, then f."""

    def __init__(self, switch_after: int) -> None:
        self.calls = 0
        self.switch_after = switch_after

    async def call(self, command: str, *args: Any, **_: Any) -> Any:
        assert command == "collect"
        self.calls += 1
        t1 = float(args[1])
        return _part(t1, "f" if self.calls > self.switch_after else "q")


def test_settle_waits_until_every_slot_receives_the_layer_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "SETTLE_EVERY_S", 0.01)
    handle = FakeHandle(switch_after=3)
    waited, ended = asyncio.run(relay.settle([handle], "f", 5.0))  # type: ignore[list-item]
    assert ended == {"f": 1}
    assert handle.calls == 4
    assert waited < 5.0


def test_settle_gives_up_at_its_limit_and_says_what_the_slots_got(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "SETTLE_EVERY_S", 0.01)
    handle = FakeHandle(switch_after=10**6)
    waited, ended = asyncio.run(relay.settle([handle], "f", 0.05))  # type: ignore[list-item]
    assert ended == {"q": 1}
    assert 0.05 <= waited < 1.0


def test_the_layer_column_says_what_was_asked_and_received() -> None:
    row = {"layer_asked": "f", "video_layers": "f: 28, h: 2", "video_layers_end": "f: 30",
           "settle_s_max": 41.2}
    assert relay.layer_cell(row) == "f asked: f: 28, h: 2; at end f: 30 (settled in ≤41 s)"
    assert relay.layer_cell({"video_layers": "single: 30",
                             "video_layers_end": "single: 30"}) == "single: 30"
    assert relay.layer_cell({"video_layers": None}) == "—"


def test_a_ratio_of_runs_on_different_layers_says_so() -> None:
    hearth = {"layer_asked": "f", "video_layers": "f: 7, h: 23"}
    janus = {"layer_asked": "f", "video_layers": "f: 30"}
    assert relay.unlike(hearth, janus) == (
        " (not like for like: layers received f: 7, h: 23 vs f: 30)")
    assert relay.unlike(janus, dict(janus)) == ""
    assert relay.unlike(hearth, {"video_layers": "single: 30"}) == ""  # not both simulcast
