"""The program service: staff, clinic settings, households, series, occurrences, links.

Runs over the Store protocol only, so SQLite and Redis behave the same. Every record
is written with its schema version; identifying household data is sealed. Series
links are ordinary signed join links whose session claim names the series
(``series:<id>``); ``resolve`` turns such verified claims into the identity of one
member in the occurrence that is open now, or refuses with a code and the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import BaseModel

from rooms.commands import AddParticipant, EndSession
from rooms.errors import DomainError
from rooms.machine import new_session
from rooms.model import Role, SessionPhase
from rooms.service import RoomService
from rooms.stores import Store
from server.accounts import Account, AccountError, Accounts
from server.directory import Directory, SessionRecord
from server.program import recurrence
from server.program.ics import series_ics
from server.program.mail import REMINDERS, Mailer, invitation, reminder
from server.program.models import (
    SESSION_ROLE,
    ClinicSettings,
    HouseholdBody,
    HouseholdRecord,
    LinkRecord,
    Member,
    OccurrenceRecord,
    SeriesRecord,
    StaffRecord,
    StaffRole,
    upgrade,
)
from server.program.sealing import Sealer
from signaling.tokens import JoinClaims, LinkError, LinkSigner

SERIES_PREFIX = "series:"
INVITE_TTL = 7 * 24 * 3600
MAX_MOVE = 14 * 24 * 3600  # an occurrence moves within two weeks of its planned time
M = TypeVar("M", bound=BaseModel)


class ProgramError(Exception):
    """A refused program action; ``code`` is stable, the message safe to show."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SeriesRefusal(LinkError):
    """A series link used outside an occurrence's window; says when the next one starts."""

    def __init__(self, code: str, message: str, next_start: float | None) -> None:
        super().__init__(code, message)
        self.next_start = next_start


@dataclass(frozen=True)
class SessionDefaults:
    max_participants: int = 50
    max_breakouts: int = 20
    reconnect_grace: float = 60.0


@dataclass(frozen=True)
class Viewer:
    """A signed-in, active staff member: who is asking, and with which role."""

    account: Account
    role: StaffRole

    @property
    def id(self) -> str:
        return self.account.id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:15]


