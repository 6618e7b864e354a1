"""The visibility policy: who sees and hears whom, and which chat threads reach whom."""

from __future__ import annotations

from rooms import commands as c
from rooms.machine import handle
from rooms.model import Session
from rooms.visibility import (
    all_threads,
    all_visibility,
    chat_threads,
    readers,
    visible_publishers,
)
from tests.rooms.builders import CO, NOW, OBS, A, B, K, T, family, live_family, run


def assert_threads_match_readers(s: Session) -> None:
    for pid in s.participants:
        reached = {t for t in all_threads(s) if pid in readers(s, t)}
        assert chat_threads(s, pid) == reached, pid


def test_main_room_everyone_sees_everyone_but_observers_publish_nothing() -> None:
    s = live_family()
    assert visible_publishers(s, A) == {T, CO, B, K}
    assert visible_publishers(s, OBS) == {T, CO, A, B, K}
    assert all(OBS not in pubs for pubs in all_visibility(s).values())
    assert all(pid not in pubs for pid, pubs in all_visibility(s).items())  # never yourself


def test_lobby_sees_and_reads_nothing() -> None:
    s = run(family(), c.Knock(actor=A, consent_version="v"), c.Knock(actor=T, consent_version="v"))
    assert visible_publishers(s, A) == frozenset()
    assert A not in visible_publishers(s, T)
    assert chat_threads(s, A) == frozenset()
    assert_threads_match_readers(s)


def test_children_and_observers_do_not_read_room_chat() -> None:
    s = live_family()
    assert readers(s, "main") == {T, CO, A, B}
    assert chat_threads(s, K) == {f"private:{K}"}
    assert chat_threads(s, OBS) == {f"private:{OBS}"}
    assert {"main", "clinical", f"private:{A}", f"private:{K}"} <= chat_threads(s, CO)
    assert readers(s, f"private:{A}") == {T, CO, A}
    assert readers(s, "clinical") == {T, CO}
    assert_threads_match_readers(s)


def test_breakouts_split_media_and_chat_and_a_visit_is_just_data() -> None:
    s = run(live_family(), c.AssignByRole(actor=T), c.OpenBreakouts(actor=T))
    room_a, room_b = s.breakouts.assignment[A], s.breakouts.assignment[B]
    assert visible_publishers(s, A) == {T}
    assert visible_publishers(s, B) == {CO, K}
    assert readers(s, f"breakout:{room_b}") == {CO, B}
    assert_threads_match_readers(s)
    s, events = handle(s, c.Visit(actor=T, room_id=room_b), now=NOW)
    assert "visibility_changed" in [e.kind for e in events]
    assert visible_publishers(s, B) == {T, CO, K}
    assert visible_publishers(s, A) == frozenset()
    assert f"breakout:{room_b}" in chat_threads(s, T)
    assert f"breakout:{room_a}" not in chat_threads(s, T)
    assert_threads_match_readers(s)
