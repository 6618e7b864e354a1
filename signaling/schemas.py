"""Payload schemas for every client → server event. Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from signaling.registry import Payload

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
MAX_CHAT = 2000
NAME_MAX = 40  # every breakout room name, at create and at rename


class JoinPayload(Payload):
    consent_version: str = Field(min_length=1, max_length=32)
    mic_on: bool = True
    camera_on: bool = True


class Target(Payload):
    participant_id: str = Id


class ChildSafePayload(Payload):
    participant_id: str = Id
    on: bool


class DenyPayload(Payload):
    participant_id: str = Id
    message: str | None = Field(None, max_length=500)


class LobbyMessagePayload(Payload):
    participant_id: str = Id
    text: str = Field(min_length=1, max_length=500)


class SetMediaPayload(Payload):
    mic_on: bool
    camera_on: bool


class HandPayload(Payload):
    raised: bool


class LockPayload(Payload):
    locked: bool


class ScreenSharePayload(Payload):
    relatives: bool  # whether relatives may share a screen (clinicians always may)


class BreakoutsCreatePayload(Payload):
    names: list[Annotated[str, Field(min_length=1, max_length=NAME_MAX)]] = Field(
        min_length=1, max_length=20)


class BreakoutRenamePayload(Payload):
    room_id: str = Id
    name: str = Field(min_length=1, max_length=NAME_MAX)


class BreakoutRoomPayload(Payload):
    room_id: str = Id


class AssignPayload(Payload):
    participant_id: str = Id
    room_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class ByRolePayload(Payload):
    plan: Literal["each_client_with_clinician"]


class OpenPayload(Payload):
    minutes: float | None = Field(None, gt=0, le=240)


class MovePayload(Payload):
    participant_id: str = Id
    room_id: str = Id


class VisitPayload(Payload):
    room_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class ExtendPayload(Payload):
    minutes: float = Field(gt=0, le=120)


class BroadcastPayload(Payload):
    text: str = Field(min_length=1, max_length=500)


class ClosePayload(Payload):
    grace_seconds: float | None = Field(None, ge=0, le=600)


class ChatSendPayload(Payload):
    scope: Literal["room", "clinicians"]
    text: str = Field(min_length=1, max_length=MAX_CHAT)
    to: str | None = Field(
        None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="clinicians only: the participant whose private thread to answer",
    )


class ChatEarlierPayload(Payload):
    scope: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_:-]+$")
    before: int = Field(ge=0, description="the `start` of the earliest page already held")


class PrivateRoomPayload(Payload):
    participant_id: str = Id
    announce: bool = Field(False, description="tell the others who stepped out with whom")


class PlanNextPayload(Payload):
    grace_seconds: float | None = Field(None, ge=0, le=600, description="countdown before "
                                        "open rooms close (default: the session's, 60 s)")


class MediaQualityPayload(Payload):
    level: Literal["good", "fair", "poor", "lost"] = Field(
        description="your own connection, as your page measures what it sends")
