"""Each user's notification preferences (table `notify_prefs`): where to reach them — an
e-mail address, a webhook (with its format and signing secret) — and which kinds of
event they want.  A user without a row, or without an address, gets nothing.

Role checks are the caller's (service.notify.service.Notifications); this module only
validates and stores.  The signing secret is stored because a signature cannot be made
without it; it is never returned by `get` or shown (only whether there is one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from errors import BadInput
from kb.store import KnowledgeBase, now_utc
from service.notify.messages import KINDS
from settings import WEBHOOK_FORMATS

# what a user gets when they set an address without choosing (critical cases go to the
# team channel; a user may add "critical" too)
DEFAULT_EVENTS = ("escalated", "assigned", "dispatched", "at_risk", "overdue", "follow_up",
                  "review", "import")
CHOOSABLE = tuple(k for k in KINDS if k != "test")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


@dataclass(frozen=True)
class Prefs:
    """One user's choices.  `has_secret` only says whether a signing secret is stored."""

    username: str
    email: str = ""
    webhook: str = ""
    webhook_format: str = "generic"
    has_secret: bool = False
    events: tuple[str, ...] = DEFAULT_EVENTS

    def wants(self, kind: str) -> bool:
        return kind == "test" or kind in self.events

    def to_json(self) -> dict:
        return {"username": self.username, "email": self.email, "webhook": self.webhook,
                "webhook_format": self.webhook_format, "has_secret": self.has_secret,
                "events": list(self.events)}


def parse_events(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'escalated,assigned' (or a list) -> a tuple of event kinds; 'all' is every kind,
    'none' or '' is none.  An unknown kind raises BadInput naming the known ones."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [x.strip() for x in items if x.strip()]
    if names in (["all"], ["none"]):
        return CHOOSABLE if names == ["all"] else ()
    bad = [n for n in names if n not in CHOOSABLE]
    if bad:
        raise BadInput(f"unknown event kind(s): {', '.join(bad)} "
                       f"(use {', '.join(CHOOSABLE)}, all or none)")
    return tuple(dict.fromkeys(names))


def check_email(value: str) -> str:
    value = value.strip()
    if value and not _EMAIL.match(value):
        raise BadInput(f"not an e-mail address: {value!r}")
    return value


def check_webhook(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput(f"a webhook must be an http:// or https:// URL, not {value[:80]!r}")
    return value


class Preferences:
    """Read and write `notify_prefs` rows."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def get(self, username: str) -> Prefs | None:
        row = self.kb.db.execute(
            "SELECT username, email, webhook, webhook_format, webhook_secret, events "
            "FROM notify_prefs WHERE username = ?", [username]).fetchone()
        return _prefs(row) if row else None

    def all(self) -> list[Prefs]:
        return [_prefs(r) for r in self.kb.db.execute(
            "SELECT username, email, webhook, webhook_format, webhook_secret, events "
            "FROM notify_prefs ORDER BY username")]

    def secret(self, username: str) -> str:
        row = self.kb.db.execute("SELECT webhook_secret FROM notify_prefs WHERE username = ?",
                                 [username]).fetchone()
        return (row[0] or "") if row else ""

    def set(self, username: str, email: str | None = None, webhook: str | None = None,
            webhook_format: str | None = None, secret: str | None = None,
            events: str | list[str] | None = None) -> Prefs:
        """Change what is given (None: unchanged; '' clears an address or the secret)
        and return the result.  Bad values raise BadInput before anything is stored."""
        old = self.get(username) or Prefs(username)
        new = {
            "email": check_email(email) if email is not None else old.email,
            "webhook": check_webhook(webhook) if webhook is not None else old.webhook,
            "webhook_format": (webhook_format or "").strip() or old.webhook_format,
            "events": ",".join(parse_events(events) if events is not None else old.events),
        }
        if new["webhook_format"] not in WEBHOOK_FORMATS:
            raise BadInput(f"unknown webhook format {new['webhook_format']!r} "
                           f"(use {', '.join(WEBHOOK_FORMATS)})")
        with self.kb.transaction():
            self.kb.db.execute(
                "INSERT INTO notify_prefs (username, email, webhook, webhook_format, events, "
                "webhook_secret, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(username) DO UPDATE SET email = excluded.email, "
                "webhook = excluded.webhook, webhook_format = excluded.webhook_format, "
                "events = excluded.events, updated_at = excluded.updated_at",
                [username, new["email"], new["webhook"], new["webhook_format"],
                 new["events"], secret or "", now_utc()])
            if secret is not None:
                self.kb.db.execute("UPDATE notify_prefs SET webhook_secret = ? "
                                   "WHERE username = ?", [secret, username])
        found = self.get(username)
        assert found is not None
        return found


def _prefs(row: tuple) -> Prefs:
    username, email, webhook, fmt, secret, events = row
    return Prefs(username=username, email=email or "", webhook=webhook or "",
                 webhook_format=fmt or "generic", has_secret=bool(secret),
                 events=tuple(e for e in (events or "").split(",") if e))
