"""Severity: keyword rules plus learned probabilities.

Untuned, the learned probabilities are decided with asymmetric costs: rating a case
below its true level costs twice as much per level as rating it above, so when the
evidence is split the higher level wins.  Tuned (triage/tuning.py), each level above the
lowest has a cutoff on P(that level or above), set on the team's own history so that a
chosen share of the truly most severe cases is rated at the top (`top_severity_recall`).
Keyword rules then set a floor (they only ever raise the rating).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

UNDER_COST = 2.0
OVER_COST = 1.0


@dataclass
class SeverityRating:
    """A level with its confidence and why: `reason` in English words, `basis` the same
    as data for an edge to say in its own language: {"code": "learned", "records",
    "p", "rule"?} | {"code": "no_history", "rule"?} | {"code": "rule", "rule", "level"}."""

    level: str | None
    confidence: float
    reason: str
    rule: str | None = None
    basis: dict = field(default_factory=dict)


class SeverityRules:
    """Configured phrases per level; matching ignores case and full/half width."""

    def __init__(self, levels: list[str], rules: dict[str, list[str]]) -> None:
        self.levels = levels
        self.rules = {lv: [self._norm(p) for p in phrases if p.strip()]
                      for lv, phrases in rules.items() if lv in levels}

    @staticmethod
    def _norm(text: str) -> str:
        return unicodedata.normalize("NFKC", text).casefold()

    def floor(self, text: str) -> tuple[str, str] | None:
        """The highest level whose phrase occurs in text, with that phrase."""
        norm = self._norm(text)
        for level in reversed(self.levels):
            for phrase in self.rules.get(level, []):
                if phrase in norm:
                    return level, phrase
        return None


def decide(levels: list[str], probs: dict[str, float]) -> tuple[str, float]:
    """The level with the lowest expected cost, and its probability."""
    p = [probs.get(lv, 0.0) for lv in levels]
    best, best_cost = 0, float("inf")
    for guess in range(len(levels)):
        cost = sum(pt * (UNDER_COST * (t - guess) if t > guess else OVER_COST * (guess - t))
                   for t, pt in enumerate(p))
        if cost < best_cost - 1e-12:
            best, best_cost = guess, cost
    return levels[best], p[best]


def at_or_above(levels: list[str], probs: dict[str, float]) -> list[float]:
    """P(level or above) for each level, least severe first."""
    p = [probs.get(lv, 0.0) for lv in levels]
    return [sum(p[i:]) for i in range(len(levels))]


def decide_by_cutoffs(levels: list[str], probs: dict[str, float],
                      cutoffs: dict[str, float]) -> tuple[str, float]:
    """The most severe level whose P(level or above) reaches its cutoff (the lowest
    level when none does), and that level's probability."""
    tail = at_or_above(levels, probs)
    for i in range(len(levels) - 1, 0, -1):
        cut = cutoffs.get(levels[i])
        if cut is not None and tail[i] >= cut:
            return levels[i], probs.get(levels[i], 0.0)
    return levels[0], probs.get(levels[0], 0.0)


def rate(levels: list[str], rules: SeverityRules, text: str,
         probs: dict[str, float], evidence: int,
         cutoffs: dict[str, float] | None = None) -> SeverityRating:
    """Combine the learned probabilities (may be empty) with the keyword floor; with
    `cutoffs` (tuned) the learned level is decided by them."""
    floor = rules.floor(text)
    if probs:
        level, conf = (decide_by_cutoffs(levels, probs, cutoffs) if cutoffs
                       else decide(levels, probs))
        reason = f"learned from {evidence} rated records (p={conf:.2f})"
        basis: dict = {"code": "learned", "records": evidence, "p": round(conf, 2)}
    else:
        level, conf, reason = None, 0.0, "no rated history yet"
        basis = {"code": "no_history"}
    if floor and (level is None or levels.index(floor[0]) > levels.index(level)):
        return SeverityRating(floor[0], 1.0, f"rule: “{floor[1]}” → {floor[0]}", floor[1],
                              {"code": "rule", "rule": floor[1], "level": floor[0]})
    if floor:
        reason += f"; rule “{floor[1]}” agrees"
        basis["rule"] = floor[1]
    return SeverityRating(level, conf, reason, floor[1] if floor else None, basis)
