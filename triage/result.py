"""What triage returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LabelPrediction:
    value: str | None
    confidence: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    given: bool = False


@dataclass
class Match:
    """A known fix: an article or a past case, with why it matched.  `score` is the
    ranking score (the list is in its order); `hybrid` the plain dense + lexical fusion
    it started from, `dense` and `lexical` that fusion's parts."""

    key: str
    kind: str
    id: str
    title: str
    fix: str
    score: float
    hybrid: float
    dense: float
    lexical: float
    matched: list[str]
    labels: dict[str, str]
    severity: str | None


@dataclass
class Escalation:
    """Whether to escalate and why: `reasons` in English words, `codes` the same as data
    for an edge to say in its own language, one per reason: {"code": "no_match", "best",
    "threshold"} | {"code": "severity", "level", "top"} | {"code": "low_confidence",
    "field", "confidence", "threshold"}."""

    escalate: bool
    reasons: list[str]
    codes: list[dict] = field(default_factory=list)


@dataclass
class TriageResult:
    text: str
    labels: dict[str, LabelPrediction]
    severity: str | None
    severity_confidence: float
    severity_reason: str
    matches: list[Match]
    escalation: Escalation
    timings_ms: dict[str, float] = field(default_factory=dict)
    severity_basis: dict = field(default_factory=dict)  # severity_reason as data

    def to_dict(self) -> dict:
        return asdict(self)
