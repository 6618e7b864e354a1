"""Loss-based viewer estimates and the publisher ceiling they give (pure)."""

from __future__ import annotations

import pytest

from media.estimate import FLOOR, LossEstimate, ceiling


def test_heavy_loss_decreases_in_proportion() -> None:
    e = LossEstimate(1_000_000)
    assert e.on_loss(0.2) == 900_000
    assert e.on_loss(0.5) == 675_000


def test_moderate_loss_holds_and_low_loss_recovers_up_to_the_cap() -> None:
    e = LossEstimate(1_000_000)
    e.on_loss(0.4)
    assert e.on_loss(0.05) == 800_000
    assert e.on_loss(0.0) == 840_000
    for _ in range(10):
        e.on_loss(0.0)
    assert e.rate == pytest.approx(1_000_000)


def test_never_under_the_floor() -> None:
    e = LossEstimate(1_000_000)
    for _ in range(50):
        e.on_loss(1.0)
    assert e.rate == FLOOR


def test_ceiling_is_the_slowest_viewer() -> None:
    good, bad = LossEstimate(1_000_000), LossEstimate(1_000_000)
    bad.on_loss(0.6)
    assert ceiling([good, bad]) == 700_000
    assert ceiling([]) is None
