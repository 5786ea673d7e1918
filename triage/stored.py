"""The triage kept with a case (its `triage` column, JSON), as a typed record, and the one
definition of a case's labels.

A case's labels are what people confirmed (imported history counts as confirmed); for a
field nobody confirmed, what triage predicted stands in — for reports and ranking
feedback, never for teaching the classifiers (triage/learner.py reads only confirmed
labels).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from triage.result import TriageResult


@dataclass(frozen=True)
class StoredLabel:
    value: str | None
    confidence: float = 0.0
    given: bool = False  # given at intake rather than predicted


@dataclass(frozen=True)
class StoredMatch:
    key: str
    title: str
    score: float
    matched: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredTriage:
    """One triage of a case as stored: predictions, severity, suggested fixes and why
    the case should (or need not) be escalated."""

    at: str
    labels: dict[str, StoredLabel] = field(default_factory=dict)
    severity: str | None = None
    severity_confidence: float = 0.0
    severity_reason: str = ""
    matches: list[StoredMatch] = field(default_factory=list)
    severity_basis: dict = field(default_factory=dict)  # severity_reason as data
    escalate: bool = False
    reasons: list[str] = field(default_factory=list)  # in English words
    reason_codes: list[dict] = field(default_factory=list)  # the same as data, one each

    @property
    def best_score(self) -> float:
        return max((m.score for m in self.matches), default=0.0)

    @property
    def predicted(self) -> dict[str, str]:
        """The label values triage predicted (not given at intake), by field."""
        return {n: p.value for n, p in self.labels.items() if p.value}

    @classmethod
    def of(cls, result: TriageResult, reasons: list[str], codes: list[dict],
           at: str) -> StoredTriage:
        """The record of a triage result; `reasons` (and their `codes`, triage/result.py
        Escalation) are the escalation reasons after the case's own checks (recurrence)
        were added."""
        return cls(at=at,
                   labels={n: StoredLabel(p.value, p.confidence, p.given)
                           for n, p in result.labels.items()},
                   severity=result.severity, severity_confidence=result.severity_confidence,
                   severity_reason=result.severity_reason,
                   severity_basis=dict(result.severity_basis),
                   matches=[StoredMatch(m.key, m.title, m.score, list(m.matched))
                            for m in result.matches],
                   escalate=bool(reasons), reasons=list(reasons),
                   reason_codes=[dict(c) for c in codes])

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "best_score": self.best_score}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: object) -> StoredTriage | None:
        """The record from its stored form (a JSON text or an already parsed object);
        None for a case never triaged, or a value that is not a triage."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data) if data else None
            except ValueError:
                return None
        if not isinstance(data, dict) or not data:
            return None
        labels = {str(n): StoredLabel(p.get("value"), float(p.get("confidence") or 0.0),
                                      bool(p.get("given")))
                  for n, p in (data.get("labels") or {}).items() if isinstance(p, dict)}
        matches = [StoredMatch(str(m.get("key", "")), str(m.get("title", "")),
                               float(m.get("score") or 0.0), list(m.get("matched") or []))
                   for m in (data.get("matches") or []) if isinstance(m, dict)]
        return cls(at=str(data.get("at") or ""), labels=labels,
                   severity=data.get("severity"),
                   severity_confidence=float(data.get("severity_confidence") or 0.0),
                   severity_reason=str(data.get("severity_reason") or ""),
                   severity_basis=dict(data.get("severity_basis") or {}),
                   matches=matches, escalate=bool(data.get("escalate")),
                   reasons=[str(r) for r in data.get("reasons") or []],
                   reason_codes=[c for c in data.get("reason_codes") or []
                                 if isinstance(c, dict)])


def case_labels(confirmed: dict[str, str], triage: StoredTriage | None) -> dict[str, str]:
    """A case's labels: the confirmed values, and triage's prediction for a field nobody
    confirmed."""
    return {**(triage.predicted if triage else {}), **confirmed}
