"""The stored session record: one schema-versioned format, and older records still read."""

from __future__ import annotations

import json

import pytest

from rooms import commands as c
from rooms.model import (
    SCHEMA,
    BreakoutPhase,
    ParticipantStatus,
    RecordError,
    Role,
    from_json,
    to_json,
)
from tests.rooms.builders import CO, OBS, A, T, live_family, run

# Written by the hand-written serializer that preceded the versioned record (no
# "schema" key): a live family in open breakouts, a visit, a raised hand, a dropped
# observer, a custom auto-admit set.
UNVERSIONED = (
    b'{"id":"s1","owner":"therapist","title":"Family","phase":"live","participants":{"therapis'
    b't":{"id":"therapist","role":"therapist","display_name":"Dr T","status":"connected","guar'
    b'dian_of":[],"mic_on":true,"camera_on":true,"hand_raised":false,"visiting":null,"consent_'
    b'version":"v1","knocked_at":1000.0,"disconnected_at":null},"cotherapist":{"id":"cotherapi'
    b'st","role":"co_therapist","display_name":"Cotherapist","status":"connected","guardian_of'
    b'":[],"mic_on":true,"camera_on":true,"hand_raised":false,"visiting":"b1","consent_version'
    b'":"v1","knocked_at":1000.0,"disconnected_at":null},"client":{"id":"client","role":"clien'
    b't","display_name":"Client","status":"connected","guardian_of":[],"mic_on":true,"camera_o'
    b'n":true,"hand_raised":true,"visiting":null,"consent_version":"v1","knocked_at":1000.0,"d'
    b'isconnected_at":null},"partner":{"id":"partner","role":"partner","display_name":"Partner'
    b'","status":"connected","guardian_of":["child"],"mic_on":true,"camera_on":true,"hand_rais'
    b'ed":false,"visiting":null,"consent_version":"v1","knocked_at":1000.0,"disconnected_at":n'
    b'ull},"observer":{"id":"observer","role":"observer","display_name":"Observer","status":"r'
    b'econnecting","guardian_of":[],"mic_on":false,"camera_on":false,"hand_raised":false,"visi'
    b'ting":null,"consent_version":"v1","knocked_at":1000.0,"disconnected_at":1000.0},"child":'
    b'{"id":"child","role":"child","display_name":"Kid","status":"connected","guardian_of":[],'
    b'"mic_on":true,"camera_on":true,"hand_raised":false,"visiting":null,"consent_version":"v1'
    b'","knocked_at":1000.0,"disconnected_at":null}},"breakouts":{"phase":"open","rooms":[{"id'
    b'":"b1","name":"One"},{"id":"b2","name":"Two"}],"assignment":{"client":"b1","partner":"b2'
    b'","therapist":"b1","cotherapist":"b2","child":"b2"},"deadline":1600.0,"closing_deadline"'
    b':null,"require_clinician":false,"next_room":3},"locked":false,"auto_admit":["co_therapis'
    b't","parent"],"screen_share_relatives":true,"limits":{"max_participants":50,"max_breakout'
    b's":20,"reconnect_grace":60.0,"close_grace":60.0},"created":1000.0,"version":25}'
)


def test_an_unversioned_record_reads_and_upgrades() -> None:
    s = from_json(UNVERSIONED)
    assert s.breakouts.phase is BreakoutPhase.OPEN
    assert s.participants[CO].visiting == "b1"
    assert s.participants[A].hand_raised is True
    assert s.participants[OBS].status is ParticipantStatus.RECONNECTING
    assert s.auto_admit == {Role.CO_THERAPIST, Role.PARENT}
    assert isinstance(s.participants[A].guardian_of, tuple)
    assert list(s.participants) == list(json.loads(UNVERSIONED)["participants"])
    upgraded = json.loads(to_json(s))
    assert upgraded.pop("schema") == SCHEMA
    # Same fields, now versioned; fields added since read as their defaults.
    for p in upgraded["participants"].values():
        assert p.pop("household") is None
        assert p.pop("child_safe") is None  # the role's default
    assert upgraded.pop("asides") == []
    assert upgraded.pop("plan")["status"] == "none"
    assert upgraded == json.loads(UNVERSIONED)
    assert [pid for pid, p in s.participants.items() if p.is_child_safe] == ["child"]


def test_round_trip_keeps_everything() -> None:
    s = run(live_family(), c.CreateBreakouts(actor=T, names=("One",)),
            c.Assign(actor=T, target=A, room_id="b1"))
    assert from_json(to_json(s)) == s
    assert to_json(from_json(to_json(s))) == to_json(s)  # stable bytes


@pytest.mark.parametrize("schema", [SCHEMA + 1, -1, "1"])
def test_a_record_from_an_unknown_schema_is_refused(schema: object) -> None:
    d = json.loads(UNVERSIONED)
    d["schema"] = schema
    with pytest.raises(RecordError):
        from_json(json.dumps(d).encode())


def test_a_corrupt_record_is_refused_by_validation() -> None:
    from pydantic import ValidationError

    d = json.loads(UNVERSIONED)
    d["participants"][A]["status"] = "teleported"
    with pytest.raises(ValidationError):
        from_json(json.dumps(d).encode())
