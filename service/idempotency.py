"""Idempotency keys: a creating request sent again (a phone system retrying after a
timeout) returns the first answer instead of opening a second case.

Per user and key, table `api_idempotency` holds a claim, then the first response
(status, body, a few headers) for `TTL` (24 h).  The claim is taken in a write
transaction, so of two requests with the same key — in two threads or two processes —
exactly one runs; the other waits for its answer (`WAIT`), and returns it.  A request
sent again with the same key but a different body is refused (KeyReused), as is one
whose first run is still going after the wait (RequestInProgress).  Only successful
responses are kept: after an error the key is free again, so a corrected retry runs.
A claim left by a process that died is taken over once its lease (`LEASE`) has passed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from errors import BadInput, KeyReused, RequestInProgress
from kb.store import KnowledgeBase

TTL = timedelta(hours=24)
LEASE = timedelta(minutes=5)
WAIT = 10.0  # seconds a duplicate waits for the first request's answer
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the IETF draft's sf-string
PENDING, DONE = "pending", "done"


@dataclass(frozen=True)
class Claim:
    """This request runs; `finish` or `release` it."""

    username: str
    key: str
    lease_until: str


@dataclass(frozen=True)
class Stored:
    """The first request's response, to send again."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Idempotency:
    """Claims and stored responses per (user, Idempotency-Key)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def begin(self, username: str, key: str, fingerprint: str,
              wait: float = WAIT) -> Claim | Stored:
        """Claim `key` for this request, or return the stored first response.  Waits up
        to `wait` seconds while another request holds the key."""
        if not KEY.fullmatch(key):
            raise BadInput("an Idempotency-Key is 1 to 255 visible ASCII characters",
                           "idempotency_key_form")
        deadline = time.monotonic() + wait
        pause = 0.02
        while True:
            found = self._try(username, key, fingerprint)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise RequestInProgress(
                    f"a request with Idempotency-Key {key!r} is still being served; retry "
                    "in a moment", "idempotency_in_progress", idempotency_key=key)
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _try(self, username: str, key: str, fingerprint: str) -> Claim | Stored | None:
        """One attempt, in one write transaction: a claim, the stored response, or None
        while another live request holds the key."""
        now = datetime.now(UTC)
        with self.kb.transaction():
            db = self.kb.db
            db.execute("DELETE FROM api_idempotency WHERE created_at < ?",
                       [_stamp(now - TTL)])
            row = db.execute("SELECT fingerprint, state, status, body, headers, lease_until "
                             "FROM api_idempotency WHERE username = ? AND key = ?",
                             [username, key]).fetchone()
            if row is not None and row[0] != fingerprint:
                raise KeyReused(f"Idempotency-Key {key!r} was used for a different request",
                                "idempotency_key_reused", idempotency_key=key)
            if row is not None and row[1] == DONE:
                return Stored(int(row[2]), (row[3] or "").encode("utf-8"),
                              json.loads(row[4] or "{}"))
            if row is not None and row[5] > _stamp(now):
                return None  # another request is running with this key
            lease = _stamp(now + LEASE)
            db.execute("INSERT OR REPLACE INTO api_idempotency (username, key, fingerprint, "
                       "state, created_at, lease_until) VALUES (?, ?, ?, ?, ?, ?)",
                       [username, key, fingerprint, PENDING, _stamp(now), lease])
            return Claim(username, key, lease)

    def finish(self, claim: Claim, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Keep the response (a JSON body, kept as text so the privacy report reads it)
        of a claimed request for the key's retries (unless its lease ran out and another
        request took the key over)."""
        with self.kb.transaction():
            self.kb.db.execute(
                "UPDATE api_idempotency SET state = ?, status = ?, body = ?, headers = ? "
                "WHERE username = ? AND key = ? AND state = ? AND lease_until = ?",
                [DONE, status, body.decode("utf-8"), json.dumps(headers), claim.username,
                 claim.key, PENDING,
                 claim.lease_until])

    def release(self, claim: Claim) -> None:
        """Give the key back after the claimed request failed: a retry runs afresh."""
        with self.kb.transaction():
            self.kb.db.execute("DELETE FROM api_idempotency WHERE username = ? AND key = ? "
                               "AND state = ? AND lease_until = ?",
                               [claim.username, claim.key, PENDING, claim.lease_until])
