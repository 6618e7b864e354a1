"""Hearth adapter: placeholder until the lead implements it over socket.io.

What it must do (see `bench.adapters` for the exact Protocols):

`Adapter(options)` in the coordinator
  * `setup_room(publishers, subscribers)`: create a session (REST) and join
    links/tokens for P + S participants, admit them (no lobby wait), pin VP8 and
    Opus.
  * `client_config()`: {"kind": "hearth", "url": ..., "tokens": [...], ...}.
  * `sfu_pids()`: the Hearth server process and its media workers, as seen in
    the root pid namespace (the server runs via `janus-peer exec`, so that
    its ICE host candidate is 198.18.77.2).
  * `teardown_room()`: end the session.

`Client(config)` in each client process
  * `add_publisher(pc, name)`: connect a socket.io client with one token,
    offer the pc's sendonly audio+video, apply the answer, return the
    publication id.
  * `add_subscriber(pc, publisher_ids)`: with another token, receive the
    server's offer (or send one) covering those publications in order, answer.
  * `close()`: disconnect every socket.io client it opened.

The harness then needs no change: `python -m bench.relay --sfu janus,hearth`.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection

_MESSAGE = (
    "the Hearth adapter is not implemented yet: implement bench/hearth_adapter.py "
    "(Adapter and Client, the Protocols in bench/adapters.py) over Hearth's socket.io "
    "signaling; until then run with --sfu janus"
)


class Adapter:
    """Coordinator half (placeholder)."""

    name = "hearth"

    def __init__(self, options: dict[str, Any]) -> None:
        raise NotImplementedError(_MESSAGE)

    async def setup_room(self, publishers: int, subscribers: int) -> None:
        raise NotImplementedError(_MESSAGE)

    def client_config(self) -> dict[str, Any]:
        raise NotImplementedError(_MESSAGE)

    def sfu_pids(self) -> list[int]:
        raise NotImplementedError(_MESSAGE)

    async def teardown_room(self) -> None:
        raise NotImplementedError(_MESSAGE)


class Client:
    """Worker half (placeholder)."""

    def __init__(self, config: dict[str, Any]) -> None:
        raise NotImplementedError(_MESSAGE)

    async def add_publisher(self, pc: RTCPeerConnection, name: str) -> str:
        raise NotImplementedError(_MESSAGE)

    async def add_subscriber(self, pc: RTCPeerConnection, publisher_ids: list[str]) -> None:
        raise NotImplementedError(_MESSAGE)

    async def close(self) -> None:
        raise NotImplementedError(_MESSAGE)
