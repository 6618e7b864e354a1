"""The published schemas of `state` and `notice` match what the server really sends.

Real snapshots for every viewer role, and real notices produced by the machine and the
outbox, validate against the models (unknown fields refused), every notice kind the
server can send is in the schema, and docs/schemas/*.json are the generated ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rooms import commands as c
from rooms.machine import handle
from rooms.model import Role, Session
from rooms.stores.sqlite import SqliteStore
from signaling.chat import ChatLog
from signaling.contract import NOTICE, SCHEMAS, State, notice_kinds, render, schemas
from signaling.outbox import NOTICES, Outbox
from signaling.views import snapshot
from tests.rooms.builders import CO, FAM, NOW, OBS, PARENT, A, B, K, T, every_role_live

PEOPLE = (T, CO, A, B, K, OBS, PARENT, FAM)


def test_schema_files_are_current() -> None:
    for name, schema in schemas().items():
        assert (SCHEMAS / name).read_text() == render(schema), (
            "regenerate with `python -m signaling.contract`")


def test_every_notice_kind_the_server_sends_is_in_the_schema() -> None:
    # Domain notices, plus the two the transport layer sends (drain, second tab).
    assert {str(k) for k in NOTICES} | {"moved", "superseded"} <= notice_kinds()


def scenario() -> list[tuple[Session, list[Any]]]:
    """A session through lobby, breakouts and the end: every state and its events."""
    s = every_role_live()
    steps: list[tuple[Session, list[Any]]] = []
    cmds: list[c.Command] = [
        c.AddParticipant(actor=T, participant_id="w", role=Role.FAMILY, display_name="W"),
        c.Knock(actor="w", consent_version="v1"),
        c.LobbyMessage(actor=T, target="w", text="one moment"),
        c.Deny(actor=T, target="w", message="not today"),
        c.MuteRequest(actor=CO, target=A),
        c.CameraOffRequest(actor=CO, target=B),
        c.AskToUnmute(actor=T, target=A),
        c.CreateBreakouts(actor=T, names=("one", "two")),
        c.AssignAuto(actor=T),
        c.OpenBreakouts(actor=T, duration=600),
        c.Broadcast(actor=T, text="five minutes"),
        c.AskForHelp(actor=A),
        c.CloseAll(actor=T, grace=30),
        c.Tick(actor=c.SYSTEM, now=NOW + 31),
        c.RemoveParticipant(actor=T, target=FAM),
        c.EndSession(actor=T),
    ]
    for cmd in cmds:
        now = cmd.now if isinstance(cmd, c.Tick) else NOW + 1
        s, events = handle(s, cmd, now=now)
        steps.append((s, events))
    return steps


def test_real_snapshots_match_the_state_schema() -> None:
    for session, _ in scenario():
        for pid in session.participants:
            State.model_validate(snapshot(session, pid, now=NOW))


async def test_real_notices_match_the_notice_schema(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    async def emit(event: str, data: Any, room: str | list[str]) -> None:
        if event == "notice":
            sent.append(data)
        elif event == "state":
            State.model_validate(data)

    async def kick(session_id: str, pid: str | None) -> None:
        return None

    store = SqliteStore(tmp_path / "db")
    outbox = Outbox(emit, kick, ChatLog(store, AESGCM(AESGCM.generate_key(256))))
    for session, events in scenario():
        await outbox.publish(session, events)
    await store.close()
    kinds = {n["kind"] for n in sent}
    assert kinds >= {"knock", "lobby_message", "denied", "mute_requested",
                     "camera_off_requested", "unmute_requested", "breakouts_opened",
                     "broadcast", "help_requested", "close_all_started", "breakouts_closed",
                     "removed", "session_ended"}, kinds
    for notice in sent:
        NOTICE.validate_python(notice)
    for extra in ({"kind": "moved"}, {"kind": "superseded"}):
        NOTICE.validate_python(extra)
    with pytest.raises(ValueError, match="kind"):
        NOTICE.validate_python({"kind": "no_such_notice", "version": 1})
