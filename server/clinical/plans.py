"""Session-plan templates, stored per clinic, attached to a series or a session.

A plan is a list of phases (name, minutes, layout by role). Clinics ship with the
common plans (``DEFAULTS``, read-only ids ``default-…`` until edited: an edit stores
the clinic's own version under the same id). Attaching a plan to a session copies
its phases into the session state (``SetPlan``); attaching one to a series does so
for every occurrence as it becomes a session. Records carry a schema version ``v``;
a plan holds no personal data, so it is stored in the clear.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooms import commands as c
from rooms.model import PlanLayout, PlanPhase, Role, RoomRule
from rooms.service import RoomService
from rooms.stores import Store

SCHEMA_VERSION = 1
MAX_PHASES = 20
RoleName = Literal["therapist", "co_therapist", "client", "partner", "parent", "family",
                   "child"]
LayoutName = Literal["together", "each_client_with_clinician", "parents_and_children",
                     "households", "custom"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class RoomRuleBody(Strict):
    name: str = Field(min_length=1, max_length=40)
    roles: list[RoleName] = Field(min_length=1, max_length=7)


class PhaseBody(Strict):
    name: str = Field(min_length=1, max_length=40)
    minutes: int = Field(ge=1, le=240)
    layout: LayoutName = "together"
    rooms: list[RoomRuleBody] = Field(default_factory=list, max_length=20,
                                      description="custom layout only: the rooms and "
                                                  "which roles go to each")

    @model_validator(mode="after")
    def _rooms(self) -> PhaseBody:
        if (self.layout == "custom") != bool(self.rooms):
            raise ValueError("rooms: give them for a custom layout, and only then")
        return self


class PlanBody(Strict):
    name: str = Field(min_length=1, max_length=80)
    phases: list[PhaseBody] = Field(min_length=1, max_length=MAX_PHASES)


class PlanRecord(PlanBody):
    v: int = SCHEMA_VERSION
    id: str
    owner: str | None = Field(description="who saved it last; null for a shipped default")
    updated: float = 0.0
    default: bool = False


def _default(pid: str, name: str, *phases: tuple[str, int, LayoutName]) -> PlanRecord:
    return PlanRecord(id=pid, name=name, owner=None, default=True, phases=[
        PhaseBody(name=n, minutes=m, layout=layout) for n, m, layout in phases])


DEFAULTS: dict[str, PlanRecord] = {p.id: p for p in (
    _default("default-couples", "Couples: joint, partners apart, joint",
             ("Joint", 20, "together"), ("Partners apart", 15, "each_client_with_clinician"),
             ("Joint", 10, "together")),
    _default("default-family", "Family: together, parents and children, together",
             ("Together", 15, "together"), ("Parents and children", 25, "parents_and_children"),
             ("Together", 10, "together")),
    _default("default-group", "Multi-family group: together, each household, together",
             ("Group", 30, "together"), ("Each household", 20, "households"),
             ("Group", 10, "together")),
)}


def phases_of(plan: PlanBody) -> tuple[PlanPhase, ...]:
    """The rooms domain's phases for a stored plan."""
    return tuple(
        PlanPhase(p.name, p.minutes, PlanLayout(p.layout),
                  tuple(RoomRule(r.name, tuple(Role(x) for x in r.roles)) for r in p.rooms))
        for p in plan.phases)


class PlanError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _key(pid: str) -> str:
    return f"plans:plan:{pid}"


class PlanBook:
    """The clinic's plans and which series / session each is attached to."""

    def __init__(self, store: Store, rooms: RoomService) -> None:
        self._store = store
        self._rooms = rooms

    async def get(self, pid: str) -> PlanRecord | None:
        found = await self._store.get(_key(pid))
        if found is None:
            return DEFAULTS.get(pid)
        return PlanRecord.model_validate(json.loads(found.value))

    async def list(self) -> list[PlanRecord]:
        stored = await self._store.set_members("plans:all")
        ids = sorted(stored - DEFAULTS.keys())
        out = [await self.get(pid) for pid in (*DEFAULTS, *ids)]
        return [p for p in out if p is not None]

    async def save(self, owner: str, body: PlanBody, pid: str | None = None) -> PlanRecord:
        if pid is not None and await self.get(pid) is None:
            raise PlanError(404, "not_found", "no such plan")
        record = PlanRecord(**body.model_dump(), id=pid or "plan-" + uuid.uuid4().hex[:12],
                            owner=owner, updated=time.time())
        await self._store.put(_key(record.id), record.model_dump_json().encode())
        await self._store.set_add("plans:all", record.id)
        return record

    async def delete(self, pid: str) -> None:
        """A clinic's own plan is deleted; a default returns to how it shipped."""
        if await self.get(pid) is None:
            raise PlanError(404, "not_found", "no such plan")
        await self._store.delete(_key(pid))
        await self._store.set_remove("plans:all", pid)

    # --- attachments -------------------------------------------------------------
    async def attach_series(self, series_id: str, pid: str | None) -> None:
        if pid is None:
            await self._store.delete(f"plans:series:{series_id}")
            return
        if await self.get(pid) is None:
            raise PlanError(404, "not_found", "no such plan")
        await self._store.put(f"plans:series:{series_id}", pid.encode())

    async def of_series(self, series_id: str) -> str | None:
        found = await self._store.get(f"plans:series:{series_id}")
        return None if found is None else found.value.decode()

    async def attach_session(self, session_id: str, actor: str, pid: str) -> PlanRecord:
        """Copy the plan into the session's state (refused while a plan is running)."""
        plan = await self.get(pid)
        if plan is None:
            raise PlanError(404, "not_found", "no such plan")
        await self._rooms.execute(session_id, c.SetPlan(
            actor=actor, plan_id=plan.id, name=plan.name, phases=phases_of(plan)))
        return plan

    async def on_occurrence(self, series_id: str, session_id: str, owner: str) -> None:
        """An occurrence became a session: it follows the series' plan."""
        pid = await self.of_series(series_id)
        if pid is not None and await self.get(pid) is not None:
            await self.attach_session(session_id, owner, pid)
