"""A browser on a network of its own: a network namespace joined to the host, for the
tests and benchmarks that drop, degrade or slow one person's connection.

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

Either link can also be limited in rate (``limit``): a ``tbf`` qdisc on the
namespace's end (its uplink) and on the host's end (its downlink), a token bucket
with a bounded queue, what a family's slow broadband or a phone's weak signal does.
On a ``tun`` link the bucket comes first and the impairment after it, so a limited
link can lose packets too.

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
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from testkit.browser import LOWER

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

    def limit(self, rate_bps: int | None, *, down: bool = True, up: bool = False,
              queue_ms: int = 200) -> None:
        """Limit the link to ``rate_bps`` towards the namespace (``down``) and/or from
        it (``up``), with a queue of ``queue_ms`` at that rate beyond the burst; None
        removes the limits. A packet that finds the queue full is dropped."""
        in_ns = ("ip", "netns", "exec", self.name)
        for want, where, dev in ((down, (), f"{self.prefix}-h"), (up, in_ns, self.link)):
            subprocess.run([*where, "tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, timeout=20)
            if rate_bps is None or not want:
                continue
            burst = max(4096, rate_bps // 8 // 50)  # 20 ms at the rate, at least 4 KB
            sh(*where, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
               f"{rate_bps}bit", "burst", str(burst), "latency", f"{queue_ms}ms")

    def link_down(self) -> None:
        self.in_ns("ip", "link", "set", self.link, "down")

    def chromium(self, tmp: Path, *, nice: bool = False) -> str:
        """An executable that runs Debian's Chromium inside the namespace (``nice``: as
        ``testkit.browser.chromium`` does, below the server under test)."""
        wrapper = tmp / f"chromium-in-{self.prefix}"
        lower = LOWER if nice else "exec "
        wrapper.write_text(
            f'#!/bin/sh\n{lower}ip netns exec {self.name} /usr/bin/chromium "$@"\n')
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
def network(prefix: str, octet: int, link: Literal["veth", "tun"]) -> Iterator[Netns]:
    """A namespace (needs root), removed afterwards, whatever happened."""
    ns = Netns(prefix, octet)
    ns.cleanup()
    try:
        ns.create(link)
        yield ns
    finally:
        ns.cleanup()


# Counts UDP bytes on a port until the sender's "end" datagram or a deadline; prints
# the bytes and the seconds between the first and the last datagram.
_COUNT = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(1.0)
deadline = time.monotonic() + float(sys.argv[2])
n, first, last = 0, None, None
while time.monotonic() < deadline:
    try:
        data = s.recv(2048)
    except TimeoutError:
        if first is not None:
            break
        continue
    if data == b"end":
        break
    last = time.monotonic()
    first = first or last
    n += len(data)
print(n, (last or 0) - (first or 0), flush=True)
"""


# Sends ``size``-byte UDP datagrams to host:port at a bit rate for some seconds, then
# "end"; prints how many it sent.
_SEND = """
import socket, sys, time
host, port, bps, seconds, size = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, interval, sent = b"x" * int(size), size * 8 / bps, 0
t0 = time.monotonic()
while (now := time.monotonic()) - t0 < seconds:
    if sent * interval <= now - t0:
        s.sendto(payload, (host, port))
        sent += 1
    else:
        time.sleep(interval / 4)
time.sleep(0.5)
s.sendto(b"end", (host, port))
print(sent, flush=True)
"""


def blast(ns: Netns, *, down: bool, send_bps: int, seconds: float,
          size: int = 1000) -> tuple[float, float]:
    """Send UDP at ``send_bps`` for ``seconds`` across the link (towards the namespace
    when ``down``, from it otherwise); returns (bits per second received, fraction of
    the bytes sent that arrived). Bounded: about ``seconds + 5`` s at most."""
    in_ns = ("ip", "netns", "exec", ns.name)
    port = 47000 + os.getpid() % 1000
    target = ns.ns_ip if down else ns.host_ip
    counter = subprocess.Popen([*(in_ns if down else ()), sys.executable, "-c", _COUNT,
                                str(port), str(seconds + 4)], stdout=subprocess.PIPE, text=True)
    try:
        assert counter.stdout is not None
        assert counter.stdout.readline().strip() == "ready"
        sender = subprocess.run(
            [*(() if down else in_ns), sys.executable, "-c", _SEND, target, str(port),
             str(send_bps), str(seconds), str(size)],
            check=True, capture_output=True, text=True, timeout=seconds + 5)
        out, _ = counter.communicate(timeout=5)
    finally:
        if counter.poll() is None:
            counter.kill()
            counter.wait()
    got, span = out.split()
    received, took = int(got), float(span)
    sent = int(sender.stdout)
    return (received * 8 / took if took > 0 else 0.0), received / max(1, sent * size)


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
