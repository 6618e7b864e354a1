"""The layer policy: size, cap, budget sharing, hysteresis table, dynacast (pure)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from media.layers import (
    DYNACAST_DELAY,
    STEP_SLACK,
    TRANSITIONS,
    Action,
    Demand,
    Dynacast,
    Hold,
    Phase,
    Policy,
    Trigger,
    allocate,
    audio_threshold,
    available,
    cap_index,
    classify,
    cost,
    cost_of,
    decide,
    demand,
    layer_frames,
    needed,
    next_step,
    size_index,
    start,
    step,
    targets,
)

LAYERS = (("q", 4.0, 150_000), ("h", 2.0, 500_000), ("f", 1.0, 1_000_000))
FRAMES = layer_frames(LAYERS)
RIDS = ["q", "h", "f"]
COSTS = (150_000, 500_000, 1_000_000)
#: a tile that deserves the top layer
BIG = (1280, 720)
POLICY = Policy()


def tile(key: str, size: tuple[int, int] = BIG, cap: str = "f",
         costs: tuple[int, ...] = COSTS) -> Demand:
    return demand(key, size, RIDS, costs, FRAMES, cap)


# --- one slot's limits ---------------------------------------------------------------

def test_nominal_frames_follow_the_scale_down() -> None:
    assert FRAMES == {"q": (320, 180), "h": (640, 360), "f": (1280, 720)}


@pytest.mark.parametrize(("size", "index"), [
    ((160, 90), 0),      # a thumbnail: 180p
    ((320, 180), 0),
    ((321, 181), 1),
    ((640, 360), 1),
    ((641, 361), 2),
    ((1920, 1080), 2),   # larger than the top layer: the top layer
    ((0, 0), 0),         # not rendered: the lowest
    ((1920, 200), 1),    # a wide strip: 180p would be upscaled to 200 px high
    ((200, 1000), 0),    # a tall tile: the frame is 200 px wide, 180p covers it
])
def test_the_smallest_layer_that_covers_the_tile(size: tuple[int, int], index: int) -> None:
    assert size_index(size, [FRAMES[r] for r in RIDS]) == index


def test_the_clinic_cap() -> None:
    assert cap_index(RIDS, "f") == 2
    assert cap_index(RIDS, "h") == 1
    assert cap_index(RIDS, "q") == 0
    assert cap_index([""], "h") == 0  # a single layer is its own top


def test_a_slot_wants_the_lowest_of_size_and_cap() -> None:
    assert tile("a", (160, 90)).top == 0
    assert tile("a", BIG, cap="h").top == 1
    assert tile("a", (640, 360), cap="f").top == 1
    screen = demand("s", BIG, [""], (800_000,), FRAMES, "q")
    assert (screen.top, screen.costs) == (0, (800_000,))


# --- sharing the budget --------------------------------------------------------------

def test_a_slot_never_wants_more_than_the_highest_available_layer() -> None:
    d = demand("1", (1280, 720), ["q", "h", "f"], COSTS, FRAMES, "f", highest=1)
    assert d.top == 1
    assert demand("1", (1280, 720), ["q", "h", "f"], COSTS, FRAMES, "f").top == 2


@pytest.mark.parametrize(("active", "progress_at", "asked_at", "expected"), [
    (False, 0.0, 0.0, True),  # paused by the relay: comes when asked
    (True, 99.0, 0.0, True),  # its packets arrive
    (True, 0.0, 98.0, True),  # asked for 2 s ago: may still come
    (True, 0.0, 90.0, False),  # asked for 10 s ago and never came
    (True, 95.0, 90.0, False),  # came, then stopped 5 s ago
])
def test_which_layers_are_available(active: bool, progress_at: float, asked_at: float,
                                    expected: bool) -> None:
    assert available(active, progress_at, asked_at, now=100.0) is expected


def test_tile_160x90_gets_180p_whatever_the_budget() -> None:
    assert allocate([tile("a", (160, 90))], 10_000_000) == {"a": 0}


def test_cap_h_keeps_a_large_tile_at_360p() -> None:
    assert allocate([tile("a", BIG, cap="h")], 10_000_000) == {"a": 1}


def test_300_kbps_viewer_with_three_publishers() -> None:
    """300 kbps, 3 x 40 kbps of audio: 180 kbps for video. At the configured 150 kbps
    per 180p layer only the largest tile fits and the smaller two pause; with the 180p
    layers measured at 55 kbps all three are seen at 180p."""
    budget = 300_000 - 3 * 40_000
    sizes = {"a": (640, 360), "b": (480, 270), "c": (320, 180)}
    tiles = [tile(k, s) for k, s in sizes.items()]
    assert allocate(tiles, budget) == {"a": 0, "b": None, "c": None}
    measured = [tile(k, s, costs=(55_000, 180_000, 400_000)) for k, s in sizes.items()]
    assert allocate(measured, budget) == {"a": 0, "b": 0, "c": 0}


def test_1_mbps_viewer_with_five_publishers_sees_everyone() -> None:
    budget = 1_000_000 - 5 * 40_000
    tiles = [tile(k) for k in "abcde"]
    assert allocate(tiles, budget) == dict.fromkeys("abcde", 0)
    assert cost(allocate(tiles, budget), tiles) == 750_000


def test_the_largest_tiles_are_upgraded_first() -> None:
    tiles = [tile("small", (480, 270)), tile("large", BIG), tile("mid", (960, 540))]
    # 450k for the lowest of all three, 350k left: one step, the largest tile's
    assert allocate(tiles, 800_000) == {"small": 0, "large": 1, "mid": 0}
    # 1.5 M: two steps (700k) -> large and mid; the next step (large to f, 500k) does
    # not fit in what is left (350k), small's (350k) does
    assert allocate(tiles, 1_500_000) == {"small": 1, "large": 1, "mid": 1}
    assert allocate(tiles, 2_000_000) == {"small": 1, "large": 2, "mid": 1}


def test_upgrades_go_one_layer_a_round() -> None:
    """Two equal tiles and room for 1 M of video: both at 360p, not one at 720p and one
    at 180p."""
    assert allocate([tile("a"), tile("b")], 1_000_000) == {"a": 1, "b": 1}


def test_a_paused_tile_that_still_fits_is_seen() -> None:
    """Pausing the smallest first can free room for a cheaper one: it is seen."""
    small = tile("small", (480, 270), costs=(60_000, 200_000, 500_000))
    assert allocate([small, tile("big")], 100_000) == {"small": 0, "big": None}


def test_nothing_fits_everything_pauses() -> None:
    assert allocate([tile("a"), tile("b")], 100_000) == {"a": None, "b": None}
    assert allocate([], 100_000) == {}


def test_probing_caps_every_slot_at_the_lowest_layer() -> None:
    assert allocate([tile("a"), tile("b")], 5_000_000, top=0) == {"a": 0, "b": 0}


def test_cost_of_what_a_budget_buys() -> None:
    cost_at = cost_of([tile("a")])
    assert [cost_at(b, None) for b in (100_000, 200_000, 600_000, 2_000_000)] == \
        [0, 150_000, 500_000, 1_000_000]
    assert cost_at(2_000_000, 0) == 150_000


# --- the hysteresis table ------------------------------------------------------------
# One tile of 720p: what a budget buys is 0 under 150k, 150k, 500k, or 1M from 1M.
ONE = [tile("a")]
COST_AT = cost_of(ONE)
NOW = 100.0
H = POLICY.upgrade_hold
TST = POLICY.test_for

#: (phase, trigger) -> (state before, now, budget) that makes exactly that trigger
SCENARIOS: dict[tuple[Phase, Trigger], tuple[Hold, float, float]] = {
    (Phase.STEADY, Trigger.LOW): (Hold(Phase.STEADY, 600_000), NOW, 100_000),
    (Phase.STEADY, Trigger.DROP): (Hold(Phase.STEADY, 1_100_000), NOW, 700_000),
    (Phase.STEADY, Trigger.ROOM): (Hold(Phase.STEADY, 600_000), NOW, 1_300_000),
    (Phase.STEADY, Trigger.FLAT): (Hold(Phase.STEADY, 600_000), NOW, 700_000),
    (Phase.HOLD_DOWN, Trigger.LOW): (Hold(Phase.HOLD_DOWN, 600_000, NOW - 1), NOW, 100_000),
    (Phase.HOLD_DOWN, Trigger.DROP): (Hold(Phase.HOLD_DOWN, 600_000, NOW - 1), NOW, 300_000),
    (Phase.HOLD_DOWN, Trigger.ROOM): (Hold(Phase.HOLD_DOWN, 600_000, NOW - 1, 1_400_000),
                                      NOW, 1_300_000),
    (Phase.HOLD_DOWN, Trigger.FLAT): (Hold(Phase.HOLD_DOWN, 600_000, NOW - 1), NOW, 900_000),
    (Phase.HOLD_DOWN, Trigger.TIME): (Hold(Phase.HOLD_DOWN, 600_000, NOW - H, 1_250_000),
                                      NOW, 1_300_000),
    (Phase.AUDIO_ONLY, Trigger.LOW): (Hold(Phase.AUDIO_ONLY, 0, NOW - 60), NOW, 100_000),
    (Phase.AUDIO_ONLY, Trigger.FLAT): (Hold(Phase.AUDIO_ONLY, 0, NOW - 1), NOW, 400_000),
    (Phase.AUDIO_ONLY, Trigger.TIME): (Hold(Phase.AUDIO_ONLY, 0, NOW - 5), NOW, 400_000),
    (Phase.PROBING, Trigger.LOW): (Hold(Phase.PROBING, 0, NOW - 1), NOW, 100_000),
    (Phase.PROBING, Trigger.FLAT): (Hold(Phase.PROBING, 0, NOW - 1), NOW, 2_000_000),
    (Phase.PROBING, Trigger.TIME): (Hold(Phase.PROBING, 0, NOW - 3), NOW, 2_000_000),
    (Phase.TESTING, Trigger.LOW): (Hold(Phase.TESTING, 600_000, NOW - 1), NOW, 100_000),
    (Phase.TESTING, Trigger.DROP): (Hold(Phase.TESTING, 600_000, NOW - 1), NOW, 300_000),
    (Phase.TESTING, Trigger.ROOM): (Hold(Phase.TESTING, 600_000, NOW - 1, 1_300_000),
                                    NOW, 1_300_000),
    (Phase.TESTING, Trigger.FLAT): (Hold(Phase.TESTING, 600_000, NOW - 1), NOW, 900_000),
    (Phase.TESTING, Trigger.TIME): (Hold(Phase.TESTING, 600_000, NOW - TST, 1_250_000),
                                    NOW, 1_300_000),
}


def test_every_transition_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("pair", list(TRANSITIONS), ids=lambda p: f"{p[0]}-{p[1]}")
def test_transition_table(pair: tuple[Phase, Trigger]) -> None:
    hold, now, budget = SCENARIOS[pair]
    assert classify(hold, now, budget, COST_AT, POLICY) is pair[1]
    assert step(hold, now, budget, COST_AT, POLICY).phase is TRANSITIONS[pair][0]


def test_classify_only_makes_pairs_in_the_table() -> None:
    """Whatever the budget, time and state, the trigger is one the table has a row
    for in that phase (a missing row would raise KeyError in ``step``)."""
    rng = random.Random(7)
    for _ in range(5000):
        hold = Hold(rng.choice(list(Phase)), rng.uniform(0, 3e6), NOW - rng.uniform(0, 60),
                    rng.uniform(0, 3e6), rng.choice([5.0, 10.0, 40.0]))
        budget = rng.uniform(0, 3e6)
        queuing, rising = rng.random() < 0.3, rng.random() < 0.3
        trigger = classify(hold, NOW, budget, COST_AT, POLICY, queuing=queuing, rising=rising)
        assert (hold.phase, trigger) in TRANSITIONS


def test_lower_grants_the_budget_over_the_margin_at_once() -> None:
    """What still got through, less the margin: a link run full loses every
    keyframe. A failed upgrade goes back to the budget itself (what carried)."""
    hold, now, budget = SCENARIOS[Phase.STEADY, Trigger.DROP]
    assert TRANSITIONS[Phase.STEADY, Trigger.DROP][1] is Action.LOWER
    assert step(hold, now, budget, COST_AT, POLICY).granted == 700_000 / POLICY.margin
    raised = replace(hold, raised_at=now - 1.0)
    assert step(raised, now, budget, COST_AT, POLICY).granted == 700_000


def test_watch_then_wait_then_raise_to_the_lowest_budget_seen_over_the_margin() -> None:
    hold, now, budget = SCENARIOS[Phase.STEADY, Trigger.ROOM]
    hold = step(hold, now, budget, COST_AT, POLICY)
    assert (hold.phase, hold.since, hold.low, hold.granted) == \
        (Phase.HOLD_DOWN, NOW, 1_300_000, 600_000)
    hold = step(hold, NOW + 1, 1_250_000, COST_AT, POLICY)  # WAIT: the lowest seen
    assert (hold.phase, hold.low) == (Phase.HOLD_DOWN, 1_250_000)
    hold = step(hold, NOW + H, 1_500_000, COST_AT, POLICY)  # TIME: TEST the step first
    assert (hold.phase, hold.granted, hold.since, hold.raised_at) == \
        (Phase.TESTING, 600_000, NOW + H, NOW + H)
    # what the step to 720p adds, and the margin the raised allocation keeps
    assert hold.pad == 1_000_000 * POLICY.margin - 500_000
    hold = step(hold, NOW + H + 1, 1_400_000, COST_AT, POLICY)  # ROOM: the test goes on
    assert hold.phase is Phase.TESTING
    hold = step(hold, NOW + H + TST, 1_500_000, COST_AT, POLICY)  # TIME: RAISE
    assert (hold.phase, hold.pad) == (Phase.STEADY, 0)
    assert hold.granted == pytest.approx(1_250_000 / POLICY.margin)
    assert hold.raised_at == NOW + H + TST


def test_the_padding_is_the_steps_price_with_the_margin() -> None:
    """What is tested is the step itself (``next_step``), even when the lowest budget
    of the hold would not buy it at this tick's prices: measured costs move, and the
    raise that follows may buy it at the next tick's. The padding carries the margin
    the raised allocation keeps too: a link that carries the step's mean rate and no
    more would stand a queue once the step is made."""
    hold = Hold(Phase.HOLD_DOWN, 600_000, NOW - H, 700_000)
    tested = step(hold, NOW, 1_300_000, COST_AT, POLICY, step_at=lambda granted: 1_100_000)
    assert (tested.phase, tested.pad) == (Phase.TESTING, 1_000_000 * POLICY.margin - 500_000)


def test_a_queue_on_the_link_is_no_room_and_fails_a_test() -> None:
    """A rising round trip says the link is full whatever the loss-based budget
    says: no hold starts or lasts, and a step under test fails at once."""
    for pair in ((Phase.STEADY, Trigger.ROOM), (Phase.HOLD_DOWN, Trigger.ROOM),
                 (Phase.HOLD_DOWN, Trigger.TIME)):
        hold, now, budget = SCENARIOS[pair]
        assert classify(hold, now, budget, COST_AT, POLICY, queuing=True) is Trigger.FLAT
    hold, now, budget = SCENARIOS[Phase.TESTING, Trigger.ROOM]
    assert classify(hold, now, budget, COST_AT, POLICY, queuing=True) is Trigger.FLAT
    failed = step(hold, now, budget, COST_AT, POLICY, queuing=True)
    assert (failed.phase, failed.granted, failed.hold_for) == (Phase.STEADY, 600_000, 2 * H)
    # one round trip up is too early to call a queue but too late to start a test:
    # the hold waits on; a test under way fails (its padding is the likely cause)
    hold, now, budget = SCENARIOS[Phase.HOLD_DOWN, Trigger.TIME]
    assert classify(hold, now, budget, COST_AT, POLICY, rising=True) is Trigger.ROOM
    assert step(hold, now, budget, COST_AT, POLICY, rising=True).phase is Phase.HOLD_DOWN
    hold, now, budget = SCENARIOS[Phase.TESTING, Trigger.ROOM]
    assert classify(hold, now, budget, COST_AT, POLICY, rising=True) is Trigger.FLAT
    hold, now, budget = SCENARIOS[Phase.STEADY, Trigger.ROOM]
    assert classify(hold, now, budget, COST_AT, POLICY, rising=True) is Trigger.ROOM


def test_a_test_whose_loss_takes_the_room_away_raises_nothing() -> None:
    """The padding made the link lose: the estimate fell under what the step needs.
    Nothing is raised, the padding stops, and the next hold lasts twice as long."""
    hold, now, budget = SCENARIOS[Phase.TESTING, Trigger.FLAT]
    hold = replace(hold, pad=500_000)
    assert TRANSITIONS[Phase.TESTING, Trigger.FLAT] == (Phase.STEADY, Action.FAIL)
    failed = step(hold, now, budget, COST_AT, POLICY)
    assert (failed.phase, failed.granted, failed.pad, failed.hold_for) == \
        (Phase.STEADY, 600_000, 0, 2 * H)
    capped = step(replace(hold, hold_for=POLICY.upgrade_hold_max), now, budget, COST_AT, POLICY)
    assert capped.hold_for == POLICY.upgrade_hold_max
    # a loss that even takes the granted layers away lowers them, as after an upgrade
    hold, now, budget = SCENARIOS[Phase.TESTING, Trigger.DROP]
    lowered = step(replace(hold, raised_at=now - 1), now, budget, COST_AT, POLICY)
    assert (lowered.phase, lowered.granted, lowered.pad) == (Phase.STEADY, budget, 0)
    # the padding's loss still in flight after the failure is the same failure: the
    # drop it makes lowers the layers but does not double the hold again
    test = replace(SCENARIOS[Phase.TESTING, Trigger.FLAT][0], raised_at=now - 1, pad=500_000)
    failed = step(test, now, 900_000, COST_AT, POLICY)
    assert (failed.phase, failed.hold_for) == (Phase.STEADY, 2 * H)
    dropped = step(failed, now + 1, 300_000, COST_AT, POLICY)
    assert (dropped.granted, dropped.hold_for) == (300_000, 2 * H)


def test_no_slot_moves_while_its_step_is_tested() -> None:
    """Through the whole test the targets are the granted ones: the viewer sees the
    new layer only once its link carried the padding."""
    v = Viewer([tile("a")], 600_000)
    assert v.run(1_300_000, H + 0.2) == {"a": 1}
    assert v.phase() is Phase.TESTING
    assert v.run(1_300_000, TST - 0.3) == {"a": 1}
    assert v.run(1_300_000, 0.4) == {"a": 2}
    assert v.phase() is Phase.STEADY


def test_probe_outcomes() -> None:
    hold, now, budget = SCENARIOS[Phase.PROBING, Trigger.TIME]
    settled = step(hold, now, budget, COST_AT, POLICY)
    assert settled == Hold(Phase.STEADY, 150_000, hold.since, 0, POLICY.backoff_start)
    failed = step(Hold(Phase.PROBING, 0, NOW - 1, 0, 10.0), NOW, 100_000, COST_AT, POLICY)
    assert (failed.phase, failed.since, failed.backoff) == (Phase.AUDIO_ONLY, NOW, 20.0)
    capped = step(Hold(Phase.PROBING, 0, NOW - 1, 0, 40.0), NOW, 100_000, COST_AT, POLICY)
    assert capped.backoff == POLICY.backoff_max


# --- the machine over time -----------------------------------------------------------

class Viewer:
    """One viewer's machine driven tick by tick, counting layer changes."""

    def __init__(self, demands: list[Demand], budget: float) -> None:
        self.demands = demands
        self.hold = start(budget, POLICY)
        self.now = 0.0
        self.targets: dict[str, int | None] = {}
        self.changes = 0

    def run(self, budget: float, seconds: float) -> dict[str, int | None]:
        for _ in range(round(seconds * 10)):
            self.now = round(self.now + 0.1, 6)
            self.hold, targets = decide(self.hold, self.now, self.demands, budget, POLICY)
            if self.targets and targets != self.targets:
                self.changes += 1
            self.targets = targets
        return self.targets

    def phase(self) -> Phase:
        return self.hold.phase


