"""Eight people, two of them with the camera off (audio only), in one admission round:
every page decodes the colour of every other camera-on person and hears the camera-off
people, and shows the camera-off people as avatars with their names, inside the
viewport, no two tiles intersecting; then breakouts (room-mates only, a camera-off
person in each room) and close-all (everyone again).

The six with a camera join with the microphone off (video only): everyone's audio is
checked by the six-person test, and 8 x 7 audio streams through the relay would starve
a two-core host; here the only voices are the camera-off people's, so each page must
hear exactly them.

"Hears" is read three ways (tests/web/family.py): each page's inbound audio streams
advance (getStats), the page's own report to the media reconciler names exactly the
people it should hear, and the server reports no open gap to the therapist. Were a
camera-off person's audio not forwarded, the reports of every page would lack that
person, the server would open a gap for each of them, and the wait would end in an
error naming who does not hear whom.

Seven Chromiums on two cores: six 160x120 solid-colour cameras at 10 fps, and one
Chromium holding both camera-off pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.conftest import Server
from tests.web.family import Family, Person, check_tiles

PEOPLE = [  # the therapist is red; Gus and Liv join with the camera off, the others muted
    Person("Cole", "co_therapist", None, "green", mic=False),
    Person("Ana", "client", None, "blue", mic=False),
    Person("Ben", "partner", None, "yellow", mic=False), Person("Gus", "family", None, None),
    Person("Pat", "parent", None, "magenta", mic=False),
    Person("Kit", "child", "Pat", "cyan", mic=False), Person("Liv", "family", None, None),
]
# Each room holds one camera-off person; the clinicians stay in the main room.
ASSIGNED = {"Room 1": ("Ana", "Ben", "Gus"), "Room 2": ("Pat", "Kit", "Liv")}


@pytest.mark.timeout(600)
def test_eight_people_two_without_camera_see_and_hear_everyone(
        playwright_instance: object, server: Server, tmp_path: Path) -> None:
    family = Family(playwright_instance, server, tmp_path, PEOPLE, "Eight of us",
                    therapist_mic=False)
    try:
        family.admit_all()
        camera_off = {family.ids[p.name] for p in PEOPLE if p.colour is None}
        for name, page in family.pages.items():
            check_tiles(page, f"{name}'s page", camera_off - {family.ids[name]})
        family.open_breakouts(ASSIGNED)
        family.close_all()
        for name, page in family.pages.items():
            check_tiles(page, f"{name}'s page after close-all", camera_off - {family.ids[name]})
    except Exception:
        Path(os.environ.get("HEARTH_SIX_LOG", tmp_path / "server.log")).write_text(
            "".join(server.log))
        raise
    finally:
        family.close()
