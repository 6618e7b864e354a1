"""A browser on a network of its own: a network namespace joined to the host, for the
tests that drop or degrade one person's connection.

Needs root. Everything is created by the test and removed after it, named after a
prefix: the namespace, a veth pair whose host-side address the server binds (so the
server stays up whatever happens to the namespace's link), and the namespace's link
to the host, either

* ``veth``: a veth pair (``link_down`` / ``link_up`` cut and restore it), or
* ``tun``: two TUN devices bridged by ``Impairment``, a thread that forwards every
  packet between them after dropping some and delaying the rest (a normal
  distribution, so packets also arrive out of order). This kernel has no ``netem``;
  the thread does what ``tc qdisc add dev <link> root netem loss 5% delay 40ms 80ms
  distribution normal`` would, in both directions.

Nothing leaves this machine.
"""

from __future__ import annotations

import fcntl
import heapq
import os
import random
import select
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


class Netns:
    """Names and addresses of one namespace: ``10.<octet>.7.1`` is the server,
    ``10.<octet>.8.1`` the host's end of the link and ``10.<octet>.8.2`` the namespace's."""

    def __init__(self, prefix: str, octet: int) -> None:
        self.name = f"{prefix}-ns{os.getpid() % 10000}"
        self.prefix = prefix
        self.server_ip = f"10.{octet}.7.1"
        self.host_ip, self.ns_ip = f"10.{octet}.8.1", f"10.{octet}.8.2"
        self.link = f"{prefix}-n"  # the namespace's end of its link to the host
        self.impairment: Impairment | None = None

    def in_ns(self, *args: str) -> None:
        sh("ip", "netns", "exec", self.name, *args)

    def create(self, link: Literal["veth", "tun"]) -> None:
        p = self.prefix
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", f"{p}-sa", "type", "veth", "peer", "name", f"{p}-sb")
        sh("ip", "addr", "add", f"{self.server_ip}/30", "dev", f"{p}-sa")
        for dev in (f"{p}-sa", f"{p}-sb"):
            sh("ip", "link", "set", dev, "up")
        self.in_ns("ip", "link", "set", "lo", "up")
        if link == "veth":
            sh("ip", "link", "add", f"{p}-h", "type", "veth", "peer", "name", self.link)
            sh("ip", "link", "set", self.link, "netns", self.name)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", f"{p}-h")
            sh("ip", "link", "set", f"{p}-h", "up")
            self.in_ns("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.link)
            self.link_up()
            return
        inside, outside = tun(self.link), tun(f"{p}-h")
        self.impairment = Impairment(inside, outside)
        sh("ip", "link", "set", self.link, "netns", self.name)
        self.in_ns("ip", "addr", "add", self.ns_ip, "peer", self.host_ip, "dev", self.link)
        self.in_ns("ip", "link", "set", self.link, "up")
        self.in_ns("ip", "route", "add", "default", "dev", self.link)
        sh("ip", "addr", "add", self.host_ip, "peer", self.ns_ip, "dev", f"{p}-h")
        sh("ip", "link", "set", f"{p}-h", "up")
        self.impairment.start()

    def link_up(self) -> None:
        self.in_ns("ip", "link", "set", self.link, "up")
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "route", "replace", "default",
                        "via", self.host_ip], capture_output=True, timeout=20)

    def link_down(self) -> None:
        self.in_ns("ip", "link", "set", self.link, "down")

    def chromium(self, tmp: Path) -> str:
        """An executable that runs Debian's Chromium inside the namespace."""
        wrapper = tmp / f"chromium-in-{self.prefix}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.name} /usr/bin/chromium "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)

    def cleanup(self) -> None:
        if self.impairment is not None:
            self.impairment.stop()
            self.impairment = None
        for cmd in (["ip", "netns", "del", self.name], ["ip", "link", "del", f"{self.prefix}-sa"],
                    ["ip", "link", "del", f"{self.prefix}-h"]):
            subprocess.run(cmd, capture_output=True, timeout=20)


@contextmanager
def namespace(prefix: str, octet: int, link: Literal["veth", "tun"]) -> Iterator[Netns]:
    """A namespace for one test (skipped without root), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    ns = Netns(prefix, octet)
    ns.cleanup()
    try:
        ns.create(link)
        yield ns
    finally:
        ns.cleanup()


def tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Impairment(threading.Thread):
    """Forwards IP packets between two TUN devices, dropping a fraction ``loss`` of them
    and holding each of the others for a normally distributed delay (mean ``delay``,
    deviation ``jitter``, seconds, never below zero) in both directions."""

    def __init__(self, a: int, b: int, seed: int = 7) -> None:
        super().__init__(daemon=True, name="impairment")
        self._fds = (a, b)
        self._random = random.Random(seed)
        self._wake_r, self._wake_w = os.pipe()
        self._running = True
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.forwarded = 0
        self.dropped = 0

    def set(self, *, loss: float = 0.0, delay: float = 0.0, jitter: float = 0.0) -> None:
        self.loss, self.delay, self.jitter = loss, delay, jitter

    def run(self) -> None:
        a, b = self._fds
        due: list[tuple[float, int, int, bytes]] = []
        n = 0
        while self._running:
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, out, data = heapq.heappop(due)
                try:
                    os.write(out, data)
                    self.forwarded += 1
                except OSError:
                    pass  # the device went away at the end of the test
            timeout = max(0.0, due[0][0] - now) if due else 0.5
            ready, _, _ = select.select([a, b, self._wake_r], [], [], timeout)
            for fd in ready:
                if fd == self._wake_r:
                    continue
                try:
                    data = os.read(fd, 65535)
                except OSError:
                    continue
                if self.loss and self._random.random() < self.loss:
                    self.dropped += 1
                    continue
                hold = max(0.0, self._random.gauss(self.delay, self.jitter)) if self.jitter \
                    else self.delay
                n += 1
                heapq.heappush(due, (time.monotonic() + hold, n, b if fd == a else a, data))

    def stop(self) -> None:
        self._running = False
        os.write(self._wake_w, b"x")
        self.join(timeout=5)
        for fd in (*self._fds, self._wake_r, self._wake_w):
            os.close(fd)