def test_a_fresh_viewer_starts_on_what_its_budget_buys() -> None:
    v = Viewer([tile("a"), tile("b")], 1_300_000)
    assert v.run(1_300_000, 0.1) == {"a": 1, "b": 1}


def test_downgrade_at_once_upgrade_after_the_hold() -> None:
    v = Viewer([tile("a")], 1_300_000)
    assert v.run(1_300_000, 1) == {"a": 2}
    assert v.run(600_000, 0.1) == {"a": 1}     # at once
    assert v.run(1_300_000, H + TST - 0.2) == {"a": 1}  # held down, then tested
    assert v.run(1_300_000, 0.5) == {"a": 2}   # held and tested: up


def test_upgrade_needs_the_margin() -> None:
    """1.1 M is above the 720p layer's cost but not by the margin: stays at 360p."""
    v = Viewer([tile("a")], 600_000)
    assert v.run(1_100_000, 30) == {"a": 1}


def test_a_dip_during_the_hold_restarts_it() -> None:
    v = Viewer([tile("a")], 600_000)
    v.run(1_300_000, H - 1)
    v.run(900_000, 0.1)  # the room went away for one tick
    assert v.run(1_300_000, H + TST - 0.2) == {"a": 1}
    assert v.run(1_300_000, 0.5) == {"a": 2}


