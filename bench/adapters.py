"""The adapter interface between the harness and an SFU's signaling.

The harness owns the media (peer connections, tracks, counters); an adapter
only moves SDP between an aiortc `RTCPeerConnection` and the SFU. That split
lets Janus, Hearth and the direct peer-to-peer baseline be driven by exactly
the same clients.

An adapter has two halves because clients live in several processes:

* `SfuAdapter` runs once, in the coordinator: it creates and removes the room
  and says which OS processes are the SFU (for /proc CPU and RSS).
* `SfuClient` runs in every client process, built from the picklable dict that
  `SfuAdapter.client_config()` returns. It negotiates one peer connection at a
  time.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from aiortc import RTCPeerConnection

# adapter name -> module holding `Adapter` (coordinator) and `Client` (worker) classes
ADAPTER_MODULES = {
    "janus": "bench.janus_adapter",
    "hearth": "bench.hearth_adapter",
    "hearth-simulcast": "bench.hearth_adapter:SimulcastAdapter",
    "p2p": "bench.p2p_adapter",
}


class SfuAdapter(Protocol):
    """Coordinator half: room lifecycle and the SFU's processes."""

    name: str

    async def setup_room(self, publishers: int, subscribers: int) -> None:
        """Create a fresh room sized for this scenario (VP8 + Opus only)."""

    def client_config(self) -> dict[str, Any]:
        """Picklable config for `Client(config)` in each worker: URL, room id, token..."""

    def sfu_pids(self) -> list[int]:
        """PIDs whose utime+stime and RSS count as the SFU (root pid namespace)."""

    async def teardown_room(self) -> None:
        """Destroy the room and every session the coordinator opened. Idempotent."""


class SfuClient(Protocol):
    """Worker half: negotiates peer connections that the harness built."""

    async def add_publisher(self, pc: RTCPeerConnection, name: str) -> str:
        """Publish `pc` (already holding sendonly audio+video transceivers).

        Must create the offer, send it, apply the SFU's answer and return the
        publisher id that `add_subscriber` accepts. ICE/DTLS may complete later:
        the harness waits for every connection to reach "connected".
        """

    async def add_subscriber(self, pc: RTCPeerConnection, publisher_ids: list[str]) -> None:
        """Subscribe `pc` (empty) to the audio and video of every listed publisher.

        Must apply the SFU's offer (or make one), answer, and start the flow. The
        harness taps receivers from the pc's "track" event, so tracks must
        arrive in `publisher_ids` order, audio and video of each publisher.
        """

    async def close(self) -> None:
        """Leave the SFU (hang up handles, close sockets). Does not close the pcs."""


def make_adapter(name: str, options: dict[str, Any]) -> SfuAdapter:
    """Build the coordinator half of adapter `name`."""
    module_name, _, cls = ADAPTER_MODULES[name].partition(":")
    module = importlib.import_module(module_name)
    adapter: SfuAdapter = getattr(module, cls or "Adapter")(options)
    return adapter


def make_client(config: dict[str, Any]) -> SfuClient:
    """Build the worker half from `client_config()` (which carries its `kind`)."""
    module = importlib.import_module(ADAPTER_MODULES[config["kind"]].partition(":")[0])
    client: SfuClient = module.Client(config)
    return client
