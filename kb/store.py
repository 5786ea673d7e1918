"""KnowledgeBase: cases, articles, labels, links and the append-only event log in SQLite.

Every write bumps a global sequence number stored on the changed row (or, for a
deletion, in `removed`), so an index can catch up with `changes_since(seq)` and can
always be rebuilt from the database alone.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from errors import BadInput, NewerSchema, NotFound, StaleRecord, UnknownLabel
from kb.records import KINDS, Record, is_known_fix


def pg_url(location: str) -> bool:
    """Whether a database location names a PostgreSQL server rather than a file."""
    return location.startswith(("postgresql://", "postgres://"))


def _import_sqlite_utils() -> ModuleType:
    """sqlite-utils, imported without pandas.  sqlite-utils imports pandas, when it is
    installed, only to store pandas.Timestamp values, which KnownFix never writes; and
    pandas takes longer to import than all the rest of `knownfix case show`.  Where
    pandas is already loaded (the app's pages use it) nothing is changed."""
    if "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` fails here
    try:
        import sqlite_utils
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

# The schema this code makes.  Raise it with every change of the tables (the change
# itself goes into _create_schema, written so that it upgrades an older database in place:
# a table or column made when missing); an older database is upgraded when opened, a newer
# one refused (NewerSchema): an older KnownFix must not write to a schema it does not know.
SCHEMA_VERSION = 1
_DOC_COLUMNS = {
    "id": str, "title": str, "text": str, "fix": str, "severity": str, "state": str,
    "extra": str, "created_at": str, "updated_at": str, "seq": int,
}
# Columns only cases have: intake, workflow and follow-up (JSON where noted).
CASE_COLUMNS = {
    "project": str, "channel": str, "customer": str, "contact": str, "asset_model": str,
    "asset_serial": str, "product": str, "received_at": str, "last_service_at": str,
    "priority": str, "assignee": str, "team": str, "first_response_at": str,
    "resolved_at": str, "confirmed_at": str, "closed_at": str, "due_response": str,
    "due_resolution": str, "triage": str, "escalation": str, "delay": str, "dispatch": str,
    "service_record": str, "satisfaction": int, "satisfaction_comment": str,
    "follow_up": str, "recurrence_of": str, "duplicate_of": str, "resolved_with": str,
    "first_contact": int,
    # the customer and equipment records (service/customers.py) the case is about; the
    # free-text customer / asset_* columns above stay as typed at intake
    "customer_id": str, "asset_id": str,
    "work_type": str,  # "fault" (None: the same) or "maintenance" (定期维护, a plan's)
    "lang": str,  # the customer's language (zh, en) where known: mails and pages to them
}
ARTICLE_COLUMNS = {"version": int, "source_case": str, "reviewed_at": str, "author": str,
                   # "internal" (None: the same) or "external": customers may see it
                   "audience": str}
_TABLE = {"case": "cases", "article": "articles"}
EVENT_ROWS = 180  # events per INSERT: 900 parameters, under SQLite's oldest limit (999)
RELATIONS = ("suggested", "used", "created-from", "not-helpful", "duplicate-of", "recurrence-of")


@dataclass(frozen=True)
class Event:
    """One entry of the event log, as given to the event hooks (see `KnowledgeBase.log`)."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict


EventHook = Callable[[Event], None]


class _Lease:
    """A thread's PostgreSQL connection, put back for reuse when the thread ends (its
    thread-local storage is dropped then) if it is idle and there is room; else closed."""

    KEEP = 8  # idle connections kept per KnowledgeBase

    def __init__(self, idle: list, db: object) -> None:
        self.idle, self.db = idle, db

    def __del__(self) -> None:
        conn = self.db.conn  # type: ignore[attr-defined]
        try:
            if len(self.idle) < self.KEEP and not conn.in_transaction and not conn.raw.closed:
                self.idle.append(self.db)
            else:
                conn.close()
        except Exception:
            pass


def now_utc() -> str:
    """The current time as UTC ISO-8601 with a Z, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(ids: list[str], size: int = 900) -> Iterator[tuple[list[str], str]]:
    """`ids` in slices of `size` (under SQLite's oldest limit of parameters), each with
    its placeholders."""
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        yield chunk, ",".join("?" * len(chunk))


