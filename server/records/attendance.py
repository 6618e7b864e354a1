"""Attendance: who was where, for how long, from the session's own committed state.

``AttendanceSink`` is an ``EventSink`` next to the signaling outbox: after every
commit it derives each person's *presence* (lobby, main room or a breakout; camera,
audio only or off; dropped since when) and advances that person's *track*, a list
of intervals. A new interval starts when the place or the media changes. A drop
that ends inside the reconnect grace does not split an interval; one that outlasts
it ends the person's time at the moment of the drop (everything after is cut).

Tracks are stored per (session, participant), sealed (they name a person), written
by compare-and-set, and tagged with the state version they have seen, so a repeat
or late delivery from another node changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from rooms.events import Event
from rooms.model import ASIDE_PREFIX, Participant, ParticipantStatus, Session, SessionPhase
from rooms.stores import Store
from server.records.people import NoProgram, Resolver
from server.records.sealed import RecordError, Sealer, plain, read_plain, reseal_keys

log = logging.getLogger("hearth.records")

LOBBY = "lobby"
MAIN = "main"
DEFAULT_TARGET_SECONDS = 9 * 3600  # IOP programs commonly require 9 hours a week
MAX_RANGE_DAYS = 400
MAX_ATTEMPTS = 8

_IN_SESSION = (ParticipantStatus.ADMITTED, ParticipantStatus.CONNECTED,
               ParticipantStatus.RECONNECTING)


@dataclass(frozen=True)
class Presence:
    """Where a person is right now, as far as attendance cares."""

    place: str  # "lobby", "main" or a breakout room id
    media: str  # "camera", "audio_only" or "off"
    dropped_since: float | None = None
    phase: str = ""  # the session plan's current phase ("2. Partners apart"), if any


def media_of(p: Participant) -> str:
    if p.camera_on:
        return "camera"
    return "audio_only" if p.mic_on else "off"


def presence_of(session: Session, p: Participant) -> Presence | None:
    """None when the person is not in the lobby or the session (invited, left, gone)."""
    if session.phase is SessionPhase.ENDED:
        return None
    if p.status is ParticipantStatus.WAITING:
        return Presence(LOBBY, media_of(p))
    if p.status in _IN_SESSION:
        dropped = p.disconnected_at if p.status is ParticipantStatus.RECONNECTING else None
        return Presence(session.room_of(p.id) or MAIN, media_of(p), dropped,
                        phase_label(session))
    return None


def phase_label(session: Session) -> str:
    """The plan's current phase as attendance names it: its number and name."""
    current = session.plan.current
    return "" if current is None else f"{session.plan.index + 1}. {current.name}"


@dataclass
class Segment:
    place: str
    room_name: str
    media: str
    start: float
    end: float | None = None
    phase: str = ""

    @property
    def attended(self) -> bool:
        return self.place != LOBBY

    def seconds(self, now: float) -> float:
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass
class Track:
    """One person's attendance in one session."""

    session_id: str
    participant_id: str
    role: str
    name: str
    member_id: str | None = None
    household_id: str | None = None
    seen_version: int = 0
    segments: list[Segment] = field(default_factory=list)
    drops: list[list[float | None]] = field(default_factory=list)  # [dropped, back or None]
    dropped_since: float | None = None
    admitted_at: float | None = None
    left_at: float | None = None
    left_reason: str | None = None

    @property
    def open(self) -> Segment | None:
        if self.segments and self.segments[-1].end is None:
            return self.segments[-1]
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Track:
        d = dict(d)
        d["segments"] = [Segment(**s) for s in d["segments"]]
        return cls(**d)


def _trim(track: Track, at: float) -> None:
    """Cut every interval at ``at``: nothing after a drop that outlasted the grace counts."""
    kept: list[Segment] = []
    for seg in track.segments:
        if seg.start >= at and kept:
            continue
        if seg.end is None or seg.end > at:
            seg.end = max(seg.start, at)
        kept.append(seg)
    track.segments = kept