def test_audio_only_and_its_recovery_with_back_off() -> None:
    v = Viewer([tile("a"), tile("b")], 1_300_000)
    v.run(1_300_000, 1)
    assert v.run(120_000, 0.1) == {"a": None, "b": None}  # audio first, at once
    assert v.phase() is Phase.AUDIO_ONLY
    # the link came back: video is tried again only after the back-off (5 s)
    assert v.run(700_000, POLICY.backoff_start - 0.2) == {"a": None, "b": None}
    # one tile at the lowest layer: a probe bets as little as it can
    assert v.run(700_000, 0.2) == {"a": None, "b": 0}
    assert v.phase() is Phase.PROBING
    # the probe fails: audio only again, and the next try waits twice as long
    assert v.run(100_000, 0.1) == {"a": None, "b": None}
    assert v.hold.backoff == 2 * POLICY.backoff_start
    assert v.run(700_000, 2 * POLICY.backoff_start - 0.2) == {"a": None, "b": None}
    assert v.run(700_000, 0.2) == {"a": None, "b": 0}
    # the probe holds: steady with that tile, then one step per upgrade hold
    assert v.run(1_300_000, POLICY.probe_hold) == {"a": None, "b": 0}
    assert v.phase() is Phase.STEADY
    assert v.hold.backoff == POLICY.backoff_start
    assert v.run(1_300_000, H + TST + 0.2) == {"a": 0, "b": 0}
    assert v.run(1_300_000, H + TST + 0.2) == {"a": 0, "b": 1}
    assert v.run(1_300_000, H + TST + 0.2) == {"a": 1, "b": 1}


