"""Re-seal everything at rest under the current data key, so a previous key can go.

Everything sealed: households, series links, session records and titles, chat, the
consent ledger, attendance, sign-in (TOTP) secrets, clinicians' notes and confirmed
locations. A rotation: configure the new key as ``HEARTH_DATA_KEY`` and the old one in
``HEARTH_DATA_KEY_PREVIOUS`` (both open, the new one seals), restart, run
``hearth keys reseal``, then drop the previous key. Each owner rewrites its own values
by compare-and-set (or list item by item), so servers may keep running meanwhile: a
value changed at the same moment was written under the new key anyway.
"""

from __future__ import annotations

from aiohttp import web

from server.appkeys import ACCOUNTS, LIVE, PROGRAM, ROOMS, STORE
from server.clinical.api import CLINICAL

SESSION_KEYS = ("room:{}", "sessionmeta:{}")


async def reseal_everything(app: web.Application) -> dict[str, int]:
    """Rewrite every sealed value; returns how many of each kind were rewritten."""
    store, live, program = app[STORE], app[LIVE], app[PROGRAM]
    counts = {"households": await program.reseal_households(),
              "series_links": await program.reseal_links(),
              "consent_entries": await live.records.consent.reseal(),
              "sign_in_secrets": await app[ACCOUNTS].reseal(),
              "session_records": 0, "chat_messages": 0, "attendance_tracks": 0,
              "notes": 0, "locations": 0}
    clinical = app[CLINICAL]
    sessions: set[str] = set()
    for name in await store.set_members("accounts"):
        account = await app[ACCOUNTS].get(name)
        if account is not None:
            sessions |= {r.id for r in await live.directory.list_for(account.id)}
    for sid in sorted(sessions):
        for template in SESSION_KEYS:
            key = template.format(sid)
            found = await store.get(key)  # opened with whichever key sealed it ...
            if found is not None and await store.cas(  # ... sealed again with the current
                    key, found.value, expected_version=found.version) is not None:
                counts["session_records"] += 1
        counts["chat_messages"] += await live.chat.reseal(sid)
        counts["attendance_tracks"] += await live.records.attendance.reseal(sid)
        counts["notes"] += await clinical.notes.reseal(sid)
        session = await app[ROOMS].get(sid)
        if session is not None:
            counts["locations"] += await clinical.safety.reseal(sid, session.participants)
    await live.audit("keys_resealed", {"actor": "cli"})
    return counts