def advance(track: Track, presence: Presence | None, status: str, now: float, *,
            knocked_at: float | None = None, room_name: str = "") -> bool:
    """Apply one observed presence to a track (in place); True if anything changed."""
    current = track.open
    if presence is None:
        if current is None:
            return False
        end = now
        if track.dropped_since is not None:  # the grace ran out: time ends at the drop
            end = track.dropped_since
            _trim(track, end)
            track.dropped_since = None
        else:
            current.end = max(current.start, end)
        track.left_at = end
        track.left_reason = status
        return True
    changed = False
    if current is not None and (current.place, current.media, current.phase) != (
            presence.place, presence.media, presence.phase):
        current.end = max(current.start, now)
        current = None
        changed = True
    if current is None:
        start = now
        last_end = track.segments[-1].end if track.segments else None
        if (presence.place == LOBBY and knocked_at is not None and knocked_at <= now
                and (last_end is None or knocked_at >= last_end)):
            start = knocked_at
        track.segments.append(Segment(presence.place, room_name, presence.media, start,
                                      phase=presence.phase))
        if presence.place != LOBBY and track.admitted_at is None:
            track.admitted_at = start
        track.left_at = None
        track.left_reason = None
        changed = True
    if presence.dropped_since is not None and track.dropped_since is None:
        track.dropped_since = presence.dropped_since
        track.drops.append([presence.dropped_since, None])
        changed = True
    elif presence.dropped_since is None and track.dropped_since is not None:
        track.drops[-1][1] = now
        track.dropped_since = None
        changed = True
    return changed


# --- storage -------------------------------------------------------------------------
def _track_key(session_id: str, participant_id: str) -> str:
    return f"att:{session_id}:{participant_id}"


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class AttendanceBook:
    """Stored tracks, their indexes and the weekly targets per household."""

    def __init__(self, store: Store, sealer: Sealer, resolver: Resolver | None = None) -> None:
        self._store = store
        self._sealer = sealer
        self.resolver: Resolver = resolver or NoProgram()

    async def observe(self, session: Session, p: Participant, presence: Presence | None,
                      now: float) -> None:
        key = _track_key(session.id, p.id)
        room = session.breakouts.room(presence.place) if presence is not None else None
        room_name = room.name if room is not None else ("Main room" if presence else "")
        if presence is not None and presence.place == LOBBY:
            room_name = "Lobby"
        if presence is not None and presence.place.startswith(ASIDE_PREFIX):
            room_name = "Private room"
        created = False
        for _ in range(MAX_ATTEMPTS):
            found = await self._store.get(key)
            if found is None:
                if presence is None:
                    return
                member = await self.resolver.member_of(session.id, p.id)
                track = Track(session.id, p.id, p.role.value, p.display_name,
                              member.member_id, member.household_id)
                expected = 0
            else:
                track = Track.from_dict(self._sealer.open(key, found.value))
                expected = found.version
                if session.version and session.version <= track.seen_version:
                    return  # a repeat or a late delivery: already applied
            changed = advance(track, presence, p.status.value, now,
                              knocked_at=p.knocked_at, room_name=room_name)
            if track.name != p.display_name:
                track.name = p.display_name
                changed = True
            if not changed:
                return
            track.seen_version = session.version
            if await self._store.cas(key, self._sealer.seal(key, track.to_dict()),
                                     expected_version=expected) is not None:
                created = expected == 0
                break
        else:
            log.warning("attendance write kept conflicting", extra={"session": session.id})
            return
        if created:
            await self._index(track)

    async def _index(self, track: Track) -> None:
        first = track.segments[0].start
        await self._store.set_add(f"att-people:{track.session_id}", track.participant_id)
        await self._store.set_add(f"att-day:{_day(first)}", track.session_id)

    async def reseal(self, session_id: str) -> int:
        """Rewrite each of the session's attendance tracks under the current data key."""
        people = await self._store.set_members(f"att-people:{session_id}")
        return await reseal_keys(self._store, self._sealer,
                                 [_track_key(session_id, pid) for pid in sorted(people)])

    async def track(self, session_id: str, participant_id: str) -> Track | None:
        key = _track_key(session_id, participant_id)
        found = await self._store.get(key)
        return None if found is None else Track.from_dict(self._sealer.open(key, found.value))

    async def session_tracks(self, session_id: str) -> list[Track]:
        """The session's tracks that open (one sealed under another key is logged and
        left out, never guessed at)."""
        out = []
        for pid in sorted(await self._store.set_members(f"att-people:{session_id}")):
            try:
                t = await self.track(session_id, pid)
            except RecordError:
                log.warning("unreadable attendance track", extra={"session": session_id})
                continue
            if t is not None:
                out.append(t)
        return sorted(out, key=lambda t: t.segments[0].start if t.segments else 0.0)

    async def sessions_between(self, first: dt.date, last: dt.date) -> list[str]:
        """Session ids whose attendance began on a UTC day in [first - 1, last + 1]."""
        days = (last - first).days
        if days < 0 or days > MAX_RANGE_DAYS:
            raise ValueError(f"a range covers 0 to {MAX_RANGE_DAYS} days")
        found: set[str] = set()
        for i in range(-1, days + 2):
            day = (first + dt.timedelta(days=i)).isoformat()
            found |= await self._store.set_members(f"att-day:{day}")
        return sorted(found)

    async def set_target(self, household_id: str, seconds: int) -> None:
        await self._store.put(f"att-target:{household_id}", plain({"seconds": seconds}))

    async def target(self, household_id: str | None) -> int:
        if household_id is None:
            return DEFAULT_TARGET_SECONDS
        found = await self._store.get(f"att-target:{household_id}")
        return DEFAULT_TARGET_SECONDS if found is None else int(read_plain(found.value)["seconds"])