def test_the_next_step_is_the_cheapest_single_addition() -> None:
    """From nothing: the largest tile at its lowest layer. From every tile at the
    lowest layer: the largest tile one layer up. With everything at its top:
    nothing to add. Chosen by size, so a cheaper small tile does not jump ahead."""
    a, b = tile("a"), tile("b", (320, 180))  # b's tile needs no more than 180p
    q, h = COSTS[0], COSTS[1]
    assert next_step([a, b], 0.0) == pytest.approx(q * STEP_SLACK)
    assert next_step([a, b], 2 * q) == pytest.approx((2 * q + (h - q)) * STEP_SLACK)
    top = allocate([a, b], 10_000_000)
    assert next_step([a, b], 10_000_000) == 10_000_000
    assert top == {"a": 2, "b": 0}


def test_a_raise_adds_a_layer_to_the_next_tile_instead_of_moving_one() -> None:
    """Two tiles of one size, a at 720p and b at 360p, and a grant for one 720p:
    the tile that has it keeps it. Chosen afresh, the order among equal tiles
    (here b) would take 720p from a and give it to b: two keyframes and a tile that
    visibly drops, for nothing."""
    a, b = tile("a"), tile("b")
    hold = Hold(Phase.STEADY, granted=COSTS[2] + COSTS[1])
    assert allocate([a, b], hold.granted) == {"a": 1, "b": 2}
    assert targets(hold, [a, b], 2_000_000, kept={"a": 2, "b": 1}) == {"a": 2, "b": 1}
    # a held allocation that rounds of one layer would not make (a at 720p, b still
    # at 180p: its 360p was missing) is kept as it is while nothing more is granted
    uneven = Hold(Phase.STEADY, granted=COSTS[2] + COSTS[0])
    assert allocate([a, b], uneven.granted) == {"a": 1, "b": 1}
    assert targets(uneven, [a, b], 2_000_000, kept={"a": 2, "b": 0}) == {"a": 2, "b": 0}
    # and a raise that buys both at 720p raises b, not a second move
    raised = Hold(Phase.STEADY, granted=2 * COSTS[2])
    assert targets(raised, [a, b], 2_500_000, kept={"a": 2, "b": 1}) == {"a": 2, "b": 2}


