"""BM25 over tokens, updated in place (add / remove one document at a time).

Scores are returned normalised to 0-1: a document's BM25 divided by the most the query
could score (each query term's idf × (k1 + 1)), so the same number means the same
share of the query matched, whatever the query.
"""

from __future__ import annotations

import math
import pickle
from collections import Counter
from pathlib import Path

import numpy as np

K1, B = 1.2, 0.75


class BM25Index:
    """Inverted index of term -> {doc id: term count}, with numpy caches per term."""

    def __init__(self) -> None:
        self.postings: dict[str, dict[int, int]] = {}
        self.doc_terms: dict[int, Counter] = {}
        self.doc_len: dict[int, int] = {}
        self.total_len = 0
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.doc_terms)

    def add(self, doc: int, tokens: list[str]) -> None:
        if doc in self.doc_terms:
            self.remove(doc)
        counts = Counter(tokens)
        self.doc_terms[doc] = counts
        self.doc_len[doc] = len(tokens)
        self.total_len += len(tokens)
        for term, tf in counts.items():
            self.postings.setdefault(term, {})[doc] = tf
            self._cache.pop(term, None)

    def remove(self, doc: int) -> bool:
        counts = self.doc_terms.pop(doc, None)
        if counts is None:
            return False
        self.total_len -= self.doc_len.pop(doc)
        for term in counts:
            post = self.postings[term]
            del post[doc]
            if not post:
                del self.postings[term]
            self._cache.pop(term, None)
        return True

    def idf(self, term: str) -> float:
        n, df = len(self.doc_terms), len(self.postings.get(term, ()))
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def _arrays(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Doc ids, term counts and doc lengths of one term's postings."""
        arr = self._cache.get(term)
        if arr is None:
            post = self.postings[term]
            docs = np.fromiter(post.keys(), dtype=np.int64, count=len(post))
            tfs = np.fromiter(post.values(), dtype=np.float32, count=len(post))
            lens = np.fromiter((self.doc_len[d] for d in post), dtype=np.float32, count=len(post))
            arr = self._cache[term] = (docs, tfs, lens)
        return arr

    def scores(self, tokens: list[str] | dict[str, float]) -> dict[int, float]:
        """Normalised BM25 (0-1) of every document that shares a term with the query."""
        docs, total = self.score_arrays(tokens)
        return dict(zip(docs.tolist(), total.tolist(), strict=True))

    def score_arrays(self, tokens: list[str] | dict[str, float]
                     ) -> tuple[np.ndarray, np.ndarray]:
        """`scores` as two arrays, doc ids ascending and their scores: cheaper than a
        dict when a common word matches a large share of a big collection.  `tokens` is
        a list (each occurrence counts once) or a {term: weight} mapping, for a query
        whose parts weigh differently."""
        terms = tokens if isinstance(tokens, dict) else Counter(tokens)
        none = np.zeros(0, np.int64), np.zeros(0, np.float64)
        if not terms or not self.doc_terms:
            return none
        avgdl = self.total_len / len(self.doc_terms) or 1.0
        upper = sum(self.idf(t) * (K1 + 1) * qtf for t, qtf in terms.items())
        if upper <= 0:
            return none
        parts_docs, parts_scores = [], []
        for term, qtf in terms.items():
            if term not in self.postings:
                continue
            docs, tfs, lens = self._arrays(term)
            w = self.idf(term) * qtf * tfs * (K1 + 1) / (tfs + K1 * (1 - B + B * lens / avgdl))
            parts_docs.append(docs)
            parts_scores.append(w)
        if not parts_docs:
            return none
        docs = np.concatenate(parts_docs)
        uniq, inv = np.unique(docs, return_inverse=True)
        total = np.bincount(inv, weights=np.concatenate(parts_scores).astype(np.float64),
                            minlength=len(uniq))
        total /= upper
        return uniq, total

    def top(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        scored = self.scores(tokens)
        return sorted(scored.items(), key=lambda kv: -kv[1])[:k]

    def matched(self, doc: int, tokens: list[str]) -> list[str]:
        """The query tokens the document contains, in query order, without repeats."""
        counts = self.doc_terms.get(doc, {})
        return list(dict.fromkeys(t for t in tokens if t in counts))

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            pickle.dump({"doc_terms": self.doc_terms}, fh, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        idx = cls()
        for doc, counts in data["doc_terms"].items():
            idx.doc_terms[doc] = counts
            n = sum(counts.values())
            idx.doc_len[doc] = n
            idx.total_len += n
            for term, tf in counts.items():
                idx.postings.setdefault(term, {})[doc] = tf
        return idx
