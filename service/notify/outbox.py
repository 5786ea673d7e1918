"""The outbox: notifications waiting to be delivered, one row per recipient and channel.

Life of a row::

    pending ──claim (lease)──▶ delivering ──ok──▶ sent
       ▲                          │
       └── failed: retry after ◀──┘──failed N times, or refused for good──▶ dead
           backoff · 2^(attempts-1)                              (notify retry: pending)

* `enqueue` runs inside the transaction of the event that causes the row (the event
  hook), so the row exists exactly when the event does.  `event_id` is UNIQUE: a second
  enqueue of the same notification is ignored.
* `claim` takes due rows for one sender in one write transaction and stamps them with
  the sender's name and a lease (`claimed_until`); another sender skips them until the
  lease runs out, so a sender killed mid-way leaves its rows to the next one.  Each
  claim counts as an attempt, so a row that kills its sender still goes dead in the end.
  On SQLite the write lock makes claims take turns.  On PostgreSQL, where several app
  servers send, a claim locks only the rows it takes (`FOR UPDATE SKIP LOCKED`, outside
  the knowledge base's one write lock): two servers never take the same row and never
  wait for each other.  Marking a held row sent or failed locks only that row too.
* Times are UTC ISO-8601 with milliseconds (`stamp`), compared as text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from errors import BadInput
from kb.store import KnowledgeBase

STATES = ("pending", "sent", "dead")
_COLUMNS = ("id", "event_id", "channel", "format", "recipient", "address", "lang", "payload",
            "state", "attempts", "next_attempt_at", "last_error", "claimed_by",
            "claimed_until", "sent_at", "created_at")


def stamp(t: float | None = None) -> str:
    """A Unix time as UTC ISO-8601 with milliseconds and a Z (sorts as text)."""
    t = time.time() if t is None else t
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class OutboxRow:
    """One row of the outbox; `payload` is the stored Message as a dict."""

    id: int
    event_id: str
    channel: str
    format: str
    recipient: str
    address: str
    lang: str
    payload: dict
    state: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    claimed_by: str | None
    claimed_until: str | None
    sent_at: str | None
    created_at: str

    def to_json(self) -> dict:
        return {c: getattr(self, c) for c in _COLUMNS}


def backoff_delay(attempts: int, first: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: first, 2·first, 4·first …
    never more than `cap`."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


class Outbox:
    """Enqueue, claim, and record the outcome of notifications."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def enqueue(self, event_id: str, channel: str, fmt: str, recipient: str, address: str,
                lang: str, payload: dict, now: float | None = None,
                not_before: float | None = None) -> bool:
        """Add a pending row (inside the caller's transaction, if any); False when a row
        with this event id exists already.  `not_before`: a Unix time the row waits
        for (a customer's follow-up link goes out days after the close)."""
        at = stamp(now)
        due = at if not_before is None else max(at, stamp(not_before))
        with self.kb.transaction():
            cur = self.kb.db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, channel, format, recipient, address, "
                "lang, payload, state, attempts, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                [event_id, channel, fmt, recipient, address, lang,
                 json.dumps(payload, ensure_ascii=False), due, at])
        return cur.rowcount > 0

    def claim(self, sender: str, limit: int, lease: float,
              now: float | None = None) -> list[OutboxRow]:
        """Take up to `limit` due rows (pending, next attempt reached, no live lease) for
        `sender` until now + `lease`, oldest first; each claim counts as an attempt."""
        now = time.time() if now is None else now
        at = stamp(now)
        with self.kb.transaction(serial=False):
            ids = [r[0] for r in self.kb.db.execute(
                "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND (claimed_until IS NULL OR claimed_until <= ?) "
                "ORDER BY next_attempt_at, id LIMIT ?" + self._locking(skip=True),
                [at, at, limit])]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            self.kb.db.execute(
                f"UPDATE outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 "
                f"WHERE id IN ({marks})", [sender, stamp(now + lease), *ids])
            return self._select(f"id IN ({marks}) ORDER BY next_attempt_at, id", ids)

    def _locking(self, skip: bool = False) -> str:
        """What a SELECT of rows about to be changed ends with: on PostgreSQL a lock on
        just those rows (`skip`: rows another server holds are passed over, not waited
        for); nothing on SQLite, whose transaction holds the one write lock already."""
        if self.kb.dialect != "postgresql":
            return ""
        return " FOR UPDATE SKIP LOCKED" if skip else " FOR UPDATE"

    def renew(self, sender: str, ids: list[int], lease: float,
              now: float | None = None) -> int:
        """Extend `sender`'s lease on the rows it still holds; returns how many."""
        if not ids:
            return 0
        now = time.time() if now is None else now
        marks = ",".join("?" * len(ids))
        with self.kb.transaction(serial=False):
            return self.kb.db.execute(
                f"UPDATE outbox SET claimed_until = ? WHERE claimed_by = ? "
                f"AND state = 'pending' AND id IN ({marks})",
                [stamp(now + lease), sender, *ids]).rowcount

    def sent(self, row_id: int, now: float | None = None) -> None:
        """Mark a row delivered.  A customer's mail (recipient customer:CASE) loses its
        link once sent: the link's token is kept nowhere else (service/customer_links.py)."""
        with self.kb.transaction(serial=False):
            row = self.kb.db.execute("SELECT recipient, payload FROM outbox WHERE id = ? "
                                     "AND state = 'pending'" + self._locking(),
                                     [row_id]).fetchone()
            if row is None:
                return
            payload = row[1]
            if row[0].startswith("customer:"):
                payload = json.dumps({**json.loads(payload or "{}"), "link": ""},
                                     ensure_ascii=False)
            self.kb.db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL, "
                "claimed_by = NULL, claimed_until = NULL, payload = ? "
                "WHERE id = ? AND state = 'pending'", [stamp(now), payload, row_id])

    def failed(self, row_id: int, error: str, permanent: bool, max_attempts: int,
               backoff: float, backoff_max: float, now: float | None = None) -> str:
        """Record a failed attempt: the row waits for its next attempt (back-off), or is
        dead when refused for good or out of attempts.  Returns the new state."""
        now = time.time() if now is None else now
        with self.kb.transaction(serial=False):
            row = self.kb.db.execute("SELECT attempts, state FROM outbox WHERE id = ?"
                                     + self._locking(), [row_id]).fetchone()
            if row is None or row[1] != "pending":
                return row[1] if row else "missing"
            attempts = int(row[0])
            dead = permanent or attempts >= max_attempts
            state = "dead" if dead else "pending"
            due = stamp(now + backoff_delay(attempts, backoff, backoff_max))
            self.kb.db.execute(
                "UPDATE outbox SET state = ?, last_error = ?, claimed_by = NULL, "
                "claimed_until = NULL, next_attempt_at = CASE WHEN ? THEN next_attempt_at "
                "ELSE ? END WHERE id = ?", [state, error[:500], dead, due, row_id])
        return state

    def retry(self, ids: list[int] | None = None) -> int:
        """Dead rows (all, or those with these ids) back to pending with fresh attempts;
        returns how many."""
        sql = ("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "
               "claimed_by = NULL, claimed_until = NULL WHERE state = 'dead'")
        args: list = [stamp()]
        if ids:
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            args += list(ids)
        with self.kb.transaction():
            return self.kb.db.execute(sql, args).rowcount

    def rows(self, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """Rows, newest first; only one state when given."""
        if state is not None and state not in STATES:
            raise BadInput(f"unknown outbox state {state!r} (use {', '.join(STATES)})")
        if state:
            return self._select("state = ? ORDER BY id DESC LIMIT ?", [state, limit])
        return self._select("1=1 ORDER BY id DESC LIMIT ?", [limit])

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, 0 when none)."""
        found = dict(self.kb.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))
        return {s: int(found.get(s, 0)) for s in STATES}

    def _select(self, where: str, args: list) -> list[OutboxRow]:
        rows = self.kb.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE {where}",
                                  args).fetchall()
        out = []
        for r in rows:
            d = dict(zip(_COLUMNS, r, strict=True))
            d["payload"] = json.loads(d["payload"] or "{}")
            out.append(OutboxRow(**d))
        return out
