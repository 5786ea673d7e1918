"""Status: is this KnownFix serving, and the figures a monitoring system scrapes.

`health()` answers without a sign-in (a load balancer's probe): the model in use, the
number of records in the search index, and whether the database answers a query.
`gauges()` gives the queue and index sizes for /metrics.  Both only read.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from service.cases import OPEN_STATES, Cases
from service.engine import Engine


class Status:
    """Health and gauges over one Engine."""

    def __init__(self, engine: Engine, cases: Cases) -> None:
        self.engine = engine
        self.cases = cases

    def health(self) -> dict:
        """{"ok", "model", "index": {"records"}, "db": {"reachable", "error"}}; ok is
        false when the database does not answer."""
        db = {"reachable": True, "error": None}
        try:
            self.engine.kb.db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            db = {"reachable": False, "error": str(exc)[:200]}
        stats = self.engine.stats() if db["reachable"] else None
        index = stats["index"] if stats else {}
        return {"ok": db["reachable"], "model": index.get("model"),
                "index": {"records": index.get("count"),
                          "up_to_date": index.get("up_to_date")},
                "db": db}

    def gauges(self, now: datetime | None = None) -> dict:
        """Open cases per state, open cases per deadline status (overdue, at_risk),
        records per kind, and records in the search index."""
        kb = self.engine.kb
        open_by_state = dict.fromkeys(sorted(OPEN_STATES), 0)
        marks = ",".join("?" * len(OPEN_STATES))
        for state, n in kb.db.execute(f"SELECT state, COUNT(*) FROM cases WHERE state IN "
                                      f"({marks}) GROUP BY state", sorted(OPEN_STATES)):
            open_by_state[state] = n
        attention = self.cases.attention(now or datetime.now(UTC))
        counts = kb.counts()
        return {"open_cases": open_by_state,
                "deadlines": {k: len(v) for k, v in attention.items()},
                "records": {"case": counts["case"], "article": counts["article"]},
                "index_records": self.engine.stats()["index"]["count"]}
