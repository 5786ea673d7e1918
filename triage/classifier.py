"""Classifiers that learn label values (and severity) from the knowledge base's history.

Features: character n-gram TF-IDF (works for any script, Chinese included), word TF-IDF
over the search tokenizer (jieba for Chinese), and the sentence embedding.  A linear SVM
per label field; its decision values become probabilities through a softmax whose
temperature is fitted by cross-validation, so a confidence of 0.8 means about 80 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from indexer.tokens import tokenize

TEMPERATURES = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
CALIBRATION_ROWS = 4000
MIN_DF_FROM = 200  # records from which n-grams of a single record are left out


class TextFeatures:
    """Fits the TF-IDF vocabularies once and turns (texts, vectors) into one matrix.
    `dense` scales the embedding vector's block (0 leaves it out: for a language the
    model reads poorly it is noise)."""

    def __init__(self, texts: list[str], dense: float = 1.0) -> None:
        self.dense = dense
        # an n-gram seen in one record only cannot generalise; leaving those out shrinks
        # the vocabulary 2-7x and fits faster (same or better accuracy on the laptop,
        # mobile, German and Chinese sets), but a tiny KB keeps every one
        min_df = 2 if len(texts) >= MIN_DF_FROM else 1
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                     min_df=min_df, max_features=400000,
                                     dtype=np.float32)
        self.words = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                                     ngram_range=(1, 2), sublinear_tf=True,
                                     min_df=min_df, max_features=200000,
                                     dtype=np.float32)
        self.chars.fit(texts)
        self.words.fit(texts)

    def transform(self, texts: list[str], vectors: np.ndarray) -> csr_matrix:
        blocks = [self.chars.transform(texts), self.words.transform(texts) * 0.5]
        if self.dense > 0:
            blocks.append(csr_matrix(vectors.astype(np.float32) * self.dense))
        return hstack(blocks).tocsr()


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _decision(model: LinearSVC, x: csr_matrix) -> np.ndarray:
    d = model.decision_function(x)
    return np.column_stack([-d, d]) if d.ndim == 1 else d


@dataclass
class Prediction:
    value: str
    confidence: float
    probs: dict[str, float]


class LabelClassifier:
    """One label field: fit on feature rows and values, predict with a confidence."""

    def __init__(self, c: float = 0.5) -> None:
        self.c = c
        self.model: LinearSVC | None = None
        self.classes: list[str] = []
        self.temperature = 3.0
        self.constant: str | None = None

    def fit(self, x: csr_matrix, values: list[str], calibrate: bool = True) -> LabelClassifier:
        """Fit on feature rows and their values; `calibrate` fits the softmax temperature
        by cross-validation (tuning skips it where only the ranking of classes counts)."""
        self.classes = sorted(set(values))
        if len(self.classes) == 1:
            self.constant = self.classes[0]
            return self
        y = np.array(values)
        if calibrate:
            self.temperature = self._calibrate(x, y)
        self.model = LinearSVC(C=self.c).fit(x, y)
        self.classes = list(self.model.classes_)
        return self

    def _calibrate(self, x: csr_matrix, y: np.ndarray) -> float:
        """Pick the softmax temperature with the lowest held-out log loss."""
        _, counts = np.unique(y, return_counts=True)
        if len(y) < 60 or counts.min() < 2:
            return 3.0
        rows = np.random.default_rng(0).permutation(len(y))[:CALIBRATION_ROWS]
        xs, ys = x[rows], y[rows]
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        dec, truth = [], []
        _, counts = np.unique(ys, return_counts=True)
        if counts.min() < 3:
            keep = np.isin(ys, np.unique(ys)[counts >= 3])
            xs, ys = xs[keep], ys[keep]
            if len(np.unique(ys)) < 2:
                return 3.0
        for train, test in folds.split(xs, ys):
            m = LinearSVC(C=self.c).fit(xs[train], ys[train])
            cls = list(m.classes_)
            d = _decision(m, xs[test])
            full = np.full((len(test), len(self.classes)), -10.0)
            for j, c in enumerate(cls):
                full[:, self.classes.index(c)] = d[:, j]
            dec.append(full)
            truth += [self.classes.index(v) for v in ys[test]]
        d, t = np.vstack(dec), np.array(truth)
        losses = [-np.log(softmax(d * tmp)[np.arange(len(t)), t] + 1e-9).mean()
                  for tmp in TEMPERATURES]
        return TEMPERATURES[int(np.argmin(losses))]

    def decision(self, x: csr_matrix) -> np.ndarray:
        """Raw decision values, one row per input row, columns in `self.classes` order."""
        if self.constant is not None:
            return np.zeros((x.shape[0], 1))
        return _decision(self.model, x)

    def probs(self, x: csr_matrix) -> np.ndarray:
        """Class probabilities, one row per input row, columns in `self.classes` order."""
        return softmax(self.decision(x) * self.temperature)
