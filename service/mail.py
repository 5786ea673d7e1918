"""Mail intake (邮件受理): every message of a mailbox accounted for, one at a time.

Messages come from files (.eml, mbox), maildir or plain folders, or an IMAP mailbox
(service.mail_sources); each is parsed on its own (service.mail_parse), so one bad
message never stops the rest.  Each message has exactly one outcome:

- **taken**: it became a case (channel email) through `Cases.open` — the subject is the
  title, the text (or the HTML as text) the description with the attachments listed by
  name, the sender the contact, the Date header the time received;
- **repeat**: its key was seen before — the Message-ID, or, without one, a hash of the
  raw message — and the outcome names the case it became;
- **rejected**: not mail (empty, binary such as an Outlook .msg, no headers, nothing to
  open a case with) or refused by the case service, with the reason.

Outcomes are returned in an `IntakeReport` (taken + repeats + rejected = messages) and
kept, one row each, in the `mail_log` table, readable with `MailIntake.log`.  A rejected
message is not remembered as seen: it is tried again on the next run.

`MailIntake.poll` repeats an intake on an interval (`knownfix intake-mail --poll`);
`start_polling` runs it in a background thread for a long-lived process such as the app.
"""

from __future__ import annotations

import email.errors
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from errors import KnownFixError, MailboxError, NotMail
from kb.store import now_utc
from service.auth import User, require
from service.cases import Cases, project_code
from service.mail_parse import Mail, parse_mail
from service.mail_sources import RawMessage, path_messages

TAKEN, REPEAT, REJECTED = "taken", "repeat", "rejected"
STATUSES = (TAKEN, REPEAT, REJECTED)
# Errors a damaged message can raise deep inside the standard library's parser; caught
# per message so that the mailbox goes on, and reported as the message's reason.
UNREADABLE = (ValueError, LookupError, TypeError, AttributeError, RecursionError,
              email.errors.MessageError)
CLAIM_TIMEOUT = timedelta(minutes=10)  # a claim older than this was left by a dead run


@dataclass(frozen=True)
class Outcome:
    """What became of one message."""

    source: str
    status: str
    key: str = ""
    case_id: str | None = None
    reason: str = ""
    subject: str = ""
    sender: str = ""

    def line(self) -> str:
        """One line for a person: status, case, where the message came from, why."""
        if self.status == TAKEN:
            return f"taken     {self.case_id}  {self.source}  {self.subject[:80]}"
        if self.status == REPEAT:
            return f"repeat    {self.case_id or '-'}  {self.source}  ({self.reason})"
        return f"rejected  {self.source}: {self.reason}"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class IntakeReport:
    """The outcomes of one intake run, in the order the messages came."""

    run: str
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, status: str) -> list[Outcome]:
        """The outcomes with one status, in order."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def taken(self) -> list[Outcome]:
        return self.of(TAKEN)

    @property
    def repeats(self) -> list[Outcome]:
        return self.of(REPEAT)

    @property
    def rejected(self) -> list[Outcome]:
        return self.of(REJECTED)

    def counts(self) -> dict[str, int]:
        """messages, taken, repeat, rejected."""
        return {"messages": len(self.outcomes),
                **{s: len(self.of(s)) for s in STATUSES}}

    def summary(self) -> str:
        c = self.counts()
        return (f"{c['messages']} messages: taken {c[TAKEN]}, repeats {c[REPEAT]} "
                f"(already taken), rejected {c[REJECTED]}")

    def to_json(self) -> dict:
        return {"run": self.run, **self.counts(),
                "outcomes": [o.to_json() for o in self.outcomes]}


@dataclass(frozen=True)
class IntakeLogEntry:
    """One row of the intake log: a message's outcome in one run."""

    id: int
    run: str
    at: str
    actor: str
    source: str
    message_key: str
    status: str
    case_id: str | None
    reason: str
    subject: str
    sender: str

    @classmethod
    def from_row(cls, row: dict) -> IntakeLogEntry:
        """From a `mail_log` row (NULL text read as '')."""
        text = {k: row[k] or "" for k in ("run", "at", "actor", "source", "message_key",
                                          "status", "reason", "subject", "sender")}
        return cls(id=row["id"], case_id=row["case_id"], **text)