class Program:
    def __init__(
        self, store: Store, sealer: Sealer, *, accounts: Accounts, directory: Directory,
        rooms: RoomService, links: LinkSigner, public_url: str,
        defaults: SessionDefaults = SessionDefaults(), clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._accounts = accounts
        self._directory = directory
        self._rooms = rooms
        self._links = links
        self._public_url = public_url
        self._defaults = defaults
        self.clock = clock
        # Called with (series id, session id, owner id) once an occurrence is a session.
        self.on_occurrence: Callable[[str, str, str], Awaitable[None]] | None = None

    # --- records ------------------------------------------------------------------
    async def _read(self, key: str, model: type[M]) -> tuple[M, int] | None:
        found = await self._store.get(key)
        if found is None:
            return None
        return model.model_validate(upgrade(json.loads(found.value))), found.version

    async def _write(self, key: str, record: BaseModel) -> None:
        await self._store.put(key, record.model_dump_json().encode())

    async def _update(self, key: str, model: type[M], change: Callable[[M], M]) -> M:
        """Read-modify-write with compare-and-set, so concurrent edits are not lost."""
        for _ in range(20):
            found = await self._read(key, model)
            if found is None:
                raise ProgramError(404, "not_found", "not found")
            new = change(found[0])
            if await self._store.cas(key, new.model_dump_json().encode(),
                                     expected_version=found[1]) is not None:
                return new
        raise ProgramError(409, "conflict", "changed concurrently, try again")

    # --- staff --------------------------------------------------------------------
    async def upgrade_accounts(self) -> None:
        """Accounts from before staff roles: the oldest becomes admin, the rest therapists."""
        if await self._store.get("program:upgraded") is not None:
            return
        accounts: list[Account] = []
        for name in await self._store.set_members("accounts"):
            account = await self._accounts.get(name)
            if account is not None:
                accounts.append(account)
        accounts.sort(key=lambda a: a.created)
        has_admin = False
        for account in accounts:
            found = await self._read(f"program:staff:{account.id}", StaffRecord)
            if found is not None:
                has_admin = has_admin or found[0].role == "admin"
        for account in accounts:
            if await self._store.get(f"program:staff:{account.id}") is None:
                role: StaffRole = "therapist" if has_admin else "admin"
                has_admin = True
                await self._put_staff(StaffRecord(account_id=account.id, role=role,
                                                  since=account.created))
        await self._store.put("program:upgraded", b"1")

    async def _put_staff(self, record: StaffRecord) -> None:
        await self._write(f"program:staff:{record.account_id}", record)
        await self._store.set_add("program:staff-all", record.account_id)

    async def staff(self, account_id: str) -> StaffRecord | None:
        found = await self._read(f"program:staff:{account_id}", StaffRecord)
        if found is None:
            await self.upgrade_accounts()
            found = await self._read(f"program:staff:{account_id}", StaffRecord)
        if found is None:
            # An account made outside the setup links (e.g. `hearth account create`).
            account = await self._accounts.get_by_id(account_id)
            if account is None:
                return None
            record = StaffRecord(account_id=account_id, role="therapist", since=account.created)
            await self._put_staff(record)
            return record
        return found[0]

    async def may_sign_in(self, account_id: str) -> bool:
        record = await self.staff(account_id)
        return record is not None and record.active

    async def viewer(self, account: Account) -> Viewer | None:
        record = await self.staff(account.id)
        if record is None or not record.active:
            return None
        return Viewer(account, record.role)

    async def make_admin(self, account: Account) -> None:
        """The first account (made with the first-run setup link) runs the clinic."""
        await self._put_staff(StaffRecord(account_id=account.id, role="admin",
                                          since=account.created))

    async def invite_staff(self, role: StaffRole) -> str:
        """A one-time setup link for a new staff account; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        await self._store.put(f"program:invite:{_digest(token)}",
                              json.dumps({"v": 1, "role": role}).encode(), ttl=INVITE_TTL)
        return f"{self._public_url}/setup#{token}"

    async def is_invite(self, token: str) -> bool:
        return await self._store.get(f"program:invite:{_digest(token)}") is not None

    async def accept_invite(self, token: str, username: str, password: str) -> Account:
        key = f"program:invite:{_digest(token)}"
        found = await self._store.get(key)
        if found is None:
            raise AccountError("setup link: expired or already used")
        role = json.loads(found.value)["role"]
        if await self._accounts.get(username) is not None:
            raise AccountError("username: already taken")
        if not await self._store.add_once(f"program:invite-used:{_digest(token)}", ttl=INVITE_TTL):
            raise AccountError("setup link: expired or already used")
        await self._store.delete(key)
        account = await self._accounts.create(username, password)
        await self._put_staff(StaffRecord(account_id=account.id, role=role,
                                          since=account.created))
        return account

    async def list_staff(self) -> list[tuple[StaffRecord, str]]:
        await self.upgrade_accounts()
        out = []
        for aid in await self._store.set_members("program:staff-all"):
            found = await self._read(f"program:staff:{aid}", StaffRecord)
            account = await self._accounts.get_by_id(aid)
            if found is not None and account is not None:
                out.append((found[0], account.username))
        return sorted(out, key=lambda item: item[0].since)

    async def set_active(self, viewer: Viewer, account_id: str, active: bool) -> StaffRecord:
        if account_id == viewer.id:
            raise ProgramError(409, "conflict", "you cannot deactivate your own account")
        return await self._update(f"program:staff:{account_id}", StaffRecord,
                                  lambda r: r.model_copy(update={"active": active}))

    # --- clinic -------------------------------------------------------------------
    async def clinic(self) -> ClinicSettings:
        found = await self._read("program:clinic", ClinicSettings)
        return ClinicSettings() if found is None else found[0]

    async def set_clinic(self, settings: ClinicSettings) -> ClinicSettings:
        await self._write("program:clinic", settings)
        return settings

    # --- households ---------------------------------------------------------------
    def _seal(self, record_id: str, body: HouseholdBody) -> str:
        return self._sealer.seal(body.model_dump_json().encode(), f"household:{record_id}")

    def _open(self, record: HouseholdRecord) -> HouseholdBody:
        plain = self._sealer.open(record.sealed, f"household:{record.id}")
        return HouseholdBody.model_validate_json(plain)

    async def create_household(self, owner: str, body: HouseholdBody) -> HouseholdRecord:
        hid = _new_id("h")
        record = HouseholdRecord(id=hid, owner=owner, created=self.clock(),
                                 sealed=self._seal(hid, body))
        await self._write(f"program:household:{hid}", record)
        await self._store.set_add("program:households", hid)
        await self._store.set_add(f"program:households-of:{owner}", hid)
        return record

    async def household(self, viewer: Viewer, hid: str) -> tuple[HouseholdRecord, HouseholdBody]:
        found = await self._read(f"program:household:{hid}", HouseholdRecord)
        if found is None or not (viewer.role == "admin" or found[0].owner == viewer.id):
            raise ProgramError(404, "not_found", "no such household")
        return found[0], self._open(found[0])

    async def households(self, viewer: Viewer) -> list[tuple[HouseholdRecord, HouseholdBody]]:
        if viewer.role == "co_therapist":
            return []
        key = "program:households" if viewer.role == "admin" else \
            f"program:households-of:{viewer.id}"
        out = []
        for hid in await self._store.set_members(key):
            found = await self._read(f"program:household:{hid}", HouseholdRecord)
            if found is not None:
                out.append((found[0], self._open(found[0])))
        return sorted(out, key=lambda item: item[0].created)

    async def add_member(self, viewer: Viewer, hid: str, member: Member
                         ) -> tuple[HouseholdRecord, HouseholdBody]:
        record, _ = await self.household(viewer, hid)

        def change(r: HouseholdRecord) -> HouseholdRecord:
            body = self._open(r)
            new = HouseholdBody(label=body.label, members=[*body.members, member])
            check_members(new.members)
            return r.model_copy(update={"sealed": self._seal(r.id, new)})

        updated = await self._update(f"program:household:{record.id}", HouseholdRecord, change)
        return updated, self._open(updated)

    async def edit_member(self, viewer: Viewer, hid: str, member_id: str,
                          edit: Callable[[Member], Member]
                          ) -> tuple[HouseholdRecord, HouseholdBody]:
        """Change one person in place: same id, so their series links, consent and
        attendance stay theirs. Sessions already made keep the name they were made with."""
        record, body = await self.household(viewer, hid)
        if member_id not in {m.id for m in body.members}:
            raise ProgramError(404, "not_found", "no such member")

        def change(r: HouseholdRecord) -> HouseholdRecord:
            current = self._open(r)
            members = [edit(m) if m.id == member_id else m for m in current.members]
            check_members(members)
            return r.model_copy(update={"sealed": self._seal(r.id, HouseholdBody(
                label=current.label, members=members))})

        updated = await self._update(f"program:household:{record.id}", HouseholdRecord, change)
        return updated, self._open(updated)

    async def remove_member(self, viewer: Viewer, hid: str, member_id: str
                            ) -> tuple[HouseholdRecord, HouseholdBody]:
        """Remove a person: guardianships to them go, and their series links are revoked."""
        record, body = await self.household(viewer, hid)
        if member_id not in {m.id for m in body.members}:
            raise ProgramError(404, "not_found", "no such member")
        if len(body.members) == 1:
            raise ProgramError(409, "conflict", "a household keeps at least one person")

        def change(r: HouseholdRecord) -> HouseholdRecord:
            current = self._open(r)
            kept = [m.model_copy(update={"guardian_of": [c for c in m.guardian_of
                                                         if c != member_id]})
                    for m in current.members if m.id != member_id]
            return r.model_copy(update={"sealed": self._seal(r.id, HouseholdBody(
                label=current.label, members=kept))})

        updated = await self._update(f"program:household:{record.id}", HouseholdRecord, change)
        for sid in await self._store.set_members("program:series-all"):
            series = await self.series_record(sid)
            if series is None or series.household_id != hid:
                continue
            key = self._link_key(sid, member_id)
            link = await self._read(key, LinkRecord)
            if link is not None:
                await self._links.revoke(link[0].jti, until=link[0].expires)
                await self._store.delete(key)
        return updated, self._open(updated)

    async def reseal_links(self) -> int:
        """Rewrite every series link (kept sealed to be shown again) under the current
        data key."""
        count = 0
        for sid in await self._store.set_members("program:series-all"):
            series = await self.series_record(sid)
            if series is None:
                continue
            found = await self._read(f"program:household:{series.household_id}",
                                     HouseholdRecord)
            members = [] if found is None else self._open(found[0]).members
            for member in members:
                key = self._link_key(sid, member.id)
                if await self._read(key, LinkRecord) is None:
                    continue

                def again(r: LinkRecord, key: str = key) -> LinkRecord:
                    return r.model_copy(
                        update={"sealed_url": self._sealer.reseal(r.sealed_url, key)})

                await self._update(key, LinkRecord, again)
                count += 1
        return count

    async def reseal_households(self) -> int:
        """Rewrite every household under the current data key (after a key rotation)."""
        count = 0
        for hid in await self._store.set_members("program:households"):
            await self._update(
                f"program:household:{hid}", HouseholdRecord,
                lambda r: r.model_copy(update={
                    "sealed": self._sealer.reseal(r.sealed, f"household:{r.id}")}))
            count += 1
        return count

    # --- series -------------------------------------------------------------------
    async def create_series(self, viewer: Viewer, record: SeriesRecord) -> SeriesRecord:
        await self.household(viewer, record.household_id)
        if record.co_therapist is not None:
            staff = await self.staff(record.co_therapist)
            if staff is None or not staff.active:
                raise ProgramError(400, "invalid", "co_therapist: no such active staff member")
        count = len(recurrence.local_starts(record))
        if count == 0:
            raise ProgramError(400, "invalid", "the rule yields no occurrence")
        if count > recurrence.MAX_OCCURRENCES:
            raise ProgramError(400, "invalid",
                               f"a series has at most {recurrence.MAX_OCCURRENCES} sessions")
        await self._write(f"program:series:{record.id}", record)
        await self._store.set_add("program:series-all", record.id)
        await self._store.set_add(f"program:series-of:{record.owner}", record.id)
        if record.co_therapist:
            await self._store.set_add(f"program:series-on:{record.co_therapist}", record.id)
        return record

    async def series_record(self, sid: str) -> SeriesRecord | None:
        found = await self._read(f"program:series:{sid}", SeriesRecord)
        return None if found is None else found[0]

    async def series(self, viewer: Viewer, sid: str, *, write: bool = False) -> SeriesRecord:
        record = await self.series_record(sid)
        if record is None or not self._may(viewer, record, write=write):
            raise ProgramError(404, "not_found", "no such series")
        return record

    @staticmethod
    def _may(viewer: Viewer, record: SeriesRecord, *, write: bool) -> bool:
        if viewer.role == "admin" or record.owner == viewer.id:
            return True
        return not write and record.co_therapist == viewer.id

    async def series_list(self, viewer: Viewer) -> list[SeriesRecord]:
        keys = {"admin": ["program:series-all"],
                "therapist": [f"program:series-of:{viewer.id}"],
                "co_therapist": [f"program:series-on:{viewer.id}"]}[viewer.role]
        ids: set[str] = set()
        for key in keys:
            ids |= await self._store.set_members(key)
        out = [r for r in [await self.series_record(i) for i in ids] if r is not None]
        return sorted(out, key=lambda r: r.created)

    async def change_occurrence(
        self, viewer: Viewer, sid: str, index: int, *, cancelled: bool | None = None,
        move_to: float | None = None, absent: tuple[str, bool] | None = None,
    ) -> SeriesRecord:
        record = await self.series(viewer, sid, write=True)
        items = recurrence.occurrences(record)
        if not 0 <= index < len(items):
            raise ProgramError(404, "not_found", "no such occurrence")
        if move_to is not None and abs(move_to - items[index].original_start) > MAX_MOVE:
            raise ProgramError(400, "invalid", "move_to: at most 14 days from its planned time")
        if await self._store.get(f"program:occ:{sid}:{index}") is not None and \
                move_to is not None:
            raise ProgramError(409, "conflict", "this occurrence has already started")
        if absent is not None:
            _, body = await self.household(viewer, record.household_id)
            if absent[0] not in {m.id for m in body.members}:
                raise ProgramError(404, "not_found", "no such member")

        def change(r: SeriesRecord) -> SeriesRecord:
            cancelled_set = set(r.cancelled)
            moved = dict(r.moved)
            away = {k: list(v) for k, v in r.absent.items()}
            if cancelled is True:
                cancelled_set.add(index)
            elif cancelled is False:
                cancelled_set.discard(index)
            if move_to is not None:
                moved[str(index)] = move_to
            if absent is not None:
                people = set(away.get(str(index), []))
                if absent[1]:
                    people.add(absent[0])
                else:
                    people.discard(absent[0])
                away[str(index)] = sorted(people)
            return r.model_copy(update={"cancelled": sorted(cancelled_set), "moved": moved,
                                        "absent": {k: v for k, v in away.items() if v}})

        updated = await self._update(f"program:series:{sid}", SeriesRecord, change)
        if cancelled:
            occ = await self._read(f"program:occ:{sid}:{index}", OccurrenceRecord)
            if occ is not None:
                with contextlib.suppress(DomainError):  # already ended
                    await self._rooms.execute(occ[0].session_id, EndSession(actor=record.owner))
        return updated

    # --- occurrences as sessions --------------------------------------------------
    async def occurrence(self, series: SeriesRecord, index: int) -> OccurrenceRecord | None:
        found = await self._read(f"program:occ:{series.id}:{index}", OccurrenceRecord)
        return None if found is None else found[0]

    async def materialize(self, series: SeriesRecord, occ: recurrence.Occurrence
                          ) -> OccurrenceRecord:
        """The occurrence's session, created on first need with the household as people."""
        key = f"program:occ:{series.id}:{occ.index}"
        existing = await self._read(key, OccurrenceRecord)
        if existing is not None:
            return existing[0]
        # One maker per occurrence (across nodes); the others wait for its record.
        if not await self._store.add_once(f"program:occ-making:{series.id}:{occ.index}",
                                          ttl=30):
            for _ in range(100):
                await asyncio.sleep(0.05)
                existing = await self._read(key, OccurrenceRecord)
                if existing is not None:
                    return existing[0]
            raise ProgramError(503, "unavailable", "the session is being prepared, try again")
        owner = await self._accounts.get_by_id(series.owner)
        household = await self._read(f"program:household:{series.household_id}",
                                     HouseholdRecord)
        if owner is None or household is None:
            raise ProgramError(409, "conflict", "the series' therapist or household is gone")
        body = self._open(household[0])
        title = f"Session {occ.index + 1} of {len(recurrence.occurrences(series))}"
        meta = await self._directory.create(series.owner, title, occ.starts_at, occ.ends_at)
        session = new_session(
            meta.id, owner_id=owner.id, owner_name=owner.username, title=title,
            now=self.clock(), max_participants=self._defaults.max_participants,
            max_breakouts=self._defaults.max_breakouts,
            reconnect_grace=self._defaults.reconnect_grace,
        )
        await self._rooms.create(session)
        away = set(series.absent.get(str(occ.index), []))
        present = [m for m in body.members if m.id not in away]
        # Guardians first, so that a child can name them when added.
        for member in sorted(present, key=lambda m: m.role == "child"):
            guardians = tuple(g.id for g in present if member.id in g.guardian_of) \
                if member.role == "child" else ()
            await self._rooms.execute(meta.id, AddParticipant(
                actor=owner.id, participant_id=member.id, role=Role(SESSION_ROLE[member.role]),
                display_name=member.name, guardian_of=guardians,
                household=series.household_id))
        if series.co_therapist:
            co = await self._accounts.get_by_id(series.co_therapist)
            if co is not None:
                await self._rooms.execute(meta.id, AddParticipant(
                    actor=owner.id, participant_id=co.id, role=Role.CO_THERAPIST,
                    display_name=co.username))
                await self.put_on_session(co.id, meta.id)
        if self.on_occurrence is not None:
            await self.on_occurrence(series.id, meta.id, owner.id)
        record = OccurrenceRecord(series_id=series.id, index=occ.index, session_id=meta.id,
                                  members={m.id: m.id for m in present})
        await self._store.put(f"program:occ-session:{meta.id}",
                              json.dumps({"v": 1, "series": series.id,
                                          "index": occ.index}).encode())
        await self._write(key, record)
        return record

    async def seat_household(self, viewer: Viewer, session_id: str, hid: str) -> list[str]:
        """Add a household's people to a one-off session (no re-typing); their ids."""
        _, body = await self.household(viewer, hid)
        for member in sorted(body.members, key=lambda m: m.role == "child"):
            guardians = tuple(g.id for g in body.members if member.id in g.guardian_of) \
                if member.role == "child" else ()
            await self._rooms.execute(session_id, AddParticipant(
                actor=viewer.id, participant_id=member.id,
                role=Role(SESSION_ROLE[member.role]), display_name=member.name,
                guardian_of=guardians, household=hid))
        await self._store.put(f"program:session-members:{session_id}", json.dumps(
            {"v": 1, "household": hid, "members": {m.id: m.id for m in body.members}}).encode())
        return [m.id for m in body.members]

    async def occurrence_of_session(self, session_id: str
                                    ) -> tuple[SeriesRecord, OccurrenceRecord] | None:
        """The series and occurrence a session materializes (None for one-off sessions)."""
        found = await self._store.get(f"program:occ-session:{session_id}")
        if found is None:
            return None
        ref = json.loads(found.value)
        series = await self.series_record(ref["series"])
        occ = None if series is None else await self.occurrence(series, int(ref["index"]))
        return None if series is None or occ is None else (series, occ)

    async def member_of(self, session_id: str, participant_id: str) -> str | None:
        """The household member id behind a participant of an occurrence session."""
        found = await self.occurrence_of_session(session_id)
        if found is not None:
            return found[1].members.get(participant_id)
        seated = await self._store.get(f"program:session-members:{session_id}")
        if seated is None:
            return None
        members: dict[str, str] = json.loads(seated.value)["members"]
        return members.get(participant_id)

    async def household_member(self, session_id: str, participant_id: str
                               ) -> tuple[str, str] | None:
        """(member id, household id) behind a participant, for the records layer."""
        found = await self.occurrence_of_session(session_id)
        if found is not None:
            member = found[1].members.get(participant_id)
            return None if member is None else (member, found[0].household_id)
        seated = await self._store.get(f"program:session-members:{session_id}")
        if seated is None:
            return None
        stored = json.loads(seated.value)
        member = stored["members"].get(participant_id)
        return None if member is None else (member, stored["household"])

    async def session_member(self, session_id: str, participant_id: str) -> Member | None:
        """The household member behind a participant (for a caller that already
        authorized the reader as a clinician of this session)."""
        found = await self.household_member(session_id, participant_id)
        if found is None:
            return None
        stored = await self._read(f"program:household:{found[1]}", HouseholdRecord)
        if stored is None:
            return None
        return next((m for m in self._open(stored[0]).members if m.id == found[0]), None)

    # --- sessions visible to staff ------------------------------------------------
    async def may_read_session(self, viewer: Viewer, record: SessionRecord) -> bool:
        if viewer.role == "admin" or record.owner == viewer.id:
            return True
        return record.id in await self._store.set_members(f"program:on:{viewer.id}")

    async def put_on_session(self, account_id: str, session_id: str) -> None:
        """A clinician added to someone else's session sees it and may join it."""
        await self._store.set_add(f"program:on:{account_id}", session_id)

    async def sessions_for(self, viewer: Viewer) -> list[SessionRecord]:
        if viewer.role == "admin":
            owners = await self._store.set_members("program:staff-all")
        else:
            owners = {viewer.id}
        records = []
        for owner in owners:
            records.extend(await self._directory.list_for(owner))
        for sid in await self._store.set_members(f"program:on:{viewer.id}"):
            record = await self._directory.get(sid)
            if record is not None and record not in records:
                records.append(record)
        return sorted(records, key=lambda r: (r.starts_at or r.created, r.created))

    # --- links --------------------------------------------------------------------
    async def _member(self, series: SeriesRecord, member_id: str) -> Member:
        household = await self._read(f"program:household:{series.household_id}",
                                     HouseholdRecord)
        body = None if household is None else self._open(household[0])
        for member in body.members if body else []:
            if member.id == member_id:
                return member
        raise ProgramError(404, "not_found", "no such member")

    def _link_key(self, sid: str, member_id: str) -> str:
        return f"program:link:{sid}:{member_id}"

    async def issue_link(self, viewer: Viewer, sid: str, member_id: str) -> tuple[str, float]:
        """Revoke the person's series link (if any) and issue a new one."""
        series = await self.series(viewer, sid, write=True)
        member = await self._member(series, member_id)
        await self.revoke_link(viewer, sid, member_id)
        now = self.clock()
        # Valid past the last planned session by more than any move can shift one.
        expires = recurrence.last_close(series) + MAX_MOVE + 3600
        # No name in the link: it travels by email and calendar; the session knows the name.
        token, claims = self._links.issue(
            session_id=SERIES_PREFIX + series.id, participant_id=member.id, not_before=now - 60,
            expires=max(expires, now + 3600), now=now,
        )
        url = f"{self._public_url}/join#{token}"
        key = self._link_key(sid, member_id)
        record = LinkRecord(series_id=sid, member_id=member_id, jti=claims.jti,
                            expires=claims.expires, sealed_url=self._sealer.seal(url.encode(), key))
        await self._write(key, record)
        return url, claims.expires

    async def current_link(self, viewer: Viewer, sid: str, member_id: str
                           ) -> tuple[str, float] | None:
        """The person's current link, shown again without revoking anything."""
        series = await self.series(viewer, sid, write=True)
        await self._member(series, member_id)
        key = self._link_key(sid, member_id)
        found = await self._read(key, LinkRecord)
        if found is None:
            return None
        return self._sealer.open(found[0].sealed_url, key).decode(), found[0].expires

    async def revoke_link(self, viewer: Viewer, sid: str, member_id: str) -> bool:
        await self.series(viewer, sid, write=True)
        key = self._link_key(sid, member_id)
        found = await self._read(key, LinkRecord)
        if found is None:
            return False
        await self._links.revoke(found[0].jti, until=found[0].expires)
        await self._store.delete(key)
        return True

    # --- email -------------------------------------------------------------------
    async def _household_members(self, series: SeriesRecord) -> list[Member]:
        household = await self._read(f"program:household:{series.household_id}",
                                     HouseholdRecord)
        return [] if household is None else self._open(household[0]).members

    async def send_invitation(self, viewer: Viewer, sid: str, member_id: str,
                              mailer: Mailer) -> str:
        """Email a member their link and upcoming times; returns the address used."""
        series = await self.series(viewer, sid, write=True)
        member = await self._member(series, member_id)
        if not member.email:
            raise ProgramError(409, "no_email", "this person has no email address")
        link = await self.current_link(viewer, sid, member_id)
        if link is None:
            raise ProgramError(409, "no_link", "issue this person's link first")
        now = self.clock()
        starts = [o.starts_at for o in recurrence.occurrences(series)
                  if not o.cancelled and o.starts_at > now]
        clinic = await self.clinic()
        ics = series_ics(series, recurrence.occurrences(series), uid=f"{sid}-{member_id}@hearth",
                         clinic=clinic.name, url=link[0])
        await mailer.send(invitation(
            clinic=clinic.name, sender=mailer.sender, to=member.email, starts=starts,
            zone=member.timezone or series.timezone, url=link[0], ics=ics))
        return member.email

    async def send_due_reminders(self, mailer: Mailer, now: float | None = None,
                                 *, slack: float = 15 * 60) -> int:
        """Send the 24 h and 1 h reminders that are due now; each one at most once."""
        now = self.clock() if now is None else now
        clinic = await self.clinic()
        sent = 0
        for sid in await self._store.set_members("program:series-all"):
            series = await self.series_record(sid)
            if series is None:
                continue
            due = [(o, kind) for o in recurrence.occurrences(series) if not o.cancelled
                   for kind, ahead in REMINDERS.items()
                   if o.starts_at - ahead <= now < o.starts_at - ahead + slack]
            if not due:
                continue
            members = await self._household_members(series)
            for occ, kind in due:
                away = set(series.absent.get(str(occ.index), []))
                for member in members:
                    if not member.email or member.id in away:
                        continue
                    key = self._link_key(sid, member.id)
                    link = await self._read(key, LinkRecord)
                    if link is None:
                        continue
                    claim = f"program:reminded:{sid}:{occ.index}:{member.id}:{kind}"
                    if not await self._store.add_once(claim, ttl=3 * 86400):
                        continue
                    url = self._sealer.open(link[0].sealed_url, key).decode()
                    await mailer.send(reminder(
                        clinic=clinic.name, sender=mailer.sender, to=member.email,
                        start=occ.starts_at, zone=member.timezone or series.timezone,
                        url=url, kind=kind))
                    sent += 1
        return sent

    # --- single-session links, kept so the console can show them again ------------
    async def keep_session_link(self, session_id: str, pid: str, url: str, jti: str,
                                expires: float) -> None:
        key = f"program:session-link:{session_id}:{pid}"
        record = {"v": 1, "jti": jti, "expires": expires,
                  "sealed_url": self._sealer.seal(url.encode(), key)}
        await self._store.put(key, json.dumps(record).encode(),
                              ttl=max(60.0, expires - self.clock() + 3600))

    async def session_link(self, session_id: str, pid: str, jti: str
                           ) -> tuple[str, float] | None:
        key = f"program:session-link:{session_id}:{pid}"
        found = await self._store.get(key)
        if found is None:
            return None
        record = json.loads(found.value)
        if record["jti"] != jti:
            return None
        return self._sealer.open(record["sealed_url"], key).decode(), float(record["expires"])

    async def forget_session_link(self, session_id: str, pid: str) -> None:
        await self._store.delete(f"program:session-link:{session_id}:{pid}")

    # --- the one resolution of series links ---------------------------------------
    async def resolve(self, claims: JoinClaims, now: float | None = None,
                      *, materialize: bool = True) -> JoinClaims:
        """Verified link claims → the identity to join as, now.

        Claims of an ordinary session link pass through unchanged. Claims of a series
        link become (occurrence session, member) when an occurrence's window holds
        ``now``; otherwise a SeriesRefusal says why and when the next one starts.
        """
        if not claims.session_id.startswith(SERIES_PREFIX):
            return claims
        now = self.clock() if now is None else now
        series = await self.series_record(claims.session_id[len(SERIES_PREFIX):])
        link = None if series is None else await self._read(
            self._link_key(series.id, claims.participant_id), LinkRecord)
        if series is None or link is None or link[0].jti != claims.jti:
            raise LinkError("revoked", "link has been revoked")
        found = recurrence.at(series, now)
        if isinstance(found, recurrence.Refused):
            messages = {
                "cancelled": "this session was cancelled",
                "outside_window": "this link opens 15 minutes before each session",
                "series_over": "this series has ended",
            }
            raise SeriesRefusal(found.code, messages[found.code], found.next_start)
        occ = found.occurrence
        if claims.participant_id in series.absent.get(str(occ.index), []):
            raise SeriesRefusal("not_expected", "you are not expected at this session",
                                _next_after(series, occ))
        if not materialize:
            return replace(claims, not_before=occ.opens_at, expires=occ.closes_at)
        record = await self.materialize(series, occ)
        session = await self._rooms.get(record.session_id)
        if session is None or session.phase is SessionPhase.ENDED:
            raise SeriesRefusal("session_ended", "this session has ended",
                                _next_after(series, occ))
        if claims.participant_id not in record.members:
            raise SeriesRefusal("not_expected", "you are not expected at this session",
                                _next_after(series, occ))
        return replace(claims, session_id=record.session_id, not_before=occ.opens_at,
                       expires=occ.closes_at)

    async def link_status(self, claims: JoinClaims, now: float | None = None
                          ) -> dict[str, Any]:
        """What the join page shows before connecting: open, or when the next start is."""
        try:
            resolved = await self.resolve(claims, now, materialize=False)
        except SeriesRefusal as exc:
            return {"open": False, "code": exc.code, "message": str(exc),
                    "next_start": exc.next_start}
        return {"open": True, "code": "open", "message": "open",
                "starts_at": resolved.not_before + recurrence.EARLY_OPEN}


def _next_after(series: SeriesRecord, occ: recurrence.Occurrence) -> float | None:
    later = [o.starts_at for o in recurrence.occurrences(series)
             if not o.cancelled and o.starts_at > occ.starts_at]
    return min(later) if later else None


def check_members(members: list[Member]) -> None:
    """Guardianship must point at children of the same household; ids are unique."""
    ids = [m.id for m in members]
    if len(ids) != len(set(ids)):
        raise ProgramError(400, "invalid", "members: duplicate id")
    roles = {m.id: m.role for m in members}
    for m in members:
        for child in m.guardian_of:
            if roles.get(child) != "child":
                raise ProgramError(400, "invalid",
                                   "guardian_of: must name a child of this household")
            if m.role not in ("parent", "other_family", "partner", "client"):
                raise ProgramError(400, "invalid", "guardian_of: only relatives are guardians")
        if m.role == "child" and m.guardian_of:
            raise ProgramError(400, "invalid", "guardian_of: a child cannot be a guardian")