class AttendanceSink:
    """The EventSink: advance every person's track after each committed change.

    A small cache of what was last seen skips people whose presence did not change,
    as long as the versions arrive in order; a gap (a change committed on another
    node) makes every person of that session be compared with the store again.
    """

    def __init__(self, book: AttendanceBook, clock: Callable[[], float] = time.time) -> None:
        self.book = book
        self._clock = clock
        self._versions: dict[str, int] = {}
        self._seen: dict[tuple[str, str], tuple[Presence | None, str]] = {}

    async def publish(self, session: Session, events: Sequence[Event]) -> None:
        now = self._clock()
        last = self._versions.get(session.id)
        in_order = last is not None and session.version == last + 1
        self._versions[session.id] = session.version
        for pid, p in session.participants.items():
            seen = (presence_of(session, p), p.status.value)
            if in_order and self._seen.get((session.id, pid)) == seen:
                continue
            await self.book.observe(session, p, seen[0], now)
            self._seen[(session.id, pid)] = seen
        if session.phase is SessionPhase.ENDED:
            self._versions.pop(session.id, None)
            for pid in session.participants:
                self._seen.pop((session.id, pid), None)


# --- reports ---------------------------------------------------------------------------
def person_summary(track: Track, now: float) -> dict[str, Any]:
    attended = sum(s.seconds(now) for s in track.segments if s.attended)
    lobby = sum(s.seconds(now) for s in track.segments if not s.attended)
    by_room: dict[str, float] = {}
    by_media: dict[str, float] = {}
    by_phase: dict[str, float] = {}
    for s in track.segments:
        if s.attended:
            by_room[s.place] = by_room.get(s.place, 0.0) + s.seconds(now)
            by_media[s.media] = by_media.get(s.media, 0.0) + s.seconds(now)
            if s.phase:
                by_phase[s.phase] = by_phase.get(s.phase, 0.0) + s.seconds(now)
    return {
        "session_id": track.session_id,
        "participant_id": track.participant_id,
        "member_id": track.member_id,
        "household_id": track.household_id,
        "name": track.name,
        "role": track.role,
        "admitted_at": track.admitted_at,
        "left_at": track.left_at,
        "left_reason": track.left_reason,
        "in_progress": track.open is not None,
        "lobby_seconds": round(lobby, 3),
        "attended_seconds": round(attended, 3),
        "attended_minutes": round(attended / 60, 2),
        "by_room_seconds": {k: round(v, 3) for k, v in by_room.items()},
        "by_media_seconds": {k: round(v, 3) for k, v in by_media.items()},
        "by_phase_minutes": {k: round(v / 60, 2) for k, v in by_phase.items()},
        "drops": [{"at": a, "back": b} for a, b in track.drops],
        "intervals": [
            {"kind": "session" if s.attended else "lobby", "room": s.place,
             "room_name": s.room_name, "media": s.media, "phase": s.phase,
             "start": s.start, "end": s.end,
             "seconds": round(s.seconds(now), 3)}
            for s in track.segments
        ],
    }


