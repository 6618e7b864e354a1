"""The consent ledger: versioned consent documents and who accepted or withdrew what.

Documents (telehealth by default; optionally recording or group participation) are
published as numbered versions with a content hash; publishing never edits an old
version. Ledger entries are append-only: an acceptance names the person, the
document version and its hash, the time and the link (jti) it came from; a
withdrawal is another entry. A person's standing for a document is their latest
entry for it. A child's consent is given by a guardian, from the guardian's own
link, as an entry about the child that names the guardian as the actor.

``ConsentGate`` is what signaling asks before a knock and before an admission.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rooms.errors import Conflict, Forbidden
from rooms.model import CLINICIANS, Participant, Role, Session
from rooms.stores import Store, rewrite_list
from server.records.people import Member, NoProgram, Resolver, subject_key
from server.records.sealed import RecordError, Sealer, plain, read_plain

log = logging.getLogger("hearth.records")

Kind = Literal["telehealth", "recording", "group"]
KINDS: tuple[Kind, ...] = ("telehealth", "recording", "group")
Action = Literal["accept", "withdraw"]
Via = Literal["link", "console"]  # the person's own link, or a clinician's console
State = Literal["accepted", "outdated", "withdrawn", "missing"]
TITLES = {"telehealth": "Telehealth consent", "recording": "Recording consent",
          "group": "Group participation consent"}
DEFAULT_TELEHEALTH = (
    "This session happens by video over the internet. It is not recorded. Your therapist "
    "keeps notes as in any session. You may turn your camera or microphone off, or leave, "
    "at any time. If you are in danger, call your local emergency number."
)
LEDGER = "consent-ledger"
EXEMPT = frozenset({*CLINICIANS, Role.OBSERVER})  # staff: consent is for the family


class ConsentRequired(Forbidden):
    """A person without the current consent on file tries to join."""

    code = "consent_required"


class GuardianConsentRequired(Forbidden):
    """A child without a guardian's consent on file cannot be admitted."""

    code = "guardian_consent_required"


