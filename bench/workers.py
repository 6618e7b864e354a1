"""Client worker processes for the benchmarks: spawned, driven over a pipe, bounded.

Both the relay and the signaling benchmarks spread their clients over processes so
that one client event loop is never the bottleneck; each process answers commands
sent down its pipe. Every wait here has a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable
from typing import Any


class RunError(RuntimeError):
    """A run could not be measured (a client process failed or went silent)."""


class WorkerHandle:
    """A client process and its command pipe; every call is bounded in time.

    ``target(conn, *args)`` runs in the child: it sends ``("ready", info)`` once set
    up, then answers each ``(command, args)`` with ``("ok", result)`` or
    ``("error", text)``; ``("close", ())`` ends it.
    """

    def __init__(self, target: Callable[..., None], *args: Any,
                 start_limit: float = 60, close_limit: float = 15) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()
        self.pid = self.proc.pid or 0
        self._start_limit = start_limit
        self._close_limit = close_limit

    async def _recv(self, limit_s: float) -> tuple[str, Any]:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self.conn.poll, limit_s)
        if not ready:
            raise RunError(f"client process {self.proc.pid} did not answer in {limit_s:.0f} s")
        reply: tuple[str, Any] = self.conn.recv()
        return reply

    async def started(self) -> None:
        status, pid = await self._recv(self._start_limit)
        if isinstance(pid, int):
            self.pid = pid
        if status != "ready":
            raise RunError(f"client process failed to start: {status}")

    async def call(self, command: str, *args: Any, limit_s: float = 60) -> Any:
        self.conn.send((command, args))
        status, result = await self._recv(limit_s)
        if status != "ok":
            raise RunError(f"client {command} failed: {result}")
        return result

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(("close", ()))
            await self._recv(self._close_limit)
        await asyncio.get_running_loop().run_in_executor(None, self.proc.join, 5)
        if self.proc.is_alive():  # only our own child, by its handle
            self.proc.terminate()
            self.proc.join(5)
