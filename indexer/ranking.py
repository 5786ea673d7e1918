"""How the index ranks: the fusion of the dense and lexical scores and what the lexical
side reads.  The knobs are chosen per knowledge base by tuning (triage/tuning.py) or set
by the administrator; `Ranking` carries them and `fuse` is the one formula both the index
and the tuner use.

Hybrid score = w * max(cosine, 0) + (1 - w) * normalised BM25, both parts in 0-1, where
w depends on the script of the query (an embedding model may read English well and
Chinese poorly).  The query's context fields (product, model, title) weigh
`context_weight` per word against 1 for a word of the fault description, so a product
name cannot outrank the symptoms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.tokens import ANALYZERS, analyze, script_of

SCRIPTS = ("latin", "cjk")


@dataclass(frozen=True)
class Ranking:
    fusion: dict[str, float] = field(default_factory=lambda: {"latin": 0.7, "cjk": 0.7})
    analyzers: str = "both"
    context_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.analyzers not in ANALYZERS:
            raise ValueError(f"analyzers must be one of {', '.join(ANALYZERS)}")
        if set(self.fusion) != set(SCRIPTS) or not all(0 <= w <= 1
                                                      for w in self.fusion.values()):
            raise ValueError("fusion needs a weight in 0-1 for each of latin and cjk")

    @classmethod
    def uniform(cls, weight: float, **kwargs) -> Ranking:
        """One fusion weight for every script."""
        return cls({s: weight for s in SCRIPTS}, **kwargs)

    def weight_for(self, text: str) -> float:
        return self.fusion[script_of(text)]

    def query_terms(self, text: str, context: str = "") -> dict[str, float]:
        """The lexical query: {token: weight}, description words at 1 each, context
        words at `context_weight` each."""
        terms: dict[str, float] = {}
        for tokens, w in ((analyze(text, self.analyzers), 1.0),
                          (analyze(context, self.analyzers), self.context_weight)):
            for t in tokens:
                terms[t] = terms.get(t, 0.0) + w
        return terms


def fuse(weight: float, dense: np.ndarray | float, lexical: np.ndarray | float):
    """The hybrid score of dense cosines and normalised BM25 scores (arrays or floats)."""
    return weight * np.maximum(dense, 0.0) + (1 - weight) * lexical