class KnowledgeBase:
    """The knowledge base in one SQLite file (WAL mode, busy timeout), or, given a
    `postgresql://` address, in a PostgreSQL database (kb/pg.py): the same tables and
    the same behaviour either way."""

    def __init__(self, path: str | Path, levels: list[str] | None = None) -> None:
        self.url = str(path) if pg_url(str(path)) else None
        self.dialect = "postgresql" if self.url else "sqlite"
        self.path = Path(path) if not self.url else Path()
        self._memory = str(path) == ":memory:"
        if not self._memory and not self.url:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per thread: the app serves every session from one KnowledgeBase
        # in several threads, and a shared connection would mix their transactions.
        # Threads see each other's work once committed (WAL), like separate processes.
        self._local = threading.local()
        self._all: weakref.WeakSet = weakref.WeakSet()
        # PostgreSQL connections of threads that have ended, for the next new thread: a
        # server forks a process per connection, a few ms the app would pay on every
        # page run (Streamlit runs each in a new thread)
        self._idle: list = []
        self._closed = False
        self._shared = self._connect() if self._memory else None  # :memory: is one thread's
        self.levels = list(levels or [])
        # name -> hook called by log() inside the event's own transaction (on_log)
        self._hooks: dict[str, EventHook] = {}
        if not self._schema_complete():
            with self.transaction():  # all of the schema or none of it, one creator at a time
                self._create_schema()

    def _connect(self) -> sqlite_utils.Database:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        if self.url:
            from kb.pg import PgDatabase

            db = PgDatabase(self.url)
            self._all.add(db)
            return db  # type: ignore[return-value]  # the same interface, see kb/pg.py
        conn = sqlite3.connect(str(self.path) if not self._memory else ":memory:", timeout=30,
                               check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = sqlite_utils.Database(conn)
        self._all.add(db)
        return db

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (opened on first use, closed when the thread ends)."""
        if self._shared is not None:
            return self._shared
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._idle.pop() if self._idle else self._connect()
            if self.url:  # handed back when the thread ends (a new one per page run)
                self._local.lease = _Lease(self._idle, db)
        return db

    @property
    def where(self) -> str:
        """Where the knowledge base lives, for messages: the file, or the server and
        database (never the password)."""
        if not self.url:
            return str(self.path)
        from kb.pg import describe

        return describe(self.url)

    # -- schema -------------------------------------------------------------------
    _SCHEMA = frozenset({*_TABLE.values(), "labels", "links", "article_versions", "removed",
                         "meta", "events", "events_no_update", "events_no_delete",
                         "mail_seen", "mail_log", "outbox", "notify_prefs"})
    _SCHEMA |= {"api_tokens", "api_idempotency"}  # the HTTP API's (_create_api_tables)
    _SCHEMA |= {"display_names"}  # names of label values (service/display_names.py)
    _SCHEMA |= {"customers", "assets"}  # service/customers.py (_create_customer_tables)
    _SCHEMA |= {"parts", "case_items", "billing"}  # service/charges.py (_create_charge_tables)
    _SCHEMA |= {"maintenance_plans", "maintenance_runs"}  # service/maintenance.py
    _SCHEMA |= {"status_links", "deflections"}  # service/portal.py (_create_portal_tables)
    _SCHEMA |= {"customer_links", "customer_answers"}  # service/customer_links.py

    def _schema_complete(self) -> bool:
        """Every table and trigger is there, at this schema version (opening then takes
        no write lock).  Raises NewerSchema for a database a newer KnownFix upgraded."""
        if self.url:
            from kb.pg import TRIGGERS

            have = set(self.db.table_names()) | (self.db.trigger_names() & TRIGGERS)
            need = (self._SCHEMA - {"events_no_update", "events_no_delete"}) | TRIGGERS
        else:
            have = {r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
            need = self._SCHEMA
        version = int(self._meta("schema_version")) if "meta" in have else 0
        if version > SCHEMA_VERSION:
            raise NewerSchema(f"the knowledge base in {self.where} has schema version "
                              f"{version}, newer than this KnownFix's {SCHEMA_VERSION}: "
                              "run the newer KnownFix that upgraded it")
        if version < SCHEMA_VERSION or not have >= need:
            return False  # an older schema: _create_schema upgrades it in place
        return all(set(self.db[table].columns_dict) >= {*_DOC_COLUMNS, *extra}
                   for table, extra in (("cases", CASE_COLUMNS), ("articles", ARTICLE_COLUMNS)))

    def _create_schema(self) -> None:
        db = self.db
        if self.url:
            from kb.pg import COMPAT_SQL

            db.conn.raw.execute("CREATE EXTENSION IF NOT EXISTS citext")
            db.conn.raw.execute(COMPAT_SQL)
        for kind, table in _TABLE.items():
            extra = CASE_COLUMNS if kind == "case" else ARTICLE_COLUMNS
            if not db[table].exists():
                db[table].create({**_DOC_COLUMNS, **extra}, pk="id")
                db[table].create_index(["seq"])
                db[table].create_index(["state"])
            else:  # a database from an older version gains the new columns
                have = set(db[table].columns_dict)
                for col, kind_ in {**_DOC_COLUMNS, **extra}.items():
                    if col not in have:
                        db[table].add_column(col, kind_)
        if not db["labels"].exists():
            db["labels"].create({"kind": str, "doc_id": str, "field": str, "value": str},
                                pk=("kind", "doc_id", "field"))
            db["labels"].create_index(["field", "value"])
        if not db["links"].exists():
            db["links"].create({"id": int, "case_id": str, "target": str, "relation": str,
                                "at": str, "actor": str}, pk="id")
            db["links"].create_index(["case_id"])
            db["links"].create_index(["target"])
        if not db["article_versions"].exists():
            # One row per write to an article (create, edit, state change): its history.
            db["article_versions"].create({
                "article_id": str, "version": int, "action": str, "title": str, "text": str,
                "fix": str, "state": str, "severity": str, "labels": str, "extra": str,
                "at": str, "actor": str}, pk=("article_id", "version"))
        if not db["removed"].exists():
            db["removed"].create({"key": str, "seq": int}, pk="key")
        if not db["display_names"].exists():  # (field, value, lang) -> name, for the UI
            db["display_names"].create({"field": str, "value": str, "lang": str, "name": str},
                                       pk=("field", "value", "lang"), not_null={"name"})
        if not db["meta"].exists():
            db["meta"].create({"key": str, "value": str}, pk="key")
            db["meta"].insert({"key": "epoch", "value": uuid.uuid4().hex})
        if not db["events"].exists():
            db["events"].create({"id": int, "at": str, "actor": str, "action": str,
                                 "target": str, "detail": str}, pk="id")
            db["events"].create_index(["target"])
        self._create_mail_tables()
        self._create_notify_tables()
        self._create_api_tables()
        self._create_customer_tables()
        self._create_charge_tables()
        self._create_maintenance_tables()
        self._create_portal_tables()
        self._create_answer_tables()
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                   [str(SCHEMA_VERSION)])
        if self.url:
            from kb.pg import TRIGGERS_SQL

            db.conn.raw.execute(TRIGGERS_SQL)
            return
        for op in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS events_no_{op.lower()} BEFORE {op} ON events "
                "BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
            )

    def _create_mail_tables(self) -> None:
        """Mail intake's memory: `mail_seen` maps a message key (Message-ID, or a hash of
        the raw message) to the case it became; `mail_log` holds one row per message per
        intake run — taken, repeat or rejected, with the case and the reason."""
        db = self.db
        if not db["mail_seen"].exists():
            db["mail_seen"].create({"message_id": str, "case_id": str, "at": str},
                                   pk="message_id")
        if not db["mail_log"].exists():
            db["mail_log"].create({"id": int, "run": str, "at": str, "actor": str,
                                   "source": str, "message_key": str, "status": str,
                                   "case_id": str, "reason": str, "subject": str,
                                   "sender": str}, pk="id")
            db["mail_log"].create_index(["run"])
            db["mail_log"].create_index(["status", "id"])

    def _create_notify_tables(self) -> None:
        """Notifications (service/notify): `outbox` holds one row per message to deliver,
        written in the same transaction as the event that causes it; `event_id` (the
        event, recipient and channel) is what a receiver dedupes by.  `notify_prefs`
        holds each user's addresses and the kinds of event they want."""
        db = self.db
        if not db["outbox"].exists():
            db["outbox"].create({
                "id": int, "event_id": str, "channel": str, "format": str, "recipient": str,
                "address": str, "lang": str, "payload": str, "state": str, "attempts": int,
                "next_attempt_at": str, "last_error": str, "claimed_by": str,
                "claimed_until": str, "sent_at": str, "created_at": str}, pk="id",
                not_null={"event_id", "channel", "state", "attempts", "next_attempt_at"})
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS outbox_event_id ON outbox (event_id)")
            db["outbox"].create_index(["state", "next_attempt_at"])
        if not db["notify_prefs"].exists():
            db["notify_prefs"].create({"username": str, "email": str, "webhook": str,
                                       "webhook_format": str, "webhook_secret": str,
                                       "events": str, "updated_at": str}, pk="username")

    def _create_api_tables(self) -> None:
        """The HTTP API's memory (service/tokens.py, service/idempotency.py):
        `api_tokens` holds personal API tokens as the SHA-256 of their secret, never the
        secret; `api_idempotency` the first response to a creating request, per user
        and Idempotency-Key, while a retry may still come (24 h)."""
        db = self.db
        if not db["api_tokens"].exists():
            db["api_tokens"].create({
                "id": int, "username": str, "name": str, "token_hash": str, "prefix": str,
                "created_at": str, "created_by": str, "last_used_at": str,
                "revoked_at": str, "revoked_by": str}, pk="id", not_null={"token_hash"})
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_hash "
                       "ON api_tokens (token_hash)")
            db["api_tokens"].create_index(["username"])
        if not db["api_idempotency"].exists():
            db["api_idempotency"].create({
                "username": str, "key": str, "fingerprint": str, "state": str,
                "status": int, "body": str, "headers": str, "created_at": str,
                "lease_until": str}, pk=("username", "key"))
            db["api_idempotency"].create_index(["created_at"])

    def _create_customer_tables(self) -> None:
        """Customers (客户服务档案) and their equipment (设备档案), service/customers.py.
        `contacts` is a JSON list of {name, phone, email}; times are ISO-8601 UTC, dates
        (installed, warranty end: 三包期) ISO dates.  A merged duplicate keeps its row,
        pointing at the record it was merged into (`merged_into`)."""
        db = self.db
        if not db["customers"].exists():
            db["customers"].create({
                "id": str, "name": str, "contacts": str, "address": str, "contract": str,
                "service_level": str, "note": str, "merged_into": str, "created_at": str,
                "updated_at": str}, pk="id", not_null={"name"})
            db["customers"].create_index(["name"])
        if not db["assets"].exists():
            db["assets"].create({
                "id": str, "customer_id": str, "product": str, "model": str, "serial": str,
                "location": str, "installed_at": str, "warranty_end": str, "note": str,
                "merged_into": str, "created_at": str, "updated_at": str}, pk="id")
            db["assets"].create_index(["serial"])
            db["assets"].create_index(["customer_id", "model"])
        for col in ("customer_id", "asset_id"):
            db.execute(f"CREATE INDEX IF NOT EXISTS cases_{col} ON cases ({col})")

    def _create_charge_tables(self) -> None:
        """Parts and charges (service/charges.py).  Money is integer cents.  `parts` is
        the catalogue (code -> name, unit, price); `case_items` what a case used and
        charges: a part with the name, unit and price copied at the time of use, labour,
        travel or another item, each with its amount (0 when free) and why (warranty);
        `billing` one line per close that sent charges to finance (结案转财务): the case,
        its customer, the lines as JSON and the total.  A billed item points at its line
        (`billing_id`)."""
        db = self.db
        # a code is one part whatever its letter case (HD-4T, hd-4t)
        db.execute("CREATE TABLE IF NOT EXISTS parts (code TEXT PRIMARY KEY COLLATE NOCASE, "
                   "name TEXT NOT NULL, unit TEXT, price INTEGER NOT NULL, "
                   "created_at TEXT, updated_at TEXT)")
        if not db["case_items"].exists():
            db["case_items"].create({
                "id": int, "case_id": str, "kind": str, "code": str, "name": str,
                "unit": str, "quantity": str, "unit_price": int, "amount": int,
                "free": int, "why": str, "billing_id": int, "at": str, "actor": str},
                pk="id", not_null={"case_id", "kind", "quantity", "unit_price", "amount"})
            db["case_items"].create_index(["case_id"])
            db["case_items"].create_index(["billing_id"])
        if not db["billing"].exists():
            db["billing"].create({
                "id": int, "case_id": str, "customer_id": str, "customer": str,
                "lines": str, "total": int, "created_at": str, "actor": str}, pk="id",
                not_null={"case_id", "lines", "total", "created_at"})
            db["billing"].create_index(["created_at"])
            db["billing"].create_index(["case_id"])
    def _create_maintenance_tables(self) -> None:
        """Scheduled maintenance (定期维护, service/maintenance.py): `maintenance_plans`
        holds one plan per row — for an asset or a customer, every `every` days or
        months counted from `anchor` (an ISO date), the next due date, who gets the
        case (a user name and/or a team), title and work, active or paused.
        `maintenance_runs` holds one row per plan and due date, written in the
        transaction that opens the case: its key is what stops a second case for the
        same plan and due date, whoever runs the plans and however often."""
        db = self.db
        if not db["maintenance_plans"].exists():
            db["maintenance_plans"].create({
                "id": int, "customer_id": str, "asset_id": str, "every": int, "unit": str,
                "anchor": str, "next_due": str, "assignee": str, "team": str,
                "title": str, "work": str, "active": int, "created_at": str,
                "created_by": str, "updated_at": str}, pk="id",
                not_null={"every", "unit", "anchor", "next_due", "title", "active"})
            db["maintenance_plans"].create_index(["active", "next_due"])
        if not db["maintenance_runs"].exists():
            db["maintenance_runs"].create({"plan_id": int, "due_on": str, "case_id": str,
                                           "at": str}, pk=("plan_id", "due_on"))
            db["maintenance_runs"].create_index(["case_id"])

    def maintenance_case_ids(self) -> set[str]:
        """The ids of maintenance cases (work_type "maintenance"): routine work that
        teaches the fault classifiers nothing."""
        return {r[0] for r in self.db.execute(
            "SELECT id FROM cases WHERE work_type = 'maintenance'")}
    def _create_portal_tables(self) -> None:
        """The customer request page's (service/portal.py): `status_links` maps the
        SHA-256 of a case's private status token to the case (never the token itself);
        `deflections` counts requests an external article answered before anything was
        filed: when, which article, in which language (nothing about who asked).  Both keep
        the language the customer used (zh, en)."""
        db = self.db
        if not db["status_links"].exists():
            db["status_links"].create({"token_sha256": str, "case_id": str, "created_at": str,
                                       "lang": str},
                                      pk="token_sha256", not_null={"case_id"})
            db["status_links"].create_index(["case_id"])
        if not db["deflections"].exists():
            db["deflections"].create({"id": int, "at": str, "article_id": str, "lang": str},
                                     pk="id", not_null={"at", "article_id"})
            db["deflections"].create_index(["at"])
    def _create_answer_tables(self) -> None:
        """Confirmation and satisfaction by link (service/customer_links.py):
        `customer_links` holds each link sent to a customer as the SHA-256 of its token
        (never the token), what it asks (`purpose`: confirm or follow_up), when it goes
        out and expires, and when it stopped taking answers (`ended_at`: answered, or
        answered another way); `customer_answers` one row per answer, by link (its
        `link_id`, UNIQUE: one answer per link) or recorded by an agent (source phone)."""
        db = self.db
        if not db["customer_links"].exists():
            db["customer_links"].create({
                "id": int, "case_id": str, "purpose": str, "token_hash": str, "lang": str,
                "via": str, "created_at": str, "created_by": str, "send_at": str,
                "expires_at": str, "ended_at": str}, pk="id",
                not_null={"case_id", "purpose", "token_hash", "send_at", "expires_at"})
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS customer_links_hash "
                       "ON customer_links (token_hash)")
            db["customer_links"].create_index(["case_id", "purpose"])
        if not db["customer_answers"].exists():
            db["customer_answers"].create({
                "id": int, "case_id": str, "purpose": str, "source": str, "link_id": int,
                "worked": int, "rating": int, "outcome": str, "comment": str, "at": str,
                "actor": str}, pk="id", not_null={"case_id", "purpose", "source", "at"})
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS customer_answers_link "
                       "ON customer_answers (link_id)")  # NULLs (phone) do not clash
            db["customer_answers"].create_index(["case_id"])

    @contextmanager
    def transaction(self, serial: bool = True) -> Iterator[None]:
        """One atomic write: everything inside lands, or nothing does.  Writers take
        turns (SQLite's write lock; on PostgreSQL one advisory lock, see kb/pg.py), so
        sequence numbers are handed out in commit order.  `serial=False` (PostgreSQL
        only) skips the turn for a write that hands out no sequence number and locks
        its own rows (the outbox's claims, FOR UPDATE SKIP LOCKED)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        if self.url:
            from kb.pg import WRITE_LOCK

            conn.execute("BEGIN")
            if serial:
                conn.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK])
        else:
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one moment of the database (no write lock taken)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if self.url else "BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A lock held by one process at a time (on PostgreSQL: across every server):
        yields True when this process got it, False when another holds it."""
        if self.url:
            from kb.pg import NAMED_LOCKS

            conn = self.db.conn
            got = conn.execute("SELECT pg_try_advisory_lock(?)",
                               [NAMED_LOCKS[name]]).fetchone()[0]
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(?)", [NAMED_LOCKS[name]])
            return
        if self._memory:
            yield True
            return
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path.with_name(f".{name}.lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for another process to commit a change;
        whether one came.  On PostgreSQL a LISTEN wakes it the moment one commits; a
        SQLite file has no such signal, so it waits and says False."""
        if not self.url:
            time.sleep(timeout)
            return False
        listener = getattr(self._local, "listener", None)
        if listener is None:
            from kb.pg import Listener

            listener = self._local.listener = Listener(self.url)
            self._all.add(listener)
        return listener.wait(timeout)

    # -- meta and sequence ------------------------------------------------------------
    def _meta(self, key: str, default: str = "0") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def _bump(self, key: str) -> int:
        value = int(self._meta(key)) + 1
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, str(value)])
        return value

    def meta(self, key: str) -> str | None:
        """A stored value of the knowledge base's own (e.g. the tuning), or None."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            [key, value])

    @property
    def seq(self) -> int:
        """The sequence number of the latest change to any case or article."""
        return int(self._meta("seq"))

    @property
    def epoch(self) -> str:
        """Which database this is: set when it is made and changed when a backup is
        restored into it, so an index built from another one is rebuilt rather than
        caught up by sequence numbers ("" for a database from before epochs)."""
        return self.meta("epoch") or ""

    def new_epoch(self) -> None:
        """Mark the contents as replaced (after a restore): every index rebuilds."""
        self.set_meta("epoch", uuid.uuid4().hex)

    @property
    def label_version(self) -> int:
        """Changes whenever a label or severity that classifiers learn from changes."""
        return int(self._meta("label_version"))

    # -- writing records --------------------------------------------------------------
    def check_severity(self, value: str | None) -> None:
        if value and self.levels and value not in self.levels:
            raise UnknownLabel(
                f"unknown severity {value!r} (levels: {', '.join(self.levels)})")

    def upsert(self, records: Iterable[Record], actor: str = "system") -> int:
        """Insert or replace records (by kind and id), labels included, atomically.
        The batch is written in a few statements, not a few per record (a round trip
        to a database server costs more than the write); each record still gets its
        own sequence number and event, in the order given, and a record given twice
        ends as its last copy."""
        records = list(records)
        for rec in records:
            self._check_record(rec)
        if not records:
            return 0
        with self.transaction():
            known = self._created_at(records)  # key -> created_at of the stored record
            stored = set(known)
            first, stamp = int(self._meta("seq")), now_utc()
            rows: dict[str, dict[str, tuple]] = {kind: {} for kind in KINDS}
            labels: dict[str, list[tuple]] = {}
            events = []
            for n, rec in enumerate(records, 1):
                existed = rec.key in known
                created = rec.created_at or known.get(rec.key) or stamp
                known.setdefault(rec.key, created)  # a second copy in the batch updates
                rows[rec.kind].pop(rec.id, None)  # keep the batch's order of sequence numbers
                rows[rec.kind][rec.id] = (
                    rec.id, rec.title, rec.text, rec.fix, rec.severity or None, rec.state,
                    json.dumps(rec.extra, ensure_ascii=False), created, stamp, first + n)
                labels[rec.key] = [(rec.kind, rec.id, f, v) for f, v in rec.labels.items() if v]
                events.append(("updated" if existed else "created", rec.key))
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)",
                            [str(first + len(records))])
            columns = "id, title, text, fix, severity, state, extra, created_at, updated_at, seq"
            for kind, by_id in rows.items():
                if by_id:
                    # plain SQL: sqlite-utils' upsert reads the table's schema on every call
                    self.db.conn.executemany(
                        f"INSERT INTO {_TABLE[kind]} ({columns}) VALUES ({', '.join('?' * 10)}) "
                        "ON CONFLICT(id) DO UPDATE SET " + ", ".join(
                            f"{c} = excluded.{c}" for c in columns.split(", ")[1:]),
                        list(by_id.values()))
            for kind, by_id in rows.items():
                # Only a stored record has labels to replace.  Asking for a new one's
                # costs a scan of every label row per batch on a new PostgreSQL database,
                # whose planner has not yet seen the table grow: an import slowed as it went.
                relabelled = [rid for rid in by_id if f"{kind}:{rid}" in stored]
                for chunk, marks in _chunks(relabelled):
                    self.db.execute(f"DELETE FROM labels WHERE kind = ? AND doc_id IN ({marks})",
                                    [kind, *chunk])
                for chunk, marks in _chunks(list(by_id)):  # a removed record written again
                    self.db.execute(f"DELETE FROM removed WHERE key IN ({marks})",
                                    [f"{kind}:{rid}" for rid in chunk])
            new_labels = [lab for rows_ in labels.values() for lab in rows_]
            if new_labels:
                self.db.conn.executemany("INSERT INTO labels (kind, doc_id, field, value) "
                                         "VALUES (?, ?, ?, ?)", new_labels)
            self.log_many(actor, [(action, key, None) for action, key in events])
            if any(is_known_fix(rec.kind, rec.state) for rec in records):
                self._bump("label_version")
        return len(records)

    def _check_record(self, rec: Record) -> None:
        if rec.kind not in KINDS:
            raise BadInput(f"unknown kind {rec.kind!r} (use case or article)")
        if not rec.id.strip():
            raise BadInput("a record needs an id")
        self.check_severity(rec.severity)

    def _created_at(self, records: list[Record]) -> dict[str, str]:
        """key -> created_at of those of `records` already stored."""
        out: dict[str, str] = {}
        for kind in KINDS:
            ids = list(dict.fromkeys(r.id for r in records if r.kind == kind))
            for chunk, marks in _chunks(ids):
                for rid, created in self.db.execute(
                        f"SELECT id, created_at FROM {_TABLE[kind]} WHERE id IN ({marks})",
                        chunk):
                    out[f"{kind}:{rid}"] = created
        return out

    def delete(self, kind: str, rid: str, actor: str = "system") -> bool:
        """Remove a record; returns whether it existed. The index drops it on its next sync."""
        table = _TABLE.get(kind)
        if table is None:
            raise BadInput(f"unknown kind {kind!r}")
        with self.transaction():
            gone = self.db.execute(f"DELETE FROM {table} WHERE id = ?", [rid]).rowcount > 0
            if gone:
                self.db.execute("DELETE FROM labels WHERE kind = ? AND doc_id = ?", [kind, rid])
                self.db["removed"].upsert({"key": f"{kind}:{rid}", "seq": self._bump("seq")},
                                          pk="key")
                self._bump("label_version")
                self.log(actor, "deleted", f"{kind}:{rid}")
        return gone

    def update(self, kind: str, rid: str, changes: dict, actor: str, action: str,
               detail: dict | None = None, labels: dict[str, str] | None = None) -> None:
        """Change columns of one record (and optionally its labels) and log the event,
        atomically. The record's sequence number moves so the index picks it up."""
        table = _TABLE[kind]
        with self.transaction():
            before = self._teaching(kind, rid)
            if before is None:
                raise NotFound(f"no {kind} with id {rid!r}", "not_found", kind=kind, id=rid)
            self._check_expected(kind, rid)
            if "severity" in changes:
                self.check_severity(changes["severity"])
            row = {**changes, "updated_at": now_utc(), "seq": self._bump("seq")}
            self.db[table].update(rid, row)
            if labels is not None:
                self.db.execute("DELETE FROM labels WHERE kind = ? AND doc_id = ?", [kind, rid])
                self.db["labels"].insert_all([{"kind": kind, "doc_id": rid, "field": f,
                                               "value": v} for f, v in labels.items() if v])
            if self._teaching(kind, rid) != before:
                self._bump("label_version")  # what classifiers learn from has changed
            self.log(actor, action, f"{kind}:{rid}", detail)

    @contextmanager
    def expecting(self, kind: str, rid: str, seq: int) -> Iterator[None]:
        """Optimistic concurrency (the HTTP API's If-Match): inside the block, this
        thread's first `update` of the record goes ahead only if the record's sequence
        number is still `seq`, checked inside that write's own transaction, so no other
        writer (thread or process) can slip in between the check and the write; else
        StaleRecord and nothing is written.  Later writes in the block are the same
        action's own and pass."""
        expected = self._local.__dict__.setdefault("expected", {})
        key = f"{kind}:{rid}"
        expected[key] = seq
        try:
            yield
        finally:
            expected.pop(key, None)

    def _check_expected(self, kind: str, rid: str) -> None:
        """Raise StaleRecord if `expecting` holds a sequence number for this record that
        is no longer its own (called inside the write's transaction)."""
        seq = self._local.__dict__.get("expected", {}).pop(f"{kind}:{rid}", None)
        if seq is None:
            return
        now = self.db.execute(f"SELECT seq FROM {_TABLE[kind]} WHERE id = ?",
                              [rid]).fetchone()[0]
        if now != seq:
            raise StaleRecord(f"{kind} {rid} has changed since version {seq} (now {now})",
                              "record_moved", kind=kind, id=rid, expected=seq, current=now)

    def _teaching(self, kind: str, rid: str) -> tuple | None:
        """What a record teaches the classifiers: (labels, severity) while it is a known
        fix, () when it teaches nothing (a maintenance case never does), None when
        there is no such record."""
        work = ", work_type" if kind == "case" else ", NULL"
        row = self.db.execute(f"SELECT state, severity{work} FROM {_TABLE[kind]} "
                              "WHERE id = ?", [rid]).fetchone()
        if row is None:
            return None
        if not is_known_fix(kind, row[0]) or row[2] == "maintenance":
            return ()
        labels = self.db.execute("SELECT field, value FROM labels WHERE kind = ? AND "
                                 "doc_id = ? ORDER BY field", [kind, rid]).fetchall()
        return (tuple(labels), row[1]) if labels or row[1] else ()

    def row(self, kind: str, rid: str) -> dict:
        """The raw database row of a record, every column."""
        row = self.db.execute(f"SELECT * FROM {_TABLE[kind]} WHERE id = ?", [rid])
        cols = [d[0] for d in row.description]
        found = row.fetchone()
        if found is None:
            raise NotFound(f"no {kind} with id {rid!r}", "not_found", kind=kind, id=rid)
        return dict(zip(cols, found, strict=True))

    # -- links and events ---------------------------------------------------------------
    def link(self, case_id: str, target: str, relation: str, actor: str = "system") -> None:
        """Record that `target` ('article:ID' or 'case:ID') relates to a case."""
        if relation not in RELATIONS:
            raise BadInput(f"unknown link relation {relation!r}")
        with self.transaction():
            self.db["links"].insert({"case_id": case_id, "target": target, "relation": relation,
                                     "at": now_utc(), "actor": actor})
            self.log(actor, f"link:{relation}", f"case:{case_id}", {"target": target})

    def links(self, case_id: str | None = None, target: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM links WHERE 1=1", []
        if case_id:
            sql, args = sql + " AND case_id = ?", [*args, case_id]
        if target:
            sql, args = sql + " AND target = ?", [*args, target]
        return list(self.db.query(sql + " ORDER BY id", args))

    def log(self, actor: str, action: str, target: str, detail: dict | None = None) -> int:
        """Append one event to the log and return its id. The log has no update or delete.

        Every hook registered with `on_log` is called with the new event inside the same
        transaction, so what a hook writes (an outbox row) lands with the event or not at
        all; a hook that raises rolls the whole action back."""
        return self.log_many(actor, [(action, target, detail)])[0]

    def log_many(self, actor: str, entries: list[tuple[str, str, dict | None]]) -> list[int]:
        """Append events (action, target, detail) in the order given, as `log` does, in
        one statement per EVENT_ROWS of them (to a database server a round trip costs
        more than the row); returns their ids."""
        at = now_utc()
        details = [dict(detail or {}) for _, _, detail in entries]
        rows = [(at, actor, action, target, json.dumps(detail, ensure_ascii=False))
                for (action, target, _), detail in zip(entries, details, strict=True)]
        ids: list[int] = []
        with self.transaction():  # alone, it must take the write lock like any write
            for start in range(0, len(rows), EVENT_ROWS):
                chunk = rows[start:start + EVENT_ROWS]
                found = self.db.execute(
                    "INSERT INTO events (at, actor, action, target, detail) VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)) + " RETURNING id",
                    [value for row in chunk for value in row])
                # ids are handed out in the order of the rows; RETURNING's order is not
                # promised, so they are sorted
                ids += sorted(int(row[0]) for row in found.fetchall())
            for event_id, (action, target, _), detail in zip(ids, entries, details, strict=True):
                event = Event(event_id, at, actor, action, target, detail)
                for hook in list(self._hooks.values()):
                    hook(event)
        return ids

    def on_log(self, name: str, hook: EventHook | None) -> None:
        """Register (or, with None, remove) the hook called `name`: a function given each
        new event inside the event's transaction.  Registering a name again replaces
        the hook, so a service attached twice does not act twice."""
        if hook is None:
            self._hooks.pop(name, None)
        else:
            self._hooks[name] = hook

    def events(self, target: str | None = None, limit: int = 1000) -> list[dict]:
        if target:
            return list(self.db.query(
                "SELECT * FROM events WHERE target = ? ORDER BY id LIMIT ?", [target, limit]))
        return list(self.db.query("SELECT * FROM events ORDER BY id LIMIT ?", [limit]))

    # -- reading --------------------------------------------------------------------------
    def _records(self, kind: str, where: str = "1=1", args: list | None = None) -> list[Record]:
        rows = list(self.db.query(f"SELECT * FROM {_TABLE[kind]} WHERE {where}", args or []))
        labels: dict[str, dict[str, str]] = {}
        if rows:
            for chunk, marks in _chunks([r["id"] for r in rows]):
                for lab in self.db.query(
                        f"SELECT doc_id, field, value FROM labels WHERE kind = ? "
                        f"AND doc_id IN ({marks})", [kind, *chunk]):
                    labels.setdefault(lab["doc_id"], {})[lab["field"]] = lab["value"]
        return [Record(kind=kind, id=r["id"], title=r["title"] or "", text=r["text"] or "",
                       fix=r["fix"] or "", labels=labels.get(r["id"], {}),
                       severity=r["severity"], state=r["state"],
                       extra=json.loads(r["extra"] or "{}"), created_at=r["created_at"],
                       updated_at=r["updated_at"]) for r in rows]

    def get(self, kind: str, rid: str) -> Record:
        if kind not in _TABLE:
            raise BadInput(f"unknown kind {kind!r}")
        found = self._records(kind, "id = ?", [rid])
        if not found:
            raise NotFound(f"no {kind} with id {rid!r}", "not_found", kind=kind, id=rid)
        return found[0]

    def get_many(self, keys: Iterable[str]) -> dict[str, Record]:
        """Records by index key ('case:ID'); missing keys are left out."""
        by_kind: dict[str, list[str]] = {}
        for key in keys:
            kind, _, rid = key.partition(":")
            by_kind.setdefault(kind, []).append(rid)
        out: dict[str, Record] = {}
        for kind, ids in by_kind.items():
            marks = ",".join("?" * len(ids))
            for rec in self._records(kind, f"id IN ({marks})", ids):
                out[rec.key] = rec
        return out

    def records(self, kind: str | None = None) -> list[Record]:
        kinds = [kind] if kind else list(KINDS)
        return [rec for k in kinds for rec in self._records(k)]

    def changes_since(self, seq: int) -> tuple[list[Record], list[str]]:
        """Records written and keys removed after sequence number `seq`."""
        changed = [rec for k in KINDS for rec in self._records(k, "seq > ?", [seq])]
        removed = [r["key"] for r in self.db.query("SELECT key FROM removed WHERE seq > ?", [seq])]
        return changed, removed

    def label_fields(self) -> list[str]:
        # Called on every triage. `SELECT DISTINCT field` scans the whole (field, value)
        # index (every label row); this skip-scan jumps from one field to the next.
        return [r[0] for r in self.db.execute(
            "WITH RECURSIVE f(field) AS (SELECT MIN(field) FROM labels UNION ALL "
            "SELECT (SELECT MIN(field) FROM labels WHERE field > f.field) FROM f "
            "WHERE f.field IS NOT NULL) SELECT field FROM f WHERE field IS NOT NULL")]

    def label_values(self, field: str) -> list[str]:
        if field not in self.label_fields():
            raise UnknownLabel(f"unknown label field {field!r} "
                               f"(known: {', '.join(self.label_fields()) or 'none'})")
        return [r["value"] for r in self.db.query(
            "SELECT DISTINCT value FROM labels WHERE field = ? ORDER BY 1", [field])]

    def counts(self) -> dict[str, int]:
        out = {kind: self.db[_TABLE[kind]].count for kind in KINDS}
        out["labelled"] = self.db.execute(
            "SELECT COUNT(DISTINCT kind || ':' || doc_id) FROM labels").fetchone()[0]
        out["with_fix"] = sum(self.db.execute(
            f"SELECT COUNT(*) FROM {t} WHERE fix != ''").fetchone()[0] for t in _TABLE.values())
        out["links"] = self.db["links"].count
        out["events"] = self.db["events"].count
        return out

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        for db in list(self._all):
            db.conn.close()
