"""Network conditions for media tests: a namespace link limited to a rate carries no
more than that rate (a UDP blast, bounded in count and time), so a test that limits a
person's link limits what it says it limits.

Needs root (network namespaces, testkit/netns.py). Nothing leaves this machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.figures import figure
from tests.web.netns import Impairment, Netns, blast, namespace


@pytest.fixture
def netns() -> Iterator[Netns]:
    with namespace("ad", 217, "tun") as ns:
        yield ns


def test_a_limited_link_carries_its_rate_and_no_more(netns: Netns) -> None:
    """Both ways, at the two rates the media tests use; the unlimited direction stays
    unlimited, and loss on top of a limit is loss."""
    rate = 300_000
    netns.limit(rate, down=True, up=True)
    down, down_share = blast(netns, down=True, send_bps=4 * rate, seconds=3)
    up, up_share = blast(netns, down=False, send_bps=4 * rate, seconds=3)
    netns.limit(1_000_000, down=True, up=False)
    mega, _ = blast(netns, down=True, send_bps=3_000_000, seconds=2)
    free, free_share = blast(netns, down=False, send_bps=3_000_000, seconds=2)
    impairment = netns.impairment
    assert isinstance(impairment, Impairment)
    netns.limit(rate)
    impairment.set(loss=0.03)
    _, lossy_share = blast(netns, down=True, send_bps=rate // 2, seconds=3, size=200)
    impairment.set()
    figure(f"tbf on the namespace link: 300 kbit/s limit, 1.2 Mbit/s offered: down "
           f"{down / 1000:.0f} kbit/s ({down_share:.0%} arrived), up {up / 1000:.0f} kbit/s; "
           f"1 Mbit/s down limit, 3 Mbit/s offered: {mega / 1000:.0f} kbit/s down, "
           f"{free / 1000:.0f} kbit/s up ({free_share:.0%} arrived); 300 kbit/s + 3% loss, "
           f"150 kbit/s offered: {lossy_share:.1%} arrived")
    # UDP payload under an IP-level limit: 1000 of every 1028 bytes.
    for measured, limit in ((down, rate), (up, rate), (mega, 1_000_000)):
        assert 0.85 * limit <= measured <= 1.03 * limit, (measured, limit)
    assert down_share < 0.4
    assert up_share < 0.4
    assert free > 2_700_000
    assert free_share > 0.98
    assert 0.93 <= lossy_share <= 0.995, lossy_share
