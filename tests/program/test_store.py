"""The program over both stores: sealed households, versioned records, upgrades."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from icalendar import Calendar

from rooms.service import RoomService
from rooms.stores import Store
from server.accounts import Accounts
from server.directory import Directory
from server.keys import DataKeys
from server.program import recurrence
from server.program.ics import series_ics
from server.program.models import HouseholdBody, Member, SeriesRecord
from server.program.sealing import Sealer
from server.program.service import Program, Viewer
from signaling.tokens import LinkSigner

PASSWORD = "a perfectly long password"


def program(store: Store, sealer: Sealer) -> Program:
    links = LinkSigner({"k1": b"k" * 32}, "k1", issuer="https://hearth.test", store=store)
    return Program(store, sealer, accounts=Accounts(store, sealer), directory=Directory(store),
                   rooms=RoomService(store), links=links, public_url="https://hearth.test")


async def test_household_fields_are_sealed_at_rest_and_keys_rotate(any_store: Store) -> None:
    old_key, new_key = AESGCM(AESGCM.generate_key(256)), AESGCM(AESGCM.generate_key(256))
    p = program(any_store, Sealer(old_key))
    account = await Accounts(any_store, Sealer(old_key)).create("dr.seal", PASSWORD)
    await p.make_admin(account)
    viewer = Viewer(account, "admin")
    body = HouseholdBody(label="Okafor-Lindqvist", members=[
        Member(id="m" + "1" * 15, name="Adaeze Okafor", role="client",
               email="adaeze@example.org", emergency_contact="Chidi +44 20 7946 0000",
               date_of_birth="1984-02-29"),
    ])
    record = await p.create_household(account.id, body)
    raw = (await any_store.get(f"program:household:{record.id}"))
    assert raw is not None
    stored = json.loads(raw.value)
    assert stored["v"] == 1
    text = raw.value.decode()
    for secret in ("Okafor", "Adaeze", "adaeze@example.org", "7946", "1984-02-29"):
        assert secret not in text
    # Rotation: the new key first, the old one still opens; reseal moves everything over.
    rotated = program(any_store, Sealer(DataKeys(new_key, [old_key])))
    assert (await rotated.household(viewer, record.id))[1] == body
    assert await rotated.reseal_households() >= 1
    only_new = program(any_store, Sealer(new_key))
    assert (await only_new.household(viewer, record.id))[1] == body


async def test_upgrade_from_accounts_and_sessions_without_roles(any_store: Store) -> None:
    """Today's stored accounts and session records gain roles and stay readable."""
    accounts = Accounts(any_store, Sealer(AESGCM(AESGCM.generate_key(256))))
    first = await accounts.create("dr.first", PASSWORD)
    second = await accounts.create("dr.second", PASSWORD)
    legacy = await Directory(any_store).create(second.id, "Tuesday family", None, None)
    p = program(any_store, Sealer(AESGCM(AESGCM.generate_key(256))))
    assert (await p.staff(second.id)).role == "therapist"  # type: ignore[union-attr]
    assert (await p.staff(first.id)).role == "admin"  # type: ignore[union-attr]
    for account in (first, second):
        raw = await any_store.get(f"program:staff:{account.id}")
        assert raw is not None
        assert json.loads(raw.value)["v"] == 1
    # An unversioned staff record (as written before versions) still reads as version 1.
    await any_store.put(f"program:staff:{second.id}", json.dumps(
        {"account_id": second.id, "role": "therapist", "active": True, "since": 1.0}).encode())
    assert (await p.staff(second.id)).v == 1  # type: ignore[union-attr]
    viewer = await p.viewer(second)
    assert viewer is not None
    assert [r.id for r in await p.sessions_for(viewer)] == [legacy.id]
    admin = await p.viewer(first)
    assert admin is not None
    assert legacy.id in [r.id for r in await p.sessions_for(admin)]


def test_ics_is_stable_and_carries_rule_zone_exceptions_and_alarm() -> None:
    series = SeriesRecord(
        id="s1", household_id="h1", owner="a1", timezone="America/New_York",
        weekdays=[0, 2, 3], start_time="19:00", duration_minutes=90, first_date="2027-03-01",
        count=12, cancelled=[3], created=1_790_000_000.0,
    )
    items = recurrence.occurrences(series)
    moved_to = items[7].starts_at + 2 * 86400 - 1800
    series = series.model_copy(update={"moved": {"7": moved_to}})
    items = recurrence.occurrences(series)
    one = series_ics(series, items, uid="s1-m1@hearth", clinic="Northside IOP",
                     url="https://hearth.test/join#tok")
    two = series_ics(series, items, uid="s1-m1@hearth", clinic="Northside IOP",
                     url="https://hearth.test/join#tok")
    assert one == two
    text = one.decode()
    assert "RRULE:FREQ=WEEKLY;COUNT=12;BYDAY=MO,WE,TH" in text
    assert "BEGIN:VTIMEZONE" in text
    assert "TZID:America/New_York" in text
    assert "DTSTART;TZID=America/New_York:20270301T190000" in text
    assert "EXDATE;TZID=America/New_York:20270308T190000" in text  # occurrence 3: Mon 8
    assert "RECURRENCE-ID;TZID=America/New_York:20270317T190000" in text
    assert "BEGIN:VALARM" in text
    assert "TRIGGER:-PT1H" in text
    cal = Calendar.from_ical(one)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 2
    assert events[1].decoded("dtstart").timestamp() == moved_to
    assert str(events[0]["summary"]) == "Northside IOP: video session"