def content_hash(kind: str, title: str, text: str) -> str:
    canonical = json.dumps([kind, title, text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Document:
    kind: str
    version: int
    title: str
    text: str
    hash: str
    required: bool
    published_at: float
    published_by: str

    def view(self) -> dict[str, Any]:
        return asdict(self)


def _default_telehealth() -> Document:
    title = TITLES["telehealth"]
    return Document("telehealth", 1, title, DEFAULT_TELEHEALTH,
                    content_hash("telehealth", title, DEFAULT_TELEHEALTH), True, 0.0, "hearth")


@dataclass(frozen=True)
class Entry:
    """One line of the ledger. ``subject`` is who the consent is about; ``actor`` who
    gave it (the same person, a guardian for a child, or a clinician recording a
    withdrawal stated in session)."""

    id: str
    at: float
    action: Action
    kind: str
    version: int
    hash: str
    subject: str  # the stable key: m:<member> or p:<session>:<participant>
    session_id: str
    participant_id: str
    member_id: str | None
    subject_name: str
    actor_participant_id: str | None
    actor_member_id: str | None
    actor_account_id: str | None
    actor_name: str
    on_behalf: bool
    jti: str | None
    via: Via

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Standing:
    kind: str
    state: State
    version: int | None
    at: float | None
    by_guardian: bool

    def view(self) -> dict[str, Any]:
        return asdict(self)


class ConsentLedger:
    def __init__(self, store: Store, sealer: Sealer, resolver: Resolver | None = None) -> None:
        self._store = store
        self._sealer = sealer
        self.resolver: Resolver = resolver or NoProgram()

    # --- documents ---------------------------------------------------------------
    async def _stored(self, kind: str) -> tuple[list[Document], int]:
        found = await self._store.get(f"consent-docs:{kind}")
        if found is None:
            return [], 0
        return [Document(**d) for d in read_plain(found.value)["versions"]], found.version

    async def history(self, kind: str) -> list[Document]:
        docs, _ = await self._stored(kind)
        if kind == "telehealth" and not docs:
            return [_default_telehealth()]  # telehealth consent exists from the start
        return docs

    async def current(self, kind: str) -> Document | None:
        docs = await self.history(kind)
        return docs[-1] if docs else None

    async def documents(self) -> list[Document]:
        """The current version of every kind that has one."""
        out = []
        for kind in KINDS:
            doc = await self.current(kind)
            if doc is not None:
                out.append(doc)
        return out

    async def publish(self, kind: str, title: str, text: str, required: bool,
                      by: str) -> Document:
        """A new version; the previous ones stay as they were (their hashes still
        identify what people accepted). Compare-and-set numbers versions exactly once."""
        for _ in range(8):
            docs, version = await self._stored(kind)
            if kind == "telehealth" and not docs:  # keep the built-in text as version 1
                docs = [_default_telehealth()]
            doc = Document(kind, len(docs) + 1, title, text, content_hash(kind, title, text),
                           required or kind == "telehealth", time.time(), by)
            value = plain({"versions": [asdict(d) for d in (*docs, doc)]})
            if await self._store.cas(f"consent-docs:{kind}", value,
                                     expected_version=version) is not None:
                return doc
        raise Conflict("consent documents are busy; try again")

    # --- the ledger ---------------------------------------------------------------
    async def record(
        self, action: Action, doc: Document, *, session_id: str, participant: Participant,
        actor: Participant | None = None, account_id: str | None = None,
        jti: str | None = None, via: Via = "link", now: float | None = None,
    ) -> Entry:
        member = await self.resolver.member_of(session_id, participant.id)
        actor_member = (await self.resolver.member_of(session_id, actor.id)
                        if actor is not None else Member())
        entry = Entry(
            id=uuid.uuid4().hex, at=time.time() if now is None else now, action=action,
            kind=doc.kind, version=doc.version, hash=doc.hash,
            subject=subject_key(session_id, participant.id, member), session_id=session_id,
            participant_id=participant.id, member_id=member.member_id,
            subject_name=participant.display_name,
            actor_participant_id=actor.id if actor is not None else None,
            actor_member_id=actor_member.member_id, actor_account_id=account_id,
            actor_name=actor.display_name if actor is not None else "",
            on_behalf=actor is not None and actor.id != participant.id, jti=jti, via=via,
        )
        fields = asdict(entry)
        await self._store.append(LEDGER, self._sealer.seal(LEDGER, fields))
        mine = f"consent-of:{entry.subject}"
        await self._store.append(mine, self._sealer.seal(mine, fields))
        return entry

    async def reseal(self) -> int:
        """Rewrite the ledger and each person's copy under the current data key; an
        entry no configured key opens is left as it is."""
        subjects: set[str] = set()

        def again(key: str) -> Callable[[bytes], bytes]:
            def one(raw: bytes) -> bytes:
                try:
                    fields = self._sealer.open(key, raw)
                except RecordError:
                    return raw
                subjects.add(str(fields.get("subject")))
                return self._sealer.seal(key, fields)
            return one

        done = await rewrite_list(self._store, LEDGER, again(LEDGER))
        for subject in sorted(subjects):
            mine = f"consent-of:{subject}"
            done += await rewrite_list(self._store, mine, again(mine))
        return done

    def _open_all(self, key: str, raws: list[bytes]) -> tuple[list[Entry], int]:
        """Entries that open, and how many did not (another data key, tampering):
        those are counted and reported, never guessed at."""
        out, unreadable = [], 0
        for raw in raws:
            try:
                out.append(Entry(**self._sealer.open(key, raw)))
            except (RecordError, TypeError, ValueError):
                unreadable += 1
        if unreadable:
            log.warning("unreadable consent entries", extra={"count": unreadable})
        return out, unreadable

    async def entries(self) -> tuple[list[Entry], int]:
        return self._open_all(LEDGER, await self._store.range(LEDGER))

    async def entries_of(self, session_id: str, participant_id: str) -> list[Entry]:
        member = await self.resolver.member_of(session_id, participant_id)
        key = f"consent-of:{subject_key(session_id, participant_id, member)}"
        return self._open_all(key, await self._store.range(key))[0]

    async def standing(self, session_id: str, participant_id: str) -> dict[str, Standing]:
        """Per current document: the person's latest entry, judged against its hash."""
        latest: dict[str, Entry] = {}
        for e in await self.entries_of(session_id, participant_id):
            latest[e.kind] = e
        out = {}
        for doc in await self.documents():
            found = latest.get(doc.kind)
            if found is None:
                out[doc.kind] = Standing(doc.kind, "missing", None, None, False)
                continue
            e = found
            if e.action == "withdraw":
                out[doc.kind] = Standing(doc.kind, "withdrawn", e.version, e.at, e.on_behalf)
            elif e.hash != doc.hash:
                out[doc.kind] = Standing(doc.kind, "outdated", e.version, e.at, e.on_behalf)
            else:
                out[doc.kind] = Standing(doc.kind, "accepted", e.version, e.at, e.on_behalf)
        return out

    async def missing(self, session_id: str, participant_id: str) -> list[tuple[Document, str]]:
        """Required documents this person has no current acceptance of, with why."""
        standing = await self.standing(session_id, participant_id)
        return [(doc, standing[doc.kind].state) for doc in await self.documents()
                if doc.required and standing[doc.kind].state != "accepted"]


def needs_consent(p: Participant) -> bool:
    return p.role not in EXEMPT


class ConsentGate:
    """Signaling's check before a knock and before an admission (held at the server)."""

    def __init__(self, ledger: ConsentLedger) -> None:
        self.ledger = ledger

    async def check_knock(self, session: Session, p: Participant) -> None:
        """Adults knock only with the current consent on file; a child may knock and
        waits in the lobby until a guardian's consent exists (see ``check_admit``)."""
        if not needs_consent(p) or p.role is Role.CHILD:
            return
        gaps = await self.ledger.missing(session.id, p.id)
        if not gaps:
            return
        doc, state = gaps[0]
        if state == "withdrawn":
            raise ConsentRequired(f"You withdrew your {doc.title.lower()}. Accept it again "
                                  "on the pre-join page to join.")
        raise ConsentRequired(f"Please accept the current {doc.title.lower()} "
                              f"(version {doc.version}) before joining.")

    async def hold_reason(self, session: Session, pid: str) -> str | None:
        """Why this waiting person cannot be admitted yet, or None."""
        p = session.participants.get(pid)
        if p is None or not needs_consent(p):
            return None
        gaps = await self.ledger.missing(session.id, pid)
        if not gaps:
            return None
        if p.role is Role.CHILD:
            return (f"{p.display_name} can't be admitted yet: no guardian consent is on file "
                    "for them. A parent or guardian can give it from their own link.")
        return f"{p.display_name} can't be admitted yet: their consent is not on file."

    async def check_admit(self, session: Session, pid: str) -> None:
        reason = await self.hold_reason(session, pid)
        if reason is not None:
            p = session.participants[pid]
            error = GuardianConsentRequired if p.role is Role.CHILD else ConsentRequired
            raise error(reason)
