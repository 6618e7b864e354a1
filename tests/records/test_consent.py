"""Consent documents and ledger entries on both stores."""

from __future__ import annotations

import asyncio
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms.model import Participant, Role
from rooms.stores import Store
from server.records.consent import DEFAULT_TELEHEALTH, ConsentLedger, content_hash
from server.records.people import Member
from server.records.sealed import Sealer


class Program:
    async def member_of(self, session_id: str, participant_id: str) -> Member:
        return Member(f"mem-{participant_id}", "house-1")


async def test_versions_are_numbered_once_and_old_hashes_stay(any_store: Store) -> None:
    ledger = ConsentLedger(any_store, Sealer(AESGCM(os.urandom(32))))
    first = await ledger.current("telehealth")
    assert first is not None
    assert first.version == 1
    assert first.hash == content_hash("telehealth", "Telehealth consent", DEFAULT_TELEHEALTH)
    assert await ledger.current("recording") is None
    docs = await asyncio.gather(*(
        ledger.publish("group", "Group participation", f"Text number {i} for the group.",
                       False, "dr") for i in range(4)))
    assert sorted(d.version for d in docs) == [1, 2, 3, 4]
    await ledger.publish("telehealth", "Telehealth consent", "A new telehealth text here.",
                         False, "dr")
    history = await ledger.history("telehealth")
    assert [d.version for d in history] == [1, 2]
    assert history[0].hash == first.hash
    assert history[1].required  # telehealth is always required


async def test_a_consent_given_once_holds_in_every_occurrence_of_a_member(
        any_store: Store) -> None:
    ledger = ConsentLedger(any_store, Sealer(AESGCM(os.urandom(32))), Program())
    doc = await ledger.current("telehealth")
    assert doc is not None
    alex = Participant("alex", Role.CLIENT, "Alex")
    await ledger.record("accept", doc, session_id="occurrence-1", participant=alex, jti="j1")
    standing = await ledger.standing("occurrence-2", "alex")
    assert standing["telehealth"].state == "accepted"
    raw = await any_store.range("consent-of:m:mem-alex")
    assert len(raw) == 1
    assert b"Alex" not in raw[0]


async def test_an_entry_under_another_key_is_counted_not_guessed(any_store: Store) -> None:
    ours = ConsentLedger(any_store, Sealer(AESGCM(os.urandom(32))))
    theirs = ConsentLedger(any_store, Sealer(AESGCM(os.urandom(32))))
    doc = await ours.current("telehealth")
    assert doc is not None
    await theirs.record("accept", doc, session_id="s", participant=Participant(
        "x", Role.CLIENT, "X"))
    await ours.record("accept", doc, session_id="s", participant=Participant(
        "y", Role.CLIENT, "Y"))
    entries, unreadable = await ours.entries()
    assert [e.participant_id for e in entries] == ["y"]
    assert unreadable == 1
    assert (await ours.standing("s", "x"))["telehealth"].state == "missing"
