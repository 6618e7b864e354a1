"""What the server sends, as schemas: the ``state`` snapshot and every ``notice`` kind.

A client writer reads docs/schemas/*.json (JSON Schema, generated from these models by
``python -m signaling.contract``); a test validates real snapshots and notices against
the models (unknown fields refused) and checks the files are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schemas"

Role = Literal["therapist", "co_therapist", "client", "partner", "parent", "family", "child",
               "observer"]
Status = Literal["invited", "waiting", "admitted", "connected", "reconnecting", "left",
                 "removed", "denied"]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionInfo(Closed):
    id: str
    title: str
    phase: Literal["scheduled", "open", "live", "ended"]
    locked: bool
    screen_share_relatives: bool


class Person(Closed):
    id: str
    name: str
    role: Role
    status: Status
    room: str | None = Field(description="breakout room id, or null for the main room")
    visiting: str | None = Field(description="breakout a clinician is visiting, or null")
    mic_on: bool
    camera_on: bool
    hand_raised: bool
    child_safe: bool = Field(description="child-safe mode: chat only with clinicians, no "
                                         "screen share, no renaming")


class Me(Person):
    may_share_screen: bool
    chat_scopes: list[str] = Field(description="chat scopes this person may write to")


class Waiting(Closed):
    id: str
    name: str
    role: Role
    knocked_at: float | None


class Room(Closed):
    id: str
    name: str
    members: list[str] = Field(description="participant ids (non-clinicians: only those "
                                           "present in their own room)")


class BreakoutView(Closed):
    phase: Literal["none", "draft", "open", "closing", "closed"]
    deadline: float | None
    closing_deadline: float | None
    require_clinician: bool
    rooms: list[Room] = Field(description="every room for clinicians; one's own otherwise")


class PlanPhaseView(Closed):
    name: str
    minutes: int
    layout: Literal["together", "each_client_with_clinician", "parents_and_children",
                    "households", "custom"]


class PlanView(Closed):
    name: str
    status: Literal["none", "ready", "running", "finished"]
    index: int = Field(description="the current phase, -1 before the first")
    started_at: float | None = Field(description="when the current phase started")
    pending: int | None = Field(description="the phase whose rooms form when the closing "
                                "countdown ends (from one split phase to another)")
    phases: list[PlanPhaseView]


class PrivateRoom(Closed):
    room: str | None = Field(description="its room id (null for people told only that "
                                         "someone stepped out)")
    clinician: str
    clinician_name: str
    guest: str
    guest_name: str
    announce: bool


class State(Closed):
    """The ``state`` event: what one viewer may see. Keep the highest ``version``."""

    version: int
    now: float = Field(description="server clock (Unix seconds) when the snapshot was made")
    session: SessionInfo
    me: Me
    participants: list[Person] = Field(description="everyone present for clinicians; the "
                                                   "people in one's own room otherwise")
    lobby: list[Waiting] = Field(description="people waiting; empty for non-clinicians")
    breakouts: BreakoutView
    plan: PlanView | None = Field(description="the session plan (clinicians only)")
    private_rooms: list[PrivateRoom] = Field(
        description="every private room for clinicians; for others their own and those "
                    "the clinician chose to announce")


class Notice(Closed):
    version: int = Field(description="the state version the change produced")


class Plain(Notice):
    """A notice with no data: what happened is the kind."""

    kind: Literal["removed", "session_ended", "sent_back", "mute_requested",
                  "camera_off_requested", "unmute_requested", "breakouts_closed"]


class Denied(Notice):
    kind: Literal["denied"]
    text: str = ""


class Knock(Notice):
    kind: Literal["knock"]
    participant_id: str
    name: str


class LobbyMessage(Notice):
    kind: Literal["lobby_message"]
    text: str


class Broadcast(Notice):
    kind: Literal["broadcast"]
    text: str
    from_: str = Field(alias="from")


class HelpRequested(Notice):
    kind: Literal["help_requested"]
    participant_id: str
    name: str
    room: str | None


class BreakoutsOpened(Notice):
    kind: Literal["breakouts_opened"]
    deadline: float | None


class CloseAllStarted(Notice):
    kind: Literal["close_all_started"]
    seconds: float
    deadline: float


class ChildReturned(Notice):
    kind: Literal["child_returned"]
    participant_id: str


class PhaseRefused(Notice):
    kind: Literal["phase_refused"]
    index: int
    name: str
    reason: str


class Moved(Closed):
    """The node is shutting down: reconnect to the address first used, then ``join``."""

    kind: Literal["moved"]


class Superseded(Closed):
    """Another connection with the same link took over; this one is closed."""

    kind: Literal["superseded"]


AnyNotice = Annotated[
    Plain | Denied | Knock | LobbyMessage | Broadcast | HelpRequested | BreakoutsOpened
    | CloseAllStarted | ChildReturned | PhaseRefused | Moved | Superseded,
    Field(discriminator="kind"),
]
NOTICE = TypeAdapter(AnyNotice)


def notice_kinds() -> set[str]:
    """Every notice kind the schema describes."""
    kinds: set[str] = set()
    for model in (Plain, Denied, Knock, LobbyMessage, Broadcast, HelpRequested,
                  BreakoutsOpened, CloseAllStarted, ChildReturned, PhaseRefused, Moved,
                  Superseded):
        kinds.update(model.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]
    return kinds


def schemas() -> dict[str, dict[str, Any]]:
    state = State.model_json_schema()
    notice = NOTICE.json_schema(by_alias=True)
    state["$schema"] = notice["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    state["title"], notice["title"] = "Hearth state snapshot", "Hearth notice"
    return {"state.schema.json": state, "notice.schema.json": notice}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (SCHEMAS / name).write_text(render(schema))
        print(f"wrote docs/schemas/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
