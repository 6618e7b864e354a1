"""Embedded store: one SQLite file, used by a single worker thread.

SQLite is in the standard library, survives restarts (accounts, scheduled
sessions, invitations) and needs no service. All calls run on one dedicated
thread so a slow fsync never blocks the event loop that forwards media.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from rooms.stores.base import StoreUnavailable, Versioned

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS lists (
    key TEXT NOT NULL, idx INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, idx)
);
CREATE TABLE IF NOT EXISTS sets (
    key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member)
);
"""


class SqliteStore:
    """The embedded default backend."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self._path = str(path)
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-sqlite")
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(self._path, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the data file: {exc}") from exc
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                result = fn(db)
                db.execute("COMMIT")
                return result
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL); a second
                # ROLLBACK would fail and hide the cause ("database or disk is full").
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _current(self, db: sqlite3.Connection, key: str) -> tuple[bytes, int] | None:
        row = db.execute(
            "SELECT value, version, expires_at FROM kv WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row[2] is not None and row[2] <= self._clock():
            db.execute("DELETE FROM kv WHERE key = ?", (key,))
            return None
        return bytes(row[0]), int(row[1])

    async def get(self, key: str) -> Versioned | None:
        def op(db: sqlite3.Connection) -> Versioned | None:
            cur = self._current(db, key)
            return None if cur is None else Versioned(cur[0], cur[1])

        return await self._run(op)

    async def _write(
        self, key: str, value: bytes, expected: int | None, ttl: float | None
    ) -> int | None:
        def op(db: sqlite3.Connection) -> int | None:
            cur = self._current(db, key)
            version = 0 if cur is None else cur[1]
            if expected is not None and version != expected:
                return None
            db.execute(
                "INSERT OR REPLACE INTO kv (key, value, version, expires_at) VALUES (?,?,?,?)",
                (key, value, version + 1, self._expiry(ttl)),
            )
            return version + 1

        return await self._run(op)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        version = await self._write(key, value, None, ttl)
        assert version is not None
        return version

    async def cas(
        self, key: str, value: bytes, *, expected_version: int, ttl: float | None = None
    ) -> int | None:
        return await self._write(key, value, expected_version, ttl)

    async def add_once(self, key: str, value: bytes = b"", *, ttl: float | None = None) -> bool:
        return await self._write(key, value, 0, ttl) is not None

    async def delete(self, key: str) -> None:
        def op(db: sqlite3.Connection) -> None:
            for table in ("kv", "lists", "sets"):
                db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))  # noqa: S608

        await self._run(op)

    async def append(self, key: str, value: bytes) -> int:
        def op(db: sqlite3.Connection) -> int:
            (count,) = db.execute("SELECT COUNT(*) FROM lists WHERE key = ?", (key,)).fetchone()
            db.execute("INSERT INTO lists (key, idx, value) VALUES (?,?,?)", (key, count, value))
            return int(count) + 1

        return await self._run(op)

    async def range(self, key: str, start: int = 0, stop: int = -1) -> list[bytes]:
        def op(db: sqlite3.Connection) -> list[bytes]:
            rows = db.execute(
                "SELECT value FROM lists WHERE key = ? ORDER BY idx", (key,)
            ).fetchall()
            items = [bytes(r[0]) for r in rows]
            end = None if stop == -1 else stop + 1
            return items[start:end]

        return await self._run(op)

    async def replace_item(self, key: str, index: int, old: bytes, new: bytes) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            cur = db.execute("UPDATE lists SET value = ? WHERE key = ? AND idx = ? AND value = ?",
                             (new, key, index, old))
            return cur.rowcount == 1

        return await self._run(op)

    async def set_add(self, key: str, member: str) -> None:
        await self._run(
            lambda db: db.execute("INSERT OR IGNORE INTO sets VALUES (?,?)", (key, member))
        )

    async def set_remove(self, key: str, member: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM sets WHERE key = ? AND member = ?", (key, member))
        )

    async def set_members(self, key: str) -> set[str]:
        def op(db: sqlite3.Connection) -> set[str]:
            rows = db.execute("SELECT member FROM sets WHERE key = ?", (key,)).fetchall()
            return {str(r[0]) for r in rows}

        return await self._run(op)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)
