"""A network namespace per test (testkit/netns.py), skipped without root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import pytest

from testkit.netns import Impairment, Netns, blast, network

__all__ = ["Impairment", "Netns", "blast", "namespace"]


@contextmanager
def namespace(prefix: str, octet: int, link: Literal["veth", "tun"]) -> Iterator[Netns]:
    """A namespace for one test (skipped without root), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    with network(prefix, octet, link) as ns:
        yield ns
