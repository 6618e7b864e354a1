"""Invitation and reminder emails over SMTP (``HEARTH_SMTP_URL``), sent with aiosmtplib.

An email names only the clinic, the time (in the person's own zone) and the link:
no names, no roles, no diagnoses, because mailboxes are shared and mail is read
on lock screens. Reminders go 24 hours and 1 hour before each occurrence; each
is claimed once in the store (``add_once``), so several nodes never send twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib

REMINDERS = {"24h": 24 * 3600, "1h": 3600}


class MailError(Exception):
    """The mail server refused or could not be reached; the message is safe to show."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("HEARTH_SMTP_URL: expected smtp://[user:pass@]host[:port]")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname, port=parts.port or (465 if tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=tls,
        )


def when(ts: float, zone: str) -> str:
    """'Monday 1 March 2027, 19:00 EST (America/New_York)': the reader's own zone."""
    local = dt.datetime.fromtimestamp(ts, ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M %Z} ({zone})"


def invitation(*, clinic: str, sender: str, to: str, starts: list[float], zone: str,
               url: str, ics: bytes | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{clinic}: your video sessions"
    msg["From"] = sender
    msg["To"] = to
    lines = [f"{clinic} has scheduled video sessions for you.", "",
             "Upcoming sessions:"]
    lines += [f"  - {when(ts, zone)}" for ts in starts[:12]]
    if len(starts) > 12:
        lines.append(f"  ... and {len(starts) - 12} more")
    lines += ["", "Join from your browser with your personal link (do not share it).",
              "It opens 15 minutes before each session:", url]
    msg.set_content("\n".join(lines) + "\n")
    if ics is not None:
        msg.add_attachment(ics, maintype="text", subtype="calendar", filename="sessions.ics")
    return msg


def reminder(*, clinic: str, sender: str, to: str, start: float, zone: str, url: str,
             kind: str) -> EmailMessage:
    msg = EmailMessage()
    ahead = "tomorrow" if kind == "24h" else "in one hour"
    msg["Subject"] = f"{clinic}: video session {ahead}"
    msg["From"] = sender
    msg["To"] = to
    msg.set_content(
        f"Reminder: your {clinic} video session starts {ahead}, {when(start, zone)}.\n\n"
        f"Join with your personal link (it opens 15 minutes before):\n{url}\n"
    )
    return msg


class Mailer:
    def __init__(self, target: SmtpTarget, sender: str, *, timeout: float = 20.0) -> None:
        self.target = target
        self.sender = sender
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        t = self.target
        try:
            await aiosmtplib.send(
                message, hostname=t.host, port=t.port, username=t.username,
                password=t.password, use_tls=t.implicit_tls,
                start_tls=None if not t.implicit_tls else False, timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError("the mail server did not accept the message") from exc
