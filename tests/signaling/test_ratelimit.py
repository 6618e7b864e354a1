"""The token bucket allows bursts, throttles floods and flags persistent flooders."""

from signaling.ratelimit import TokenBucket


def test_burst_then_throttle_then_refill() -> None:
    b = TokenBucket(rate=10, burst=5, max_strikes=3)
    assert all(b.take(0.0) for _ in range(5))
    assert not b.take(0.0)
    assert b.take(0.15)  # 1.5 tokens refilled
    assert not b.exhausted


def test_persistent_flood_is_exhausted() -> None:
    b = TokenBucket(rate=10, burst=5, max_strikes=50)
    results = [b.take(i * 0.0002) for i in range(5000)]  # 5,000 events/s
    assert sum(results) < 20
    assert b.exhausted


def test_calm_client_recovers() -> None:
    b = TokenBucket(rate=10, burst=10, max_strikes=100)
    for _ in range(30):
        b.take(0.0)
    assert b.strikes == 20
    assert b.take(5.0)
    assert b.strikes == 0