def test_while_audio_only_a_low_budget_never_probes() -> None:
    v = Viewer([tile("a")], 100_000)
    assert v.run(100_000, 60) == {"a": None}
    assert v.changes == 0


def test_a_probe_out_of_audio_only_needs_the_margin_over_the_threshold() -> None:
    """A budget just over the audio-only threshold is not room for video: probed,
    the next tick's jitter would undo it and double the back-off for nothing."""
    v = Viewer([tile("a")], 100_000)
    assert v.phase() is Phase.STEADY
    v.run(100_000, 0.1)
    assert v.phase() is Phase.AUDIO_ONLY
    assert v.run(160_000, 60) == {"a": None}  # over 150 k, under 150 k x 1.2
    assert v.hold.backoff == POLICY.backoff_start
    assert v.run(190_000, 0.1) == {"a": 0}  # the back-off is long over: at once
    assert v.phase() is Phase.PROBING


def test_no_flapping_under_a_noisy_estimate() -> None:
    """A budget that jumps +-15 % around 1.1 M every report (once a second) for two
    minutes: at most a couple of layer changes, not one per report."""
    rng = random.Random(19)
    v = Viewer([tile("a"), tile("b")], 1_100_000)
    for _ in range(120):
        v.run(1_100_000 * rng.uniform(0.85, 1.15), 1)
    assert v.changes <= 2


