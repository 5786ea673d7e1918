"""Severity: keyword rules plus learned probabilities, decided with asymmetric costs.

Rating a case below its true level costs twice as much per level as rating it above,
so when the evidence is split the higher level wins; keyword rules then set a floor
(they only ever raise the rating).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

UNDER_COST = 2.0
OVER_COST = 1.0


@dataclass
class SeverityRating:
    level: str | None
    confidence: float
    reason: str
    rule: str | None = None


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


def rate(levels: list[str], rules: SeverityRules, text: str,
         probs: dict[str, float], evidence: int) -> SeverityRating:
    """Combine the learned probabilities (may be empty) with the keyword floor."""
    floor = rules.floor(text)
    if probs:
        level, conf = decide(levels, probs)
        reason = f"learned from {evidence} rated records (p={conf:.2f})"
    else:
        level, conf, reason = None, 0.0, "no rated history yet"
    if floor and (level is None or levels.index(floor[0]) > levels.index(level)):
        return SeverityRating(floor[0], 1.0, f"rule: “{floor[1]}” → {floor[0]}", floor[1])
    if floor:
        reason += f"; rule “{floor[1]}” agrees"
    return SeverityRating(level, conf, reason, floor[1] if floor else None)