class MailIntake:
    """Turns e-mails into cases once each and logs the outcome of every message."""

    def __init__(self, cases: Cases) -> None:
        self.cases = cases
        self.kb = cases.kb

    # -- what was taken -----------------------------------------------------------------------
    def seen(self, key: str) -> str | None:
        """The case a message became, or None if it was never taken."""
        row = self.kb.db.execute("SELECT case_id FROM mail_seen WHERE message_id = ?",
                                 [key]).fetchone()
        return row[0] if row else None

    def _claim(self, key: str) -> str | None:
        """Mark `key` as being taken by this run, atomically.  Returns None when the claim
        is ours, else the case it already became ('' while another run is taking it)."""
        with self.kb.transaction():
            row = self.kb.db.execute("SELECT case_id, at FROM mail_seen WHERE message_id = ?",
                                     [key]).fetchone()
            if row is not None and (row[0] or not _stale(row[1])):
                return row[0] or ""
            self.kb.db.execute("INSERT OR REPLACE INTO mail_seen (message_id, case_id, at) "
                               "VALUES (?, NULL, ?)", [key, now_utc()])
        return None

    def _release(self, key: str) -> None:
        """Drop this run's claim on `key` (the message was not taken after all)."""
        with self.kb.transaction():
            self.kb.db.execute("DELETE FROM mail_seen WHERE message_id = ? AND case_id IS NULL",
                               [key])

    def take(self, actor: User, mail: Mail, project: str | None = None) -> str:
        """Open the case for one message (already claimed) and record it; the case id."""
        case = self.cases.open(actor, mail.description(), title=mail.title, project=project,
                               channel="email", contact=mail.contact,
                               received_at=mail.received_at or "")
        with self.kb.transaction():
            self.kb.db.execute("UPDATE mail_seen SET case_id = ?, at = ? WHERE message_id = ?",
                               [case.id, now_utc(), mail.key])
            self.kb.log(actor.username, "mail:taken", case.key, {"message_id": mail.key})
        return case.id

    # -- one message --------------------------------------------------------------------------
    def _one(self, actor: User, raw: RawMessage, project: str | None) -> Outcome:
        """The outcome of one message; never raises for anything the message holds."""
        if raw.known_id:
            case_id = self.seen(raw.known_id)
            if case_id:
                return Outcome(raw.source, REPEAT, raw.known_id, case_id,
                               "Message-ID seen before")
        try:
            mail = parse_mail(raw.data)
        except NotMail as exc:
            return Outcome(raw.source, REJECTED, reason=str(exc))
        except UNREADABLE as exc:
            return Outcome(raw.source, REJECTED,
                           reason=f"unreadable message ({type(exc).__name__}: {exc})"[:300])
        return self._take_or_skip(actor, raw.source, mail, project)

    def _take_or_skip(self, actor: User, source: str, mail: Mail,
                      project: str | None) -> Outcome:
        how = "same raw message" if mail.key.startswith("sha256:") else "Message-ID"
        known = self._claim(mail.key)
        if known is not None:
            reason = f"{how} seen before" if known else f"{how} being taken by another run"
            return Outcome(source, REPEAT, mail.key, known or None, reason, mail.title,
                           mail.contact)
        try:
            case_id = self.take(actor, mail, project)
        except (KnownFixError, *UNREADABLE) as exc:
            self._release(mail.key)
            reason = str(exc) if isinstance(exc, KnownFixError) else \
                f"could not open a case ({type(exc).__name__}: {exc})"
            return Outcome(source, REJECTED, mail.key, reason=reason[:300],
                           subject=mail.title, sender=mail.contact)
        except BaseException:  # interrupted: leave no claim behind
            self._release(mail.key)
            raise
        return Outcome(source, TAKEN, mail.key, case_id, subject=mail.title,
                       sender=mail.contact)

    # -- runs ---------------------------------------------------------------------------------
    def intake(self, actor: User, messages: Iterable[RawMessage], project: str | None = None,
               on_outcome: Callable[[Outcome], None] | None = None) -> IntakeReport:
        """Take every new message; log and report the outcome of each.  A mailbox that
        breaks off (MailboxError) ends the run after logging what was done so far.  A bad
        `project` code is refused before any message is read."""
        require(actor, "case.open")
        if project:
            project = project_code(project)
        report = IntakeReport(run=_run_id())
        for raw in messages:
            outcome = self._one(actor, raw, project)
            self._log(report.run, actor, outcome)
            report.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return report

    def import_file(self, actor: User, path: str | Path, project: str | None = None,
                    on_outcome: Callable[[Outcome], None] | None = None) -> IntakeReport:
        """One .eml or mbox file, a maildir or a folder of such files."""
        return self.import_paths(actor, [path], project, on_outcome)

    def import_paths(self, actor: User, paths: Iterable[str | Path],
                     project: str | None = None,
                     on_outcome: Callable[[Outcome], None] | None = None) -> IntakeReport:
        """Files (.eml, mbox), maildirs and folders, in the order given."""
        require(actor, "case.open")
        return self.intake(actor, path_messages(paths), project, on_outcome)

    def _log(self, run: str, actor: User, outcome: Outcome) -> None:
        """One `mail_log` row for one outcome."""
        with self.kb.transaction():
            self.kb.db.execute(
                "INSERT INTO mail_log (run, at, actor, source, message_key, status, case_id, "
                "reason, subject, sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run, now_utc(), actor.username, outcome.source[:500], outcome.key,
                 outcome.status, outcome.case_id, outcome.reason[:500],
                 outcome.subject[:300], outcome.sender[:300]])

    def log(self, actor: User, limit: int = 200, status: str | None = None,
            run: str | None = None) -> list[IntakeLogEntry]:
        """The intake log, newest first: every message's outcome (for the app's Admin)."""
        require(actor, "kb.import")
        sql, args = "SELECT * FROM mail_log WHERE 1=1", []
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        if run:
            sql, args = sql + " AND run = ?", [*args, run]
        rows = self.kb.db.query(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [IntakeLogEntry.from_row(r) for r in rows]

    # -- polling ------------------------------------------------------------------------------
    def poll(self, actor: User, fetch: Callable[[], Iterable[RawMessage]], interval: float,
             stop: threading.Event, project: str | None = None,
             on_report: Callable[[IntakeReport], None] | None = None,
             on_error: Callable[[KnownFixError], None] | None = None) -> None:
        """Run an intake of `fetch()` now and then every `interval` seconds until `stop`
        is set.  A mailbox that cannot be read this time (MailboxError) is reported to
        `on_error` and tried again at the next interval."""
        if interval <= 0:
            raise ValueError("the poll interval must be positive")
        while not stop.is_set():
            try:
                report = self.intake(actor, fetch(), project)
            except MailboxError as exc:
                if on_error:
                    on_error(exc)
            else:
                if on_report:
                    on_report(report)
            stop.wait(interval)

    def start_polling(self, actor: User, fetch: Callable[[], Iterable[RawMessage]],
                      interval: float, project: str | None = None,
                      on_report: Callable[[IntakeReport], None] | None = None,
                      on_error: Callable[[KnownFixError], None] | None = None
                      ) -> tuple[threading.Thread, threading.Event]:
        """`poll` in a daemon thread (for `knownfix serve`); set the returned event to
        stop it after its current run."""
        stop = threading.Event()
        thread = threading.Thread(target=self.poll, name="mail-poll", daemon=True,
                                  args=(actor, fetch, interval, stop, project, on_report,
                                        on_error))
        thread.start()
        return thread, stop


def _run_id() -> str:
    """A run's id: its start time and a random suffix, sortable."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def _stale(at: str | None) -> bool:
    """Whether a claim made at `at` (ISO-8601 UTC) is older than CLAIM_TIMEOUT."""
    try:
        when = datetime.fromisoformat((at or "").replace("Z", "+00:00"))
    except ValueError:
        return True
    return datetime.now(UTC) - when > CLAIM_TIMEOUT
