"""Which simulcast layer each of a viewer's video slots receives (pure policy).

A slot's layer is the lowest of three limits:

* **the rendered size**: the smallest layer that covers the tile (``size_index``);
* **the clinic cap** (``RelayConfig.max_layer``; ``cap_index``);
* **the viewer's downlink**: ``allocate`` shares the budget (downlink estimate minus
  the audio the viewer receives) over the viewer's slots. Everyone is seen first:
  every slot gets the lowest layer, and only if even that does not fit are the
  smallest tiles paused. Then the largest tiles are upgraded first, one layer per
  round, while the budget allows.

**Audio first**: the viewer's audio is taken off its budget before any video, and
below ``Policy.audio_only_below`` of budget (or below the cheapest lowest layer, when
that was measured to cost less: ``audio_threshold``) all video to the viewer pauses
and its audio continues.

**Hysteresis** (``step``, a state machine whose every move is in ``TRANSITIONS``):
a downgrade applies at once; an upgrade only after the budget has stayed above the
next allocation's cost times ``margin`` for ``upgrade_hold`` seconds, and one step
at a time (``next_step``: one more tile, or one tile one layer up). Before the step
is made, the link is tested with it: for ``Policy.test_for`` seconds the relay
resends the viewer's latest packets over RTX at the step's rate, plus the margin
the new allocation keeps (``Hold.pad``), so the viewer's link carries the new
allocation's load before the viewer sees any of it. A loss-based estimate finds a
link's limit only by trying; tried with padding, a link that cannot carry the step
costs the viewer a few repaired packets, not a keyframe at a layer that then
freezes. A test fails when the estimate fell under the step, or when the viewer's
round trip rose (a queue building on its link, before anything is lost); the next
wait is then twice as long. After an audio-only pause,
video is tried again with one tile at the lowest layer after a back-off that doubles
each time the try fails.

**Dynacast** (``Dynacast``): which layers of a publication any viewer needs (a
slot's current or target layer; the lowest while anyone watches). A layer that
becomes needed is turned on at once; one unneeded for ``DYNACAST_DELAY`` seconds
is turned off at the publisher.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

#: the camera's nominal top frame (16:9); a layer's frame is this divided by its
#: ``scaleResolutionDownBy``
NOMINAL_TOP = (1280, 720)
#: simulcast rids from low to high: the order of the clinic cap
RID_ORDER = ("q", "h", "f")
#: seconds a layer stays on at the publisher after the last viewer stopped needing it
DYNACAST_DELAY = 3.0
#: seconds a layer the publisher was asked to send may take to arrive before no
#: viewer is switched to it any more
LAYER_GRACE = 3.0

#: a step's grant (``next_step``) is its cost times this
STEP_SLACK = 1.1

Size = tuple[int, int]
Targets = dict[str, int | None]


# --- one slot's limits ----------------------------------------------------------------

def layer_frames(layers: Iterable[tuple[str, float, int]],
                 top: Size = NOMINAL_TOP) -> dict[str, Size]:
    """Nominal frame (width, height) of each rid, from ``RelayConfig.layers``."""
    return {rid: (round(top[0] / scale), round(top[1] / scale)) for rid, scale, _ in layers}


def size_index(size: Size, frames: Sequence[Size]) -> int:
    """The smallest layer that covers a tile of ``size`` device pixels.

    Tiles show video with ``object-fit: contain``: the frame is scaled until one side
    fits, so a layer covers the tile (is not upscaled) when it is at least as wide or
    at least as tall as the tile. A tile not rendered ((0, 0)) gets the lowest layer;
    one larger than every layer, the highest."""
    w, h = size
    if w <= 0 or h <= 0:
        return 0
    for i, (fw, fh) in enumerate(frames):
        if fw >= w or fh >= h:
            return i
    return max(0, len(frames) - 1)


def cap_index(rids: Sequence[str], max_layer: str) -> int:
    """The highest layer index at or under the clinic cap (0 for a single layer)."""
    limit = RID_ORDER.index(max_layer) if max_layer in RID_ORDER else len(RID_ORDER) - 1
    best = 0
    for i, rid in enumerate(rids):
        if rid in RID_ORDER and RID_ORDER.index(rid) <= limit:
            best = i
    return best


@dataclass(frozen=True)
class Demand:
    """One visible video slot as the allocation sees it."""

    #: the slot (its mid)
    key: str
    #: rendered pixels: larger tiles are upgraded first, smaller paused first
    area: int
    #: the highest layer worth sending: min of size, cap and the layers there are
    top: int
    #: what each layer costs (bps), low to high
    costs: tuple[int, ...]


def available(active: bool, progress_at: float, asked_at: float, now: float,
              grace: float = LAYER_GRACE) -> bool:
    """Whether a viewer may be switched to a layer.

    A layer the relay paused (``active`` False: dynacast) comes when asked. One the
    publisher was asked to send is available while its packets arrive, and for
    ``grace`` seconds after it was asked; after that it is missing until packets
    arrive again. Layers go missing for real: Chrome sends fewer layers from a camera
    under 1280x720 (two from 640x480), and drops its top layer when its uplink or
    CPU is short. A viewer switched to a missing layer would wait for a keyframe that
    never comes."""
    if not active:
        return True
    if progress_at and now - progress_at < grace:
        return True
    return now - asked_at < grace


def demand(key: str, size: Size, rids: Sequence[str], costs: Sequence[int],
           frames: Mapping[str, Size], max_layer: str, highest: int | None = None
           ) -> Demand:
    """A slot's demand from its tile size, its publication's rids, the cap and the
    highest layer available (``highest``; None: all)."""
    if len(rids) <= 1:
        top = 0
    else:
        top = min(size_index(size, [frames.get(r, NOMINAL_TOP) for r in rids]),
                  cap_index(rids, max_layer))
        if highest is not None:
            top = max(0, min(top, highest))
    return Demand(key, max(0, size[0]) * max(0, size[1]), top, tuple(costs))


# --- sharing a viewer's budget ---------------------------------------------------------

def allocate(demands: Sequence[Demand], budget: float, top: int | None = None,
             prefer: Mapping[str, int | None] | None = None) -> Targets:
    """Layer index per slot (None: paused) within ``budget`` bps; ``top`` caps every
    slot's layer (probing uses 0).

    Everyone is seen first: each slot gets the lowest layer, and the smallest tiles
    are paused only while even that does not fit (a paused one whose lowest layer
    still fits what is left is seen after all). Then, in rounds of one layer, the
    largest tiles are upgraded first while the budget allows; among tiles of one
    size, those ``prefer`` (the slots' current layers) has higher go first, so a
    raise adds a layer to the next tile instead of moving one from tile to tile as
    the measured costs shift (a layer just turned on costs little until measured)."""
    out: Targets = {d.key: None for d in demands}
    seen = sorted(demands, key=lambda d: (d.area, d.key))  # smallest first
    total = sum(d.costs[0] for d in seen)
    paused = []
    while seen and total > budget:
        paused.append(seen.pop(0))
        total -= paused[-1].costs[0]
    for d in paused[::-1]:  # a paused tile that still fits (a cheaper one) is seen
        if total + d.costs[0] <= budget:
            total += d.costs[0]
            seen.append(d)
    seen.sort(key=lambda d: (d.area, d.key))
    left = budget - total
    level = {d.key: 0 for d in seen}
    held = prefer or {}
    largest = sorted(seen, key=lambda d: (d.area, -1 if (i := held.get(d.key)) is None
                                          else i, d.key), reverse=True)
    raised = True
    while raised:
        raised = False
        for d in largest:
            i = level[d.key]
            limit = d.top if top is None else min(d.top, top)
            if i < limit and d.costs[i + 1] - d.costs[i] <= left:
                left -= d.costs[i + 1] - d.costs[i]
                level[d.key] = i + 1
                raised = True
    out.update(level)
    return out


def cost(targets: Mapping[str, int | None], demands: Sequence[Demand]) -> int:
    """What an allocation costs (bps)."""
    return sum(d.costs[i] for d in demands if (i := targets.get(d.key)) is not None)


def cost_of(demands: Sequence[Demand]) -> Callable[[float, int | None], int]:
    """``cost_at(budget, top)``: what ``allocate`` would spend of ``budget``."""
    def cost_at(budget: float, top: int | None = None) -> int:
        return cost(allocate(demands, budget, top), demands)
    return cost_at


def next_step(demands: Sequence[Demand], granted: float) -> float:
    """The budget for one step beyond what ``granted`` buys, in ``allocate``'s own
    order: the largest paused tile at its lowest layer, else the largest tile that
    can go one layer up (``granted`` when nothing is left to add). With
    ``STEP_SLACK``: measured costs move from one second to the next, and a grant
    that only just bought the step would lose it again at once.

    Upgrades go one step at a time. A loss-based estimate grows while nothing tests
    it, so the whole of it is a guess; a step is a small bet whose loss says whether
    the link carries it, and a failed one costs one tile's keyframe, not all of them.
    The order is by tile size, never by cost, so a probe keeps to one tile while the
    costs jitter."""
    now = allocate(demands, granted)
    largest = sorted(demands, key=lambda d: (d.area, d.key), reverse=True)
    paused = [d for d in largest if now[d.key] is None]
    if paused:
        add = paused[0].costs[0]
    else:
        up = [d for d in largest if (now[d.key] or 0) < d.top]
        if not up:
            return granted
        i = now[up[0].key] or 0
        add = up[0].costs[i + 1] - up[0].costs[i]
    return (cost(now, demands) + add) * STEP_SLACK


# --- hysteresis: a state machine per viewer ----------------------------------------------

class Phase(StrEnum):
    """Where a viewer's video stands."""

    #: the allocation fits the budget; no upgrade pending
    STEADY = "steady"
    #: the budget has room for more, and the upgrade is held down until that room has
    #: lasted ``upgrade_hold`` seconds
    HOLD_DOWN = "hold_down"
    #: video paused for bandwidth, audio continues; a probe after the back-off
    AUDIO_ONLY = "audio_only"
    #: video tried again at the lowest layer, for ``probe_hold`` seconds
    PROBING = "probing"
    #: the upgrade's step is tested with padding (``Hold.pad``) for ``test_for``
    #: seconds before any slot is raised
    TESTING = "testing"


class Trigger(StrEnum):
    """What one tick's budget says (``classify``)."""

    #: under the audio-only threshold
    LOW = "low"
    #: the granted allocation no longer fits the budget
    DROP = "drop"
    #: the budget / margin buys more than the granted allocation
    ROOM = "room"
    #: nothing to change
    FLAT = "flat"
    #: the phase's timer ran out (hold held, back-off over, probe or test survived)
    TIME = "time"


class Action(StrEnum):
    """What a transition does to the machine's numbers (``_apply``)."""

    KEEP = "keep"
    #: downgrade at once: grant the budget over the margin (an upgrade undone this
    #: soon failed: grant the budget, and the next one waits twice as long)
    LOWER = "lower"
    #: start the upgrade hold
    WATCH = "watch"
    #: the hold goes on; remember the lowest budget seen during it
    WAIT = "wait"
    #: the hold held: test the step it would buy with padding (``Hold.pad``)
    TEST = "test"
    #: the test held: upgrade, granting the lowest budget seen during the hold and
    #: the test, over the margin, one step at most
    RAISE = "raise"
    #: the test failed (its loss lowered the estimate): nothing is raised, the
    #: padding stops, and the next hold lasts twice as long
    FAIL = "fail"
    #: pause video; the back-off starts
    PAUSE = "pause"
    #: try video again at the lowest layer
    PROBE = "probe"
    #: the probe held: video stays at the lowest layers, the back-off resets
    SETTLE = "settle"
    #: the probe failed: pause again with twice the back-off
    RETREAT = "retreat"


P, T, A = Phase, Trigger, Action
TRANSITIONS: dict[tuple[Phase, Trigger], tuple[Phase, Action]] = {
    (P.STEADY, T.LOW): (P.AUDIO_ONLY, A.PAUSE),
    (P.STEADY, T.DROP): (P.STEADY, A.LOWER),
    (P.STEADY, T.ROOM): (P.HOLD_DOWN, A.WATCH),
    (P.STEADY, T.FLAT): (P.STEADY, A.KEEP),
    (P.HOLD_DOWN, T.LOW): (P.AUDIO_ONLY, A.PAUSE),
    (P.HOLD_DOWN, T.DROP): (P.STEADY, A.LOWER),
    (P.HOLD_DOWN, T.ROOM): (P.HOLD_DOWN, A.WAIT),
    (P.HOLD_DOWN, T.FLAT): (P.STEADY, A.KEEP),  # the room went away: no upgrade
    (P.HOLD_DOWN, T.TIME): (P.TESTING, A.TEST),
    (P.AUDIO_ONLY, T.LOW): (P.AUDIO_ONLY, A.KEEP),
    (P.AUDIO_ONLY, T.FLAT): (P.AUDIO_ONLY, A.KEEP),
    (P.AUDIO_ONLY, T.TIME): (P.PROBING, A.PROBE),
    (P.PROBING, T.LOW): (P.AUDIO_ONLY, A.RETREAT),
    (P.PROBING, T.FLAT): (P.PROBING, A.KEEP),
    (P.PROBING, T.TIME): (P.STEADY, A.SETTLE),
    (P.TESTING, T.LOW): (P.AUDIO_ONLY, A.PAUSE),
    (P.TESTING, T.DROP): (P.STEADY, A.LOWER),  # the padding's loss: a failed upgrade
    (P.TESTING, T.ROOM): (P.TESTING, A.WAIT),
    (P.TESTING, T.FLAT): (P.STEADY, A.FAIL),  # the padding's loss took the room away
    (P.TESTING, T.TIME): (P.STEADY, A.RAISE),
}


@dataclass(frozen=True)
class Policy:
    """The adaptation's numbers (``from_config`` reads the relay's)."""

    #: budget for video (bps) under which all video to a viewer pauses
    audio_only_below: int = 150_000
    #: an upgrade needs the budget at this multiple of the new allocation's cost...
    margin: float = 1.2
    #: ...for this many seconds; doubled (up to ``upgrade_hold_max``) after an upgrade
    #: that had to be undone within ``upgrade_fails_within`` seconds, so a link that
    #: cannot carry the next layer is not tried every few seconds
    upgrade_hold: float = 4.0
    upgrade_hold_max: float = 32.0
    upgrade_fails_within: float = 5.0
    #: a probe at the lowest layer must survive this long (a few receiver reports)
    probe_hold: float = 3.0
    #: an upgrade's padding runs this long before the step is made (its loss must
    #: reach the relay in the viewer's receiver reports, about one a second)
    test_for: float = 3.0
    #: seconds of audio only before the first probe; doubles per failed probe
    backoff_start: float = 5.0
    backoff_max: float = 40.0


@dataclass(frozen=True)
class Hold:
    """One viewer's hysteresis state."""

    phase: Phase = Phase.STEADY
    #: the budget the allocation may use (STEADY, HOLD_DOWN)
    granted: float = 0.0
    #: when the phase's timer started (HOLD_DOWN, AUDIO_ONLY, PROBING)
    since: float = 0.0
    #: HOLD_DOWN: the lowest budget seen while the room lasted
    low: float = 0.0
    #: AUDIO_ONLY: seconds before the next probe
    backoff: float = 5.0
    #: HOLD_DOWN: seconds the room must last; doubles when an upgrade fails
    hold_for: float = 4.0
    #: when the last upgrade (or its test) was made: loss soon after it is its failure
    raised_at: float = -math.inf
    #: TESTING: the padding (bps) that stands in for the step until it is made
    pad: float = 0.0
    #: the upgrade or test (its ``raised_at``) whose failure already doubled
    #: ``hold_for``: the loss still in flight after it is the same failure
    doubled_for: float = -math.inf


def start(budget: float, policy: Policy) -> Hold:
    """A fresh viewer: its first budget is granted as it is (no hold at the start)."""
    return Hold(granted=budget, backoff=policy.backoff_start, hold_for=policy.upgrade_hold)


def classify(hold: Hold, now: float, budget: float,
             cost_at: Callable[[float, int | None], int], policy: Policy,
             low: float | None = None, queuing: bool = False,
             rising: bool = False) -> Trigger:
    """The trigger one tick's budget makes in the current phase; ``low`` is the
    audio-only threshold (``audio_threshold``; default ``policy.audio_only_below``).
    ``queuing``: the viewer's round trip rose and stayed up (``QueueWatch.queuing``):
    its link is full whatever the budget says, so there is no room, and a test fails.
    ``rising``: a recent round trip rose (``QueueWatch.rising``): no test starts on a
    link that may be full already, and one under way fails (its padding is the likely
    cause)."""
    if budget < (policy.audio_only_below if low is None else low):
        return T.LOW
    if hold.phase is P.AUDIO_ONLY:
        # a probe needs the margin over the threshold: one just over it is undone by
        # the next tick's jitter, and the back-off doubles for nothing
        threshold = policy.audio_only_below if low is None else low
        return T.TIME if now - hold.since >= hold.backoff \
            and budget >= threshold * policy.margin else T.FLAT
    if hold.phase is P.PROBING:
        return T.TIME if now - hold.since >= policy.probe_hold else T.FLAT
    granted = cost_at(hold.granted, None)
    if granted > budget:
        return T.DROP
    if hold.phase is P.TESTING:
        if queuing or rising or cost_at(budget / policy.margin, None) <= granted:
            return T.FLAT
        return T.TIME if now - hold.since >= policy.test_for else T.ROOM
    if not queuing and cost_at(budget / policy.margin, None) > granted:
        if hold.phase is P.HOLD_DOWN and now - hold.since >= hold.hold_for and not rising:
            return T.TIME
        return T.ROOM
    return T.FLAT


def _apply(hold: Hold, action: Action, now: float, budget: float,
           cost_at: Callable[[float, int | None], int], policy: Policy,
           step_at: Callable[[float], float] | None = None) -> Hold:
    if action is A.LOWER:
        # An upgrade undone this soon failed: back to what carried before it. Any
        # other drop is the link's: keep the margin below what still got through,
        # or the link runs full and every keyframe overflows its queue.
        failed = now - hold.raised_at < policy.upgrade_fails_within
        if not failed:
            hold_for = policy.upgrade_hold
        elif hold.doubled_for == hold.raised_at:
            hold_for = hold.hold_for
        else:
            hold_for = min(policy.upgrade_hold_max, hold.hold_for * 2)
        granted = budget if failed else budget / policy.margin
        if cost_at(granted, None) == 0:  # the margin alone never pauses every tile:
            granted = budget  # that is audio first's call (``audio_threshold``)
        return replace(hold, granted=granted, hold_for=hold_for, pad=0.0,
                       doubled_for=hold.raised_at if failed else hold.doubled_for)
    if action is A.WATCH:
        return replace(hold, since=now, low=budget)
    if action is A.WAIT:
        return replace(hold, low=min(hold.low, budget))
    if action is A.TEST:
        # the step's own price: measured costs move, and a grant that buys nothing
        # more at this tick's prices may buy the step at the next one's. With the
        # margin the raised allocation keeps: a video's rate swings around its mean
        # (a keyframe, a busy scene), and a link that carries the step's mean and no
        # more stands a queue once the step is made
        step_to = step_at(hold.granted) if step_at is not None \
            else min(hold.low, budget) / policy.margin
        pad = max(0.0, cost_at(step_to, None) * policy.margin - cost_at(hold.granted, None))
        return replace(hold, since=now, low=min(hold.low, budget), raised_at=now, pad=pad)
    if action is A.RAISE:
        grant = _raise_to(hold, budget, policy, step_at)
        return replace(hold, granted=grant, raised_at=now, pad=0.0)
    if action is A.FAIL:
        return replace(hold, pad=0.0, hold_for=min(policy.upgrade_hold_max, hold.hold_for * 2),
                       doubled_for=hold.raised_at)
    if action in (A.PAUSE, A.PROBE):
        return replace(hold, since=now, pad=0.0)
    if action is A.SETTLE:
        granted = cost_at(budget, 0) if step_at is None else min(budget, step_at(0.0))
        return replace(hold, granted=granted, backoff=policy.backoff_start)
    if action is A.RETREAT:
        return replace(hold, since=now, backoff=min(policy.backoff_max, hold.backoff * 2))
    return hold


def _raise_to(hold: Hold, budget: float, policy: Policy,
              step_at: Callable[[float], float] | None) -> float:
    """What an upgrade grants: the lowest budget seen since the room opened, over the
    margin, one step at most; never less than granted already."""
    grant = min(hold.low, budget) / policy.margin
    if step_at is not None:
        grant = min(grant, step_at(hold.granted))
    return max(hold.granted, grant)


def step(hold: Hold, now: float, budget: float,
         cost_at: Callable[[float, int | None], int], policy: Policy,
         low: float | None = None, step_at: Callable[[float], float] | None = None,
         queuing: bool = False, rising: bool = False) -> Hold:
    """One tick of the machine: classify the budget, then take the table's move.
    ``step_at`` (``next_step``) makes upgrades and probes one step each."""
    trigger = classify(hold, now, budget, cost_at, policy, low, queuing, rising)
    phase, action = TRANSITIONS[hold.phase, trigger]
    return replace(_apply(hold, action, now, budget, cost_at, policy, step_at), phase=phase)


def targets(hold: Hold, demands: Sequence[Demand], budget: float,
            kept: Mapping[str, int | None] | None = None) -> Targets:
    """The layers the machine's phase allows: none in audio only, one tile at the
    lowest layer while probing, else what the granted budget buys, or what it bought
    (``kept``, the slots' current targets) while that still fits the budget.

    Measured costs move (a tile just resumed costs its publisher a keyframe), so the
    granted budget buys a little less one second and a little more the next: the
    allocation holds until the budget, not the price list, says it must go."""
    if hold.phase is P.AUDIO_ONLY:
        return {d.key: None for d in demands}
    if hold.phase is P.PROBING:
        return allocate(demands, min(budget, next_step(demands, 0.0)), 0)
    granted = hold.granted
    if kept:
        held = {d.key: i for d in demands
                if (i := kept.get(d.key)) is not None and i <= d.top}
        if held and (spent := cost(held, demands)) <= budget:
            whole = all(d.key in kept and (d.key in held or kept[d.key] is None)
                        for d in demands)
            if whole and spent >= granted:
                # every slot's layer still fits and nothing more was granted: as it
                # is (allocated afresh at the same price, a tile could trade places)
                return {d.key: held.get(d.key) for d in demands}
            granted = max(granted, spent)
    return allocate(demands, granted, prefer=kept)


def audio_threshold(demands: Sequence[Demand], policy: Policy) -> float:
    """The video budget under which all video pauses: ``audio_only_below``, or less
    when a slot's lowest layer was measured to cost less (one 180p tile measured at
    110 kbps still fits a budget of 120 kbps; pausing it would only trade a working
    tile for an avatar and a probe cycle)."""
    return min([policy.audio_only_below, *(d.costs[0] for d in demands)])


def decide(hold: Hold, now: float, demands: Sequence[Demand], budget: float,
           policy: Policy, kept: Mapping[str, int | None] | None = None,
           queuing: bool = False, rising: bool = False) -> tuple[Hold, Targets]:
    """One viewer's tick: the next state and the layer per slot (``kept``: the
    slots' targets so far; ``queuing``, ``rising``: see ``classify``)."""
    hold = step(hold, now, budget, cost_of(demands), policy, audio_threshold(demands, policy),
                lambda granted: next_step(demands, granted), queuing, rising)
    return hold, targets(hold, demands, budget, kept)


# --- dynacast --------------------------------------------------------------------------

def needed(rids: Sequence[str], indices: Iterable[int | None], watched: bool) -> set[str]:
    """The rids of a publication its viewers need: every current or target layer
    index given, and the lowest while anyone watches (so a paused viewer's probe and
    a new viewer start at once)."""
    out = {rids[i] for i in indices if i is not None and 0 <= i < len(rids)}
    if watched and rids:
        out.add(rids[0])
    return out


class Dynacast:
    """Which rids one simulcast publication keeps sending. All are on at first (the
    browser starts them so); a needed one turns on at once, one unneeded for
    ``delay`` seconds turns off."""

    __slots__ = ("_unneeded", "active", "delay", "rids")

    def __init__(self, rids: Sequence[str], delay: float = DYNACAST_DELAY) -> None:
        self.rids = tuple(rids)
        self.delay = delay
        self.active = set(self.rids)
        self._unneeded: dict[str, float] = {}

    def update(self, now: float, need: set[str]) -> list[str] | None:
        """The active rids (low to high) when they changed, else None."""
        active = set(self.active)
        for rid in self.rids:
            if rid in need:
                self._unneeded.pop(rid, None)
                active.add(rid)
            elif now - self._unneeded.setdefault(rid, now) >= self.delay:
                active.discard(rid)
        if active == self.active:
            return None
        self.active = active
        return [r for r in self.rids if r in active]
