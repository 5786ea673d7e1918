"""Notifications: the one object the edges use for everything about notifications.

* Attached to the knowledge base as the event hook `notify`: each event goes through the
  rules (service.notify.rules); each notice becomes one outbox row per recipient and
  channel, rendered in the recipient's language — inside the event's transaction.
* Preferences with role checks: anyone reads and sets their own (`notify.prefs`), an
  administrator anyone's (`notify.manage`); the outbox view, retry and a test message
  are for administrators.
* `sender()` gives a Sender with the deadline and follow-up scans; `start_sender()`
  runs one in a daemon thread (what `knownfix serve` does).

The event id of a row — what a receiver dedupes by — is `KEY/RECIPIENT/CHANNEL`, each
part percent-encoded: KEY is `e` + the event's id, or the notice's own key for what
must come once per case (critical, deadlines, follow-ups).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

from kb.store import Event
from service.auth import User, Users, require
from service.cases import Cases
from service.notify.messages import render
from service.notify.outbox import Outbox, OutboxRow
from service.notify.prefs import Preferences, Prefs
from service.notify.rules import Notice, Rules
from service.notify.scans import DeadlineScan, FollowUpScan
from service.notify.sender import TEAM, Sender
from settings import Settings
from zones import known_zone

HOOK = "notify"


@dataclass(frozen=True)
class Address:
    """One place to send one notice: who, in which language, over which channel."""

    recipient: str
    lang: str
    channel: str  # email | webhook
    format: str  # the webhook format ('' for e-mail)
    address: str
    zone: str = ""  # whose clock times are shown on (an IANA name; "": the team's)


def event_id(key: str, recipient: str, channel: str) -> str:
    """The id a receiver dedupes by: the same for every attempt of one notification."""
    return "/".join(quote(part, safe="-_.:") for part in (key, recipient, channel))


class Notifications:
    """Rules, preferences, outbox and sender for one Engine's knowledge base."""

    def __init__(self, engine, cases: Cases, users: Users) -> None:
        self.engine, self.kb, self.cases, self.users = engine, engine.kb, cases, users
        self.prefs_table = Preferences(self.kb)
        self.outbox = Outbox(self.kb)
        self.rules = Rules(self.kb, users, lambda: self.settings)
        self._senders: list[Sender] = []
        self.kb.on_log(HOOK, self._on_event)

    @property
    def settings(self) -> Settings:
        return self.engine.settings  # read each time: the Engine's may be replaced

    # -- the event hook ------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Inside the event's transaction: one outbox row per notice, recipient, channel."""
        added = sum(self.enqueue(notice) for notice in self.rules.notices(event))
        if added:
            for sender in self._senders:
                sender.wake.set()  # takes the rows once this transaction commits

    def enqueue(self, notice: Notice) -> int:
        """Rows for one notice; returns how many were new."""
        added = 0
        for to in self.addresses(notice):
            zone = known_zone(to.zone) or self.settings.zone
            message = render(notice.kind, to.lang, notice.context, self.settings.base_url,
                             zone)
            added += self.outbox.enqueue(event_id(notice.key, to.recipient, to.channel),
                                         to.channel, to.format, to.recipient, to.address,
                                         to.lang, message.to_json())
        return added

    def addresses(self, notice: Notice) -> list[Address]:
        """Where the notice goes: each concerned user who wants this kind, over each
        channel they set, and the team channel when the notice is for the team."""
        users = {u.username: u for u in self.users.all()}
        names = list(notice.users)
        if notice.subscribers:
            names += [p.username for p in self.prefs_table.all() if notice.kind in p.events]
        out: list[Address] = []
        for name in dict.fromkeys(names):
            prefs, user = self.prefs_table.get(name), users.get(name)
            if prefs is None or user is None or not prefs.wants(notice.kind):
                continue
            if prefs.email:
                out.append(Address(name, user.lang, "email", "", prefs.email, user.timezone))
            if prefs.webhook:
                out.append(Address(name, user.lang, "webhook", prefs.webhook_format,
                                   prefs.webhook, user.timezone))
        s = self.settings
        if notice.team and s.team_email:
            out.append(Address(TEAM, s.team_lang, "email", "", s.team_email))
        if notice.team and s.team_webhook:
            out.append(Address(TEAM, s.team_lang, "webhook", s.team_webhook_format,
                               s.team_webhook))
        return out

    # -- preferences ---------------------------------------------------------------------
    def _may(self, actor: User, username: str) -> None:
        require(actor, "notify.prefs" if actor.username == username else "notify.manage")

    def prefs(self, actor: User, username: str) -> Prefs:
        """A user's preferences (defaults when none are stored)."""
        self._may(actor, username)
        self.users.get(username)  # NotFound for an unknown user
        return self.prefs_table.get(username) or Prefs(username)

    def set_prefs(self, actor: User, username: str, email: str | None = None,
                  webhook: str | None = None, webhook_format: str | None = None,
                  secret: str | None = None, events: str | list[str] | None = None) -> Prefs:
        """Change a user's addresses and event kinds (None: unchanged; '' clears)."""
        self._may(actor, username)
        self.users.get(username)
        with self.kb.transaction():
            prefs = self.prefs_table.set(username, email, webhook, webhook_format, secret,
                                         events)
            self.kb.log(actor.username, "notify:prefs", f"user:{username}",
                        {"events": list(prefs.events), "email": bool(prefs.email),
                         "webhook": prefs.webhook_format if prefs.webhook else None})
        return prefs

    # -- the outbox ----------------------------------------------------------------------
    def rows(self, actor: User, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        require(actor, "notify.manage")
        return self.outbox.rows(state, limit)

    def counts(self, actor: User) -> dict[str, int]:
        require(actor, "notify.manage")
        return self.outbox.counts()

    def retry(self, actor: User, ids: list[int] | None = None) -> int:
        """Dead rows (all, or these) back to pending; returns how many."""
        require(actor, "notify.manage")
        with self.kb.transaction():
            n = self.outbox.retry(ids)
            self.kb.log(actor.username, "notify:retry", "outbox", {"rows": n, "ids": ids})
        return n

    def test(self, actor: User, username: str) -> int:
        """A test notification to a user over each channel they set; returns how many
        rows it made (0: the user has no address)."""
        require(actor, "notify.manage")
        self.users.get(username)
        with self.kb.transaction():
            eid = self.kb.log(actor.username, "notify:test", f"user:{username}")
            return self.kb.db.execute("SELECT COUNT(*) FROM outbox WHERE event_id LIKE ?",
                                      [f"e{eid}/%"]).fetchone()[0]

    # -- sending -------------------------------------------------------------------------
    def enabled(self) -> bool:
        """Whether anyone can be told anything: a team channel or a user's address."""
        s = self.settings
        return bool(s.team_email or s.team_webhook) or self.kb.db.execute(
            "SELECT 1 FROM notify_prefs WHERE email != '' OR webhook != '' LIMIT 1"
        ).fetchone() is not None

    def sender(self, name: str | None = None, scans: bool = True) -> Sender:
        """A sender for this knowledge base, with the deadline and follow-up scans (which
        log nothing while nobody could be told)."""
        def when_enabled(scan):
            return lambda now: scan(now) if self.enabled() else 0

        found = [when_enabled(DeadlineScan(self.cases)),
                 when_enabled(FollowUpScan(self.kb, lambda: self.settings))] if scans else []
        sender = Sender(self.kb, lambda: self.settings, found, name)
        self._senders.append(sender)
        return sender

    def start_sender(self) -> tuple[threading.Thread, Sender]:
        """A sender running in a daemon thread (for `knownfix serve`); `sender.stop()`
        ends it."""
        sender = self.sender()
        return sender.start(), sender
