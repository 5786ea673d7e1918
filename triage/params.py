"""The knobs that decide triage quality, in one record.

Each comes from, in rising priority: its setting's default, the value tuning chose on
the team's own history (triage/tuning.py), and a value the administrator pinned in the
settings.  `TriageParams.resolve` does that merge; the Engine hands the result to the
index (`ranking`) and the triager (the rest).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from indexer.ranking import SCRIPTS, Ranking
from settings import Settings

# Tuned values and the settings that pin them: a pinned setting is never tuned.
PINNED_BY = {
    "fusion": "fusion_weight", "analyzers": "lexical_analyzers",
    "label_boost": "label_boost", "classifier_c": "classifier_c",
    "dense_features": "classifier_dense", "neighbour_weight": "neighbour_weight",
    "match_threshold": "match_threshold", "confidence_threshold": "confidence_threshold",
    "severity_cutoffs": "top_severity_recall",
}


@dataclass(frozen=True)
class TriageParams:
    fusion: dict[str, float] = field(default_factory=lambda: {s: 0.7 for s in SCRIPTS})
    analyzers: str = "both"
    label_boost: float = 0.3
    classifier_c: float = 0.5
    dense_features: float = 1.0
    neighbour_weight: float = 0.25
    match_threshold: float = 0.45
    confidence_threshold: float = 0.4
    # P(level or above) a case needs to be rated at that level, per level above the
    # lowest; None: the asymmetric-cost decision (triage/severity.py)
    severity_cutoffs: dict[str, float] | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> TriageParams:
        """The untuned values: every knob at its setting."""
        return cls(fusion={sc: s.fusion_weight for sc in SCRIPTS},
                   analyzers=s.lexical_analyzers, label_boost=s.label_boost,
                   classifier_c=s.classifier_c, dense_features=s.classifier_dense,
                   neighbour_weight=s.neighbour_weight, match_threshold=s.match_threshold,
                   confidence_threshold=s.confidence_threshold)

    @classmethod
    def resolve(cls, s: Settings, tuned: dict | None) -> TriageParams:
        """Settings, overridden by the tuned values of every knob not pinned."""
        base = asdict(cls.from_settings(s))
        for name, value in (tuned or {}).items():
            if name in base and PINNED_BY[name] not in s.pinned:
                base[name] = value
        return cls(**base)

    @property
    def ranking(self) -> Ranking:
        return Ranking(dict(self.fusion), self.analyzers)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TriageParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# -- the stored result of a tuning run (triage/tuning.py makes it) -------------------------------
# Here, beside the parameters it sets, so that reading it (every Engine does at start-up)
# does not import the classifiers.
MIN_RECORDS = 150        # labelled records needed before tuning says anything


@dataclass
class Tuning:
    """What a tuning run chose and why: the chosen values (only the knobs not pinned),
    the figures on the validation records with the values before and after, and when."""

    status: str                      # "tuned" or "too_little_history"
    at: str
    model: str
    labelled: int                    # labelled records in the KB when it ran
    chosen: dict = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Tuning:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