def week_of(ts: float, tz: ZoneInfo) -> tuple[str, float, float]:
    """ISO week label and its [start, end) in Unix time, weeks starting Monday in ``tz``."""
    local = dt.datetime.fromtimestamp(ts, tz)
    monday = (local - dt.timedelta(days=local.weekday())).date()
    start = dt.datetime.combine(monday, dt.time(), tz)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tz)
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}", start.timestamp(), end.timestamp()


def _clip(seg: Segment, lo: float, hi: float, now: float) -> float:
    end = seg.end if seg.end is not None else now
    return max(0.0, min(end, hi) - max(seg.start, lo))


def range_report(tracks: Iterable[Track], lo: float, hi: float, tz: ZoneInfo,
                 targets: dict[str | None, int], titles: dict[str, str],
                 now: float) -> dict[str, Any]:
    """Totals per person (member if known) for [lo, hi): per occurrence, per week
    (Monday to Monday in ``tz``) against the household's weekly target, and overall."""
    people: dict[str, dict[str, Any]] = {}
    for t in tracks:
        key = f"m:{t.member_id}" if t.member_id else f"p:{t.session_id}:{t.participant_id}"
        person = people.setdefault(key, {
            "person": key, "member_id": t.member_id, "household_id": t.household_id,
            "name": t.name, "role": t.role, "occurrences": [], "weeks": {},
            "total_seconds": 0.0,
        })
        seconds = 0.0
        for seg in t.segments:
            if not seg.attended:
                continue
            part = _clip(seg, lo, hi, now)
            if part <= 0:
                continue
            seconds += part
            cursor = max(seg.start, lo)
            stop = min(seg.end if seg.end is not None else now, hi)
            while cursor < stop:  # split across week boundaries
                label, _, week_end = week_of(cursor, tz)
                piece = min(stop, week_end) - cursor
                person["weeks"][label] = person["weeks"].get(label, 0.0) + piece
                cursor += piece
        if seconds > 0 or any(_clip(s, lo, hi, now) > 0 for s in t.segments):
            first = t.segments[0].start if t.segments else lo
            person["occurrences"].append({
                "session_id": t.session_id, "participant_id": t.participant_id,
                "title": titles.get(t.session_id, ""),
                "date": dt.datetime.fromtimestamp(first, tz).date().isoformat(),
                "attended_seconds": round(seconds, 3),
            })
            person["total_seconds"] += seconds
    out = []
    for person in people.values():
        target = targets.get(person["household_id"], DEFAULT_TARGET_SECONDS)
        person["weekly_target_seconds"] = target
        person["weeks"] = [
            {"week": label, "attended_seconds": round(s, 3), "target_seconds": target,
             "met": s >= target}
            for label, s in sorted(person["weeks"].items())
        ]
        person["total_seconds"] = round(person["total_seconds"], 3)
        person["occurrences"].sort(key=lambda o: o["date"])
        out.append(person)
    out.sort(key=lambda p: (p["household_id"] or "", p["name"]))
    return {"people": out}


CSV_COLUMNS = ("session_id", "session_title", "participant_id", "member_id", "household_id",
               "name", "role", "kind", "room", "room_name", "media", "start_utc", "end_utc",
               "seconds")


def csv_cell(value: Any) -> str:
    """Plain text for a spreadsheet: a leading = + - @ would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def iso_utc(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def intervals_csv(tracks: Iterable[Track], titles: dict[str, str], now: float,
                  lo: float | None = None, hi: float | None = None) -> str:
    """One row per interval (clipped to [lo, hi) when given)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for t in tracks:
        for seg in t.segments:
            start = seg.start if lo is None else max(seg.start, lo)
            end_raw = seg.end if seg.end is not None else now
            end = end_raw if hi is None else min(end_raw, hi)
            if lo is not None and end <= start:
                continue
            w.writerow([csv_cell(v) for v in (
                t.session_id, titles.get(t.session_id, ""), t.participant_id, t.member_id,
                t.household_id, t.name, t.role, "session" if seg.attended else "lobby",
                seg.place, seg.room_name, seg.media, iso_utc(start),
                iso_utc(None if seg.end is None and hi is None else end),
                f"{max(0.0, end - start):.3f}")])
    return buf.getvalue()