def test_a_resized_tile_takes_its_new_layer_at_once_within_the_granted_budget() -> None:
    small = Viewer([tile("a", (160, 90))], 1_300_000)
    assert small.run(1_300_000, 1) == {"a": 0}
    small.demands = [tile("a", BIG)]
    assert small.run(1_300_000, 0.1) == {"a": 2}


# --- dynacast -------------------------------------------------------------------------

def test_needed_layers() -> None:
    assert needed(RIDS, [2, None], watched=True) == {"q", "f"}
    assert needed(RIDS, [1], watched=False) == {"h"}
    assert needed(RIDS, [], watched=False) == set()
    assert needed(RIDS, [7], watched=False) == set()


def test_dynacast_off_after_the_delay_on_at_once() -> None:
    d = Dynacast(RIDS)
    assert d.active == {"q", "h", "f"}
    assert d.update(0.0, {"q", "h", "f"}) is None
    assert d.update(1.0, {"q", "h"}) is None
    assert d.update(1.0 + DYNACAST_DELAY - 0.1, {"q", "h"}) is None
    assert d.update(1.0 + DYNACAST_DELAY, {"q", "h"}) == ["q", "h"]
    assert d.update(5.0, {"q", "h"}) is None  # only on change
    assert d.update(5.1, {"q", "f"}) == ["q", "h", "f"]  # f on at once; h not yet off
    assert d.update(5.1 + DYNACAST_DELAY, {"q", "f"}) == ["q", "f"]


