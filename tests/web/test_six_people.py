"""A six-person family admitted all at once: every page decodes the colour and hears
the audio of every other present person, again after breakouts open (room-mates
only) and after close-all (everyone), in each of several repetitions.

Six Chromiums on a small host: 160x120 solid-colour cameras at 10 fps, Chromium
under ``nice``. Between repetitions everyone is sent back to the lobby and admitted
again with "Admit everyone", on the same browsers; the breakouts start from the last
admission. What "decodes and hears" means is in
tests/web/family.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import Server
from tests.web.family import Family, Person

# Admissions in one run (everyone sent back to the lobby and admitted again between
# them): ten took 95 s on a shared two-core host (load 15-23).
REPS = int(os.environ.get("HEARTH_SIX_REPS", "10"))
PEOPLE = [  # the therapist is red
    Person("Cole", "co_therapist", None, "green"), Person("Ana", "client", None, "blue"),
    Person("Ben", "partner", None, "yellow"), Person("Pat", "parent", None, "magenta"),
    Person("Kit", "child", "Pat", "cyan"),
]
# The couple in Room 1, the parent with the child in Room 2; the clinicians stay.
ASSIGNED = {"Room 1": ("Ana", "Ben"), "Room 2": ("Pat", "Kit")}


def keep_log(server: Server, tmp_path: Path) -> None:
    Path(os.environ.get("HEARTH_SIX_LOG", tmp_path / "server.log")).write_text(
        "".join(server.log))


@pytest.fixture(scope="module")
def family(playwright_instance: object, server: Server,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Family]:
    """One family for both tests: the breakouts start from the admissions' last round
    (six browsers launched and joined once)."""
    family = Family(playwright_instance, server, tmp_path_factory.mktemp("six"), PEOPLE,
                    "Six of us")
    yield family
    family.close()


@pytest.mark.timeout(1200)
def test_six_people_admitted_at_once_see_and_hear_everyone(
        family: Family, server: Server, tmp_path: Path) -> None:
    timings: list[float] = []
    try:
        for rep in range(REPS):
            if rep:
                family.back_to_lobby()
            timings.append(family.admit_all())
        print("six people admitted at once, seconds to settle:", [round(t, 2) for t in timings])
        print("relay repairs:", {what: sum(what in line for line in server.log) for what in (
            "media gap repair", "repair restarts media", "peer connection")})
    except Exception:
        keep_log(server, tmp_path)
        print("".join(line for line in server.log[-600:]
                      if "gap" in line or "WARNING" in line or "ERROR" in line)[-8000:])
        raise


@pytest.mark.timeout(1800)
def test_six_people_in_breakouts_see_only_their_room_mates(
        family: Family, server: Server, tmp_path: Path) -> None:
    try:
        if not family.admitted:
            family.admit_all()
        family.open_breakouts(ASSIGNED)
        family.close_all()
    except Exception:
        keep_log(server, tmp_path)
        raise
