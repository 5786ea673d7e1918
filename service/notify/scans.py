"""Notifications nobody's action causes, found by the sender on each pass and written as
events (actor `system`), so the event hook turns them into outbox rows like any other:

* `deadline:at_risk` / `deadline:overdue` on a case, from `Cases.attention` (the queue's
  own rule, `Cases.deadline_status`): once per case, status and deadline — key
  `STATUS:CASE:DUE`, a reopened case with a new deadline is told again;
* `follow_up:due` on a case resolved `follow_up_days` ago (and at most as long again)
  with no follow-up call (回访) recorded since: once per resolution — key
  `follow_up:CASE:RESOLVED_AT`.

The check and the event are one write transaction, so two senders scanning at once
log each event once; the outbox's unique event id would drop a second copy anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kb.store import KnowledgeBase
from service.cases import Cases, parse_time
from settings import Settings

SYSTEM = "system"


def _logged(kb: KnowledgeBase, action: str, target: str, key: str) -> bool:
    return kb.db.execute(
        "SELECT 1 FROM events WHERE target = ? AND action = ? "
        "AND json_extract(detail, '$.key') = ? LIMIT 1", [target, action, key]
    ).fetchone() is not None


def _log_once(kb: KnowledgeBase, action: str, target: str, detail: dict) -> bool:
    with kb.transaction():
        if _logged(kb, action, target, detail["key"]):
            return False
        kb.log(SYSTEM, action, target, detail)
        return True


class DeadlineScan:
    """Cases at risk of missing, or past, their response or resolution deadline."""

    def __init__(self, cases: Cases) -> None:
        self.cases = cases

    def __call__(self, now: float) -> int:
        """Log the events not logged yet; returns how many."""
        logged = 0
        for status, found in self.cases.attention(datetime.fromtimestamp(now, UTC)).items():
            for case in found:
                deadline = "due_resolution" if case.fields.get("first_response_at") \
                    else "due_response"
                due = case.fields.get(deadline)
                detail = {"key": f"{status}:{case.id}:{due}", "status": status, "due": due,
                          "deadline": deadline, "assignee": case.fields.get("assignee")}
                logged += _log_once(self.cases.kb, f"deadline:{status}", case.key, detail)
        return logged


class FollowUpScan:
    """Resolved cases due for their follow-up call (回访)."""

    def __init__(self, kb: KnowledgeBase, settings: Callable[[], Settings]) -> None:
        self.kb, self.settings = kb, settings

    def __call__(self, now: float) -> int:
        days = self.settings().follow_up_days
        if days <= 0:
            return 0
        at = datetime.fromtimestamp(now, UTC)
        due_before = (at - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        too_old = (at - timedelta(days=2 * days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = self.kb.db.execute(
            "SELECT id, resolved_at, follow_up FROM cases WHERE resolved_at IS NOT NULL "
            "AND resolved_at <= ? AND resolved_at > ? "
            "AND state IN ('resolved', 'confirmed', 'closed')", [due_before, too_old]).fetchall()
        logged = 0
        for case_id, resolved_at, follow_up in rows:
            done = json.loads(follow_up) if follow_up else {}
            done_at = parse_time(done.get("at")) if done else None
            if done_at and done_at >= parse_time(resolved_at):
                continue
            detail = {"key": f"follow_up:{case_id}:{resolved_at}", "resolved_at": resolved_at,
                      "days": days, "opener": self._opener(case_id)}
            logged += _log_once(self.kb, "follow_up:due", f"case:{case_id}", detail)
        return logged

    def _opener(self, case_id: str) -> str | None:
        """Who took the case in (the intake event's actor), unless it was the system."""
        row = self.kb.db.execute("SELECT actor FROM events WHERE target = ? AND action = "
                                 "'intake' ORDER BY id LIMIT 1", [f"case:{case_id}"]).fetchone()
        return row[0] if row and row[0] != SYSTEM else None
