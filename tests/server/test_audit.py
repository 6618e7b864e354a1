"""The audit log: hash-chained, readable by the clinic (`hearth audit export`), and
`hearth audit verify` finds an entry edited or deleted directly in the store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import redis

from server.audit import AuditLog, verify_chain
from server.cli import main
from server.composition import create_store
from server.config import load_settings
from testkit.servers import RedisServer


async def write_some(data_dir: Path, redis_url: str | None, n: int = 5) -> None:
    settings = load_settings({}, {"data_dir": data_dir, "redis_url": redis_url})
    store = create_store(settings)
    try:
        log = AuditLog(store, b"salt")
        for i in range(n):
            await log.write("remove" if i % 2 else "admit", actor="t1", subject=f"p{i}",
                            session="s1", address="198.51.100.7")
    finally:
        await store.close()


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            data_dir: Path, redis_url: str | None, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(data_dir))
    if redis_url:
        monkeypatch.setenv("HEARTH_REDIS_URL", redis_url)
    code = main(["audit", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.fresh_url()


def tamper(data_dir: Path, redis_url: str | None, index: int, edit: bool) -> None:
    """Change or delete one entry behind the application's back."""
    if redis_url is None:
        db = sqlite3.connect(data_dir / "hearth.db")
        if edit:
            (raw,) = db.execute("SELECT value FROM lists WHERE key='audit:log' AND idx=?",
                                (index,)).fetchone()
            entry = json.loads(raw)
            entry["action"] = "admit" if entry["action"] == "remove" else "remove"
            db.execute("UPDATE lists SET value=? WHERE key='audit:log' AND idx=?",
                       (json.dumps(entry).encode(), index))
        else:
            db.execute("DELETE FROM lists WHERE key='audit:log' AND idx=?", (index,))
        db.commit()
        db.close()
        return
    client = redis.Redis.from_url(redis_url)
    key = "hearth:audit:log"
    raw = client.lindex(key, index)
    if edit:
        entry = json.loads(raw)
        entry["subject"] = "someone-else"
        client.lset(key, index, json.dumps(entry))
    else:
        client.lrem(key, 1, raw)
    client.close()


@pytest.mark.parametrize("edit", [True, False], ids=["edited", "deleted"])
def test_verify_reports_an_edited_or_deleted_entry(
    tmp_path: Path, backend: str | None, edit: bool, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(write_some(tmp_path, backend))
    code, out = run_cli(monkeypatch, capsys, tmp_path, backend, "verify")
    assert code == 0, out
    assert "intact: 5 entries" in out
    tamper(tmp_path, backend, 2, edit)
    code, out = run_cli(monkeypatch, capsys, tmp_path, backend, "verify")
    assert code != 0
    assert "NOT intact" in out
    assert "entry 3" in out  # the third entry (index 2) is named


async def test_deleting_the_newest_entry_is_caught(tmp_path: Path) -> None:
    await write_some(tmp_path, None)
    tamper(tmp_path, None, 4, edit=False)
    store = create_store(load_settings({}, {"data_dir": tmp_path}))
    try:
        problems = await AuditLog(store, b"").verify()
    finally:
        await store.close()
    assert [p.seq for p in problems] == [5]


def test_export_prints_every_entry_with_hashed_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(write_some(tmp_path, None, n=3))
    code, out = run_cli(monkeypatch, capsys, tmp_path, None, "export")
    assert code == 0
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert {"ts", "actor", "subject", "session", "address", "action", "outcome",
            "prev", "hash"} <= set(entries[0])
    assert "198.51.100.7" not in out
    assert verify_chain(entries) == []
