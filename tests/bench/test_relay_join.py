"""How the relay benchmark joins sent and received video and what it expects of each
viewer: pure functions, no network."""

from __future__ import annotations

from typing import Any

from bench.relay import join_video, judge

T0, T1 = 100.0, 110.0
TICK = 1 / 30


def sends(publisher: int, rid: str, key_base: int, start: float = T0 - 0.5,
          until: float = T1, loop: int = 0) -> list[tuple[int, str, int, float]]:
    """One packet per tick; with ``loop`` the data repeats every ``loop`` packets, as a
    replayed clip's does."""
    out = []
    t, i = start, 0
    while t < until:
        out.append((publisher, rid, key_base + (i % loop if loop else i), t))
        t += TICK
        i += 1
    return out


def received(sent: list[tuple[int, str, int, float]], delay: float = 0.002,
             skip: set[float] | None = None) -> list[tuple[int, int, float]]:
    return [(p, k, t + delay) for p, _, k, t in sent
            if T0 <= t + delay < T1 and t not in (skip or set())]


def part(sent: list[Any], subs: dict[int, list[Any]]) -> dict[str, Any]:
    return {"sent_video": sent, "subscribers": {j: {"video": v} for j, v in subs.items()}}


def in_window(sent: list[tuple[int, str, int, float]]) -> int:
    return sum(1 for *_, t in sent if T0 <= t < T1)


def test_single_layer_every_packet_to_every_viewer() -> None:
    a, b = sends(0, "", 1000), sends(1, "", 5000)
    subs = {0: received(a) + received(b), 1: received(a) + received(b)}
    out = join_video([part(a + b, subs)], T0, T1)
    assert out["loss"] == 0.0
    assert out["expected"] == 2 * (in_window(a) + in_window(b))
    assert out["layers"] == {"": 4}
    assert out["unmatched"] == 0
    assert len(out["transit"]) == out["received"]
    assert all(abs(v - 2.0) < 1e-6 for v in out["transit"])


def test_a_looping_clip_is_joined_to_the_latest_send_of_its_data() -> None:
    """The replayed clip repeats its data every 90 frames: each receipt joins the send
    just before it, so nothing is dropped as a duplicate and nothing counts twice."""
    a = sends(0, "", 1000, loop=90)
    out = join_video([part(a, {0: received(a)})], T0, T1)
    assert out["loss"] == 0.0
    assert out["unmatched"] == 0
    assert len(out["transit"]) == in_window(a)
    assert max(out["transit"]) < 3
    lost = a[len(a) // 2][3]
    out = join_video([part(a, {0: received(a, skip={lost})})], T0, T1)
    assert out["loss"] is not None
    assert out["loss"] > 0


def test_simulcast_expects_only_the_layer_each_viewer_receives() -> None:
    """Three layers are sent; viewer 0 gets q, viewer 1 gets f. Expected is q + f, not
    three layers for each viewer (what counting every sent packet gave), and there is
    no loss."""
    q, h, f = sends(0, "q", 1000), sends(0, "h", 2000), sends(0, "f", 3000)
    out = join_video([part(q + h + f, {0: received(q), 1: received(f)})], T0, T1)
    assert out["loss"] == 0.0
    assert out["expected"] == in_window(q) + in_window(f)
    assert out["layers"] == {"f": 1, "q": 1}


def test_a_lost_packet_of_the_received_layer_is_loss() -> None:
    q, f = sends(0, "q", 1000), sends(0, "f", 3000)
    lost = q[100][3]
    out = join_video([part(q + f, {0: received(q, skip={lost}), 1: received(f)})], T0, T1)
    assert out["loss"] is not None
    assert 0 < out["loss"] < 0.01
    run: dict[str, Any] = {"loss": out["loss"]}
    judge(run)
    assert "video loss" in run["rejected"]


def test_a_viewer_slot_without_video_is_all_lost_never_expected_to_be_empty() -> None:
    """A tile paused for bandwidth receives nothing: that is no video, not no loss."""
    q, f = sends(0, "q", 1000), sends(0, "f", 3000)
    out = join_video([part(q + f, {0: received(q), 1: []})], T0, T1)
    assert out["layers"] == {"none": 1, "q": 1}
    assert out["loss"] is not None
    assert 0.45 < out["loss"] < 0.55
    assert out["expected"] == 2 * in_window(q)


def test_a_layer_switch_expects_each_layer_from_its_first_packet() -> None:
    """Switched from q to h at a keyframe 4 s into the window: q is expected until
    then, h from then on; the h packets before the switch are not."""
    q, h = sends(0, "q", 1000), sends(0, "h", 2000)
    switch = T0 + 4
    got = ([r for r in received(q) if r[2] - 0.002 < switch]
           + [r for r in received(h) if r[2] - 0.002 >= switch])
    out = join_video([part(q + h, {0: got})], T0, T1)
    assert out["loss"] == 0.0
    assert out["expected"] == len(got)
    # the same switch with the last q packet before it missing is loss
    last_q = max(t for *_, t in q if t < switch)
    got = [r for r in got if abs(r[2] - 0.002 - last_q) > 1e-9]
    out = join_video([part(q + h, {0: got})], T0, T1)
    assert out["loss"] is not None
    assert out["loss"] > 0


def test_receipts_are_joined_per_publisher() -> None:
    """Two publishers replay the same clip: a receipt joins its own publisher's send,
    so one publisher's loss is not hidden by the other's copy of the data."""
    a, b = sends(0, "", 1000, loop=90), sends(1, "", 1000, loop=90, start=T0 - 0.49)
    lost = b[150][3]
    out = join_video([part(a + b, {0: received(a) + received(b, skip={lost})})], T0, T1)
    assert out["loss"] is not None
    assert out["loss"] > 0
    assert out["unmatched"] == 0
