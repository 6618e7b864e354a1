"""The relay's simulcast figures on /metrics: forwarded packets per layer, switches up
and down, layers paused at publishers, and the viewers' downlink as a histogram whose
only label is the bucket bound (nothing that names a person)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics import Metrics, downlink_estimates, live_figures


@dataclass
class Counts:
    """A router's figures as ``media.router.Router`` gives them (the protocol the
    metrics read), with fixed values."""

    counters: dict[str, int]
    estimates: list[int] = field(default_factory=list)
    peers: dict[str, Any] = field(default_factory=dict)
    publications: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, int]:
        return self.counters

    def downlink_estimates(self) -> list[int]:
        return self.estimates


def scrape(routers: list[Counts]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    m = Metrics()
    m.watch(lambda: live_figures(connections=0, routers=routers, placed=0, draining=False))
    m.watch_downlink(lambda: downlink_estimates(routers))
    text = generate_latest(m.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_layer_figures_are_summed_over_sessions_and_labelled_by_layer_only() -> None:
    a = Counts({"layer_packets_q": 10, "layer_packets_h": 5, "layer_packets_f": 2,
                "layer_switches_up": 3, "layer_switches_down": 4, "layers_paused": 1},
               [120_000, 800_000])
    b = Counts({"layer_packets_q": 1, "layers_paused": 2, "layer_switches_down": 1},
               [2_500_000])
    got = scrape([a, b])
    assert got[("hearth_media_layer_packets_total", (("layer", "q"),))] == 11
    assert got[("hearth_media_layer_packets_total", (("layer", "h"),))] == 5
    assert got[("hearth_media_layer_packets_total", (("layer", "f"),))] == 2
    assert got[("hearth_media_layer_switches_total", (("direction", "up"),))] == 3
    assert got[("hearth_media_layer_switches_total", (("direction", "down"),))] == 5
    assert got[("hearth_media_layers_paused", ())] == 3
    bucket = "hearth_media_downlink_bps_bucket"
    assert got[(bucket, (("le", "150000.0"),))] == 1
    assert got[(bucket, (("le", "1000000.0"),))] == 2
    assert got[(bucket, (("le", "+Inf"),))] == 3
    assert got[("hearth_media_downlink_bps_gcount", ())] == 3
    assert got[("hearth_media_downlink_bps_gsum", ())] == 3_420_000
    labels = {k for (name, labels) in got if "layer" in name or "downlink" in name
              for k, _ in labels}
    assert labels <= {"layer", "direction", "le"}, labels


def test_a_relay_without_the_figures_reads_as_zero() -> None:
    got = scrape([Counts({"forwarded_packets": 7})])
    assert got[("hearth_media_layer_packets_total", (("layer", "f"),))] == 0
    assert got[("hearth_media_layers_paused", ())] == 0
    assert got[("hearth_media_downlink_bps_bucket", (("le", "+Inf"),))] == 0