def test_dynacast_a_layer_needed_again_restarts_its_delay() -> None:
    d = Dynacast(RIDS)
    d.update(0.0, {"q"})
    d.update(2.0, {"q", "f"})
    assert d.update(4.0, {"q"}) == ["q", "f"]  # h off; f unneeded only since 4.0
    assert d.update(4.0 + DYNACAST_DELAY, {"q"}) == ["q"]
    assert d.update(20.0, set()) is None
    assert d.update(20.0 + DYNACAST_DELAY, set()) == []  # nobody watches


def test_an_upgrade_undone_at_once_doubles_the_next_hold() -> None:
    raised = Hold(Phase.STEADY, 1_100_000, raised_at=NOW - 2)
    failed = step(raised, NOW, 700_000, COST_AT, POLICY)
    assert (failed.granted, failed.hold_for) == (700_000, 2 * POLICY.upgrade_hold)
    again = step(replace(failed, raised_at=NOW + 1, granted=1_100_000), NOW + 2, 700_000,
                 COST_AT, POLICY)
    assert again.hold_for == 4 * POLICY.upgrade_hold
    capped = step(replace(raised, hold_for=POLICY.upgrade_hold_max), NOW, 700_000, COST_AT,
                  POLICY)
    assert capped.hold_for == POLICY.upgrade_hold_max
    # a drop long after the last upgrade is the link changing: the hold is back to normal
    later = step(replace(raised, raised_at=NOW - 60, hold_for=16.0), NOW, 700_000, COST_AT,
                 POLICY)
    assert later.hold_for == POLICY.upgrade_hold


