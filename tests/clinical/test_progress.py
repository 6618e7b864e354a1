"""The draft progress note groups notes by the plan's phase, and a note is filed under
the phase the session state carries (read defensively: no plan, no phase)."""

from __future__ import annotations

from dataclasses import replace

from rooms.model import PlanPhase, PlanRun, PlanStatus, Role
from server.clinical.notes import Note, phase_of
from server.clinical.progress import progress_note
from server.records.attendance import Segment, Track
from tests.rooms.builders import live_family


def note(text: str, phase: str | None, at: float, room: str = "Main room") -> Note:
    return Note(f"n{at}", "s1", "therapist", "Dr T", "main", room, phase, text, at, at)


def test_a_note_is_filed_under_the_running_plans_phase() -> None:
    s = live_family()
    assert phase_of(s) is None  # no plan
    phases = (PlanPhase("Joint", 20), PlanPhase("Partners apart", 15))
    ready = replace(s, plan=PlanRun(PlanStatus.READY, "p", "Couples", phases))
    assert phase_of(ready) is None  # attached, not started
    running = replace(ready, plan=replace(ready.plan, status=PlanStatus.RUNNING, index=1))
    assert phase_of(running) == "Partners apart"
    done = replace(running, plan=replace(running.plan, status=PlanStatus.FINISHED))
    assert phase_of(done) is None


def test_notes_grouped_by_phase_with_attendees_minutes() -> None:
    s = live_family()
    track = Track("s1", "client", Role.CLIENT.value, "Alex", None, None)
    track.segments.append(Segment(place="main", room_name="Main room", media="av",
                                  start=1_800_000_000.0, end=1_800_000_000.0 + 45 * 60))
    notes = [note("Goals set", "Joint", 1_800_000_060.0),
             note("Alex alone", "Partners apart", 1_800_001_000.0, "Room 1"),
             note("Closing", "Joint", 1_800_002_000.0)]
    md = progress_note("Rivera couple", s, [track], notes, 1_800_003_000.0).splitlines()
    assert "- Date: 2027-01-15 08:00 UTC" in md
    assert "- Duration: 45 minutes" in md
    assert "- Alex (Client): 45 min" in md
    phases = md[md.index("## Phases") + 2:md.index("## Notes") - 1]
    assert phases == ["- Joint", "- Partners apart"]
    joint = md.index("### Phase: Joint")
    apart = md.index("### Phase: Partners apart")
    assert md[joint + 2].endswith("Dr T, Main room: Goals set")
    assert md[joint + 3].endswith("Dr T, Main room: Closing")
    assert md[apart + 2].endswith("Dr T, Room 1: Alex alone")
