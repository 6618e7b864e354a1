"""The serving node's catch-up pass, on a real store with a second RoomService standing
in for another node (it commits without telling this one, as a lost bus message would)."""

from __future__ import annotations

from pathlib import Path

from rooms import commands as c
from rooms.model import Session
from rooms.service import RoomService
from rooms.stores.sqlite import SqliteStore
from server.reconcile import Reconciler
from tests.rooms.builders import T, live_family


async def test_missed_versions_are_applied_and_an_ended_session_at_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    here = RoomService(store)
    elsewhere = RoomService(store)  # another node: its commits reach us only via the store
    session = live_family()
    await here.create(session)
    calls: list[tuple[str, int]] = []

    async def ended(s: Session) -> None:
        calls.append(("ended", s.version))

    async def changed(s: Session) -> None:
        calls.append(("changed", s.version))

    served = {session.id}
    rec = Reconciler(here.get, lambda: served, ended=ended, changed=changed)
    here.sinks.append(rec)
    try:
        await rec.run(force=False)  # first sight: what joiners were sent
        assert calls == []
        await here.execute(session.id, c.RaiseHand(actor=T))  # a commit made here
        await rec.run(force=False)
        assert calls == []
        # A commit elsewhere whose bus message is lost: seen once (the message may be on
        # its way), applied on the next pass.
        s2, _ = await elsewhere.execute(session.id, c.LowerHand(actor=T))
        await rec.run(force=False)
        assert calls == []
        await rec.run(force=False)
        assert calls == [("changed", s2.version)]
        # A commit elsewhere whose bus message arrives: nothing to catch up.
        s3, _ = await elsewhere.execute(session.id, c.RaiseHand(actor=T))
        rec.note(session.id, s3.version)
        await rec.run(force=False)
        await rec.run(force=False)
        assert calls == [("changed", s2.version)]
        # A Redis connection came back: everyone gets a fresh snapshot regardless.
        await rec.run(force=True)
        assert calls[-1] == ("changed", s3.version)
        # Ended elsewhere: applied on the first pass that sees it.
        s4, _ = await elsewhere.execute(session.id, c.EndSession(actor=T))
        await rec.run(force=False)
        assert calls[-1] == ("ended", s4.version)
        # Sessions no longer served here are forgotten.
        served.clear()
        await rec.run(force=False)
        assert rec.applied == {}
    finally:
        await rec.close()
        await here.close()
        await elsewhere.close()
        await store.close()