def test_a_link_that_cannot_carry_the_next_layer_is_tried_less_and_less() -> None:
    """The estimate creeps above 720p's cost whenever the link is quiet, but each
    upgrade is undone a second later: the tries spread out (4, 8, 16, 32 s holds)."""
    v = Viewer([tile("a")], 600_000)
    ups = 0
    for _ in range(40):
        before = v.run(1_300_000, 1)  # looks like room...
        if before == {"a": 2}:
            ups += 1
            v.run(600_000, 1)  # ...but the upgrade congests: undone at once
        v.run(1_300_000, 1)
    assert 2 <= ups <= 4


def test_audio_only_below_150_kbps_or_the_cheapest_measured_lowest_layer() -> None:
    configured = [tile("a"), tile("b")]
    assert audio_threshold(configured, POLICY) == 150_000
    measured = [tile("a", costs=(110_000, 380_000, 800_000)), tile("b")]
    assert audio_threshold(measured, POLICY) == 110_000
    assert audio_threshold([], POLICY) == 150_000
    # 120 kbps: one measured 180p tile is kept, not traded for audio only
    v = Viewer(measured, 1_000_000)
    assert v.run(120_000, 1) == {"a": 0, "b": None}
    assert v.phase() is Phase.STEADY
    assert v.run(100_000, 0.1) == {"a": None, "b": None}
    assert v.phase() is Phase.AUDIO_ONLY
