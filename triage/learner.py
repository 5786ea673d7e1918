"""Learner: keeps one classifier per label field (and one for severity) trained on the
knowledge base's labelled records, retraining whenever the KB's labels change.

Small KBs retrain inside the request that notices the change; large ones retrain in a
background thread while the previous models keep answering (and the nearest-neighbour
vote in the Triager counts the new cases at once).

The classifiers learn from at most TRAIN_MAX records: every article and the most recent
cases.  Past that, more history adds little to a linear model over 40-odd classes but
its features grow with the data (at 1M records the TF-IDF + embedding matrix alone is
several GB and training takes hours on 2 cores, docs/benchmarks.md); the nearest-
neighbour vote still searches every record.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from indexer.index import Index
from kb.records import Record, is_known_fix
from kb.store import KnowledgeBase
from triage.classifier import LabelClassifier, TextFeatures

SEVERITY = "\x00severity"  # the severity model's key among the label fields
TRAIN_MAX = 100_000  # records the classifiers are fitted on, at most (see above)


class Models:
    """A trained set: shared features and one classifier per field."""

    def __init__(self, version: int, features: TextFeatures | None,
                 classifiers: dict[str, LabelClassifier], sizes: dict[str, int]) -> None:
        self.version = version
        self.features = features
        self.classifiers = classifiers
        self.sizes = sizes

    def predict(self, text: str, qvec: np.ndarray) -> dict[str, dict[str, float]]:
        if self.features is None:
            return {}
        x = self.features.transform([text], qvec[None, :])
        return {name: dict(zip(clf.classes, clf.probs(x)[0].tolist(), strict=True))
                for name, clf in self.classifiers.items()}


def labelled(kb: KnowledgeBase, index: Index, lock: AbstractContextManager | None = None
             ) -> tuple[list[Record], np.ndarray]:
    """Every record that teaches (labelled or rated, and a known fix; never a
    maintenance case: routine work is no fault) with its vector from the index, in the
    order the KB holds them.  `lock` guards the moment the index's vectors are copied
    (a background retrain runs while other threads change the index)."""
    routine = {f"case:{rid}" for rid in kb.maintenance_case_ids()}
    records = [r for r in kb.records() if r.key not in routine]
    with lock or nullcontext():
        key_to_id = dict(index.key_to_id)
        ids, vecs = index.vectors.all()
    pos = {int(i): n for n, i in enumerate(ids)}
    records = [r for r in records if (r.labels or r.severity) and is_known_fix(r.kind, r.state)
               and key_to_id.get(r.key) in pos]
    rows = np.array([pos[key_to_id[r.key]] for r in records], dtype=np.int64)
    return records, vecs[rows] if len(rows) else np.zeros((0, vecs.shape[1]), np.float32)


def train(kb: KnowledgeBase, index: Index, lock: AbstractContextManager | None = None,
          c: float = 0.5, dense: float = 1.0) -> Models:
    """Fit features and classifiers on the KB's labelled records (see `labelled`)."""
    version = kb.label_version
    records, vectors = labelled(kb, index, lock)
    if len(records) > TRAIN_MAX:  # every article, then the newest cases (rowid order)
        keep = [n for n, r in enumerate(records) if r.kind == "article"][-TRAIN_MAX:]
        cases = [n for n, r in enumerate(records) if r.kind != "article"]
        keep += cases[len(cases) - (TRAIN_MAX - len(keep)):]
        records, vectors = [records[n] for n in keep], vectors[keep]
    return fit_models(version, records, vectors, c, dense)


def fit_models(version: int, records: list[Record], vectors: np.ndarray, c: float = 0.5,
               dense: float = 1.0) -> Models:
    """Features and one classifier per label field (and severity) fitted on `records`,
    whose embedding vectors are the rows of `vectors`."""
    if not records:
        return Models(version, None, {}, {})
    texts = [r.description for r in records]
    features = TextFeatures(texts, dense)
    x = features.transform(texts, vectors)
    classifiers, sizes = fit_fields(x, records, c)
    return Models(version, features, classifiers, sizes)


def targets(records: list[Record]) -> dict[str, tuple[list[int], list[str]]]:
    """Per label field (and SEVERITY): the rows that have a value, and the values."""
    out: dict[str, tuple[list[int], list[str]]] = {}
    for n, r in enumerate(records):
        for name, value in [*r.labels.items(), *([(SEVERITY, r.severity)] if r.severity
                                                 else [])]:
            rows, values = out.setdefault(name, ([], []))
            rows.append(n)
            values.append(value)
    return out


def fit_fields(x, records: list[Record], c: float, calibrate: bool = True,
               labels_only: bool = False) -> tuple[dict[str, LabelClassifier], dict[str, int]]:
    """One classifier per field (`labels_only`: not severity) on the feature rows `x` of
    `records`, and how many records each learned from."""
    classifiers, sizes = {}, {}
    for name, (rows, values) in targets(records).items():
        if labels_only and name == SEVERITY:
            continue
        classifiers[name] = LabelClassifier(c).fit(x[rows], values, calibrate)
        sizes[name] = len(rows)
    return classifiers, sizes


# A retrain that took longer than this last time runs in the background next time, even
# below sync_retrain_max: a request that trains holds the engine's lock, and every other
# request (the API's twenty clients, the app) would wait for it.
SYNC_FIT_SECONDS = 2.0


class Learner:
    """Serves the current Models and retrains them when the KB's labels change: inside
    the request while the KB is small and training is quick (so a new case counts at
    once), else in the background while the previous models answer."""

    def __init__(self, kb: KnowledgeBase, index: Index, sync_max: int = 20000,
                 lock: AbstractContextManager | None = None, c: float = 0.5,
                 dense: float = 1.0) -> None:
        self.kb, self.index, self.sync_max, self.index_lock = kb, index, sync_max, lock
        self.c, self.dense = c, dense
        self.models: Models | None = None
        self.fit_seconds = 0.0  # how long the last training took
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def current(self, block: bool = False) -> Models:
        """The freshest models: retrained now (first use, `block`, or a small KB whose
        last training was quick: `sync_max`, SYNC_FIT_SECONDS), or in the background
        while the previous models answer."""
        version = self.kb.label_version
        if self.models is not None and self.models.version == version:
            return self.models
        if block:
            self.wait()
        labelled = self.kb.counts()["labelled"]
        quick = labelled <= self.sync_max and self.fit_seconds <= SYNC_FIT_SECONDS
        if self.models is None or block or quick:
            with self._lock:
                if self.models is None or self.models.version != version:
                    self.models = self._train()
        elif self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._retrain, daemon=True)
            self._worker.start()
        return self.models

    def _train(self) -> Models:
        start = time.perf_counter()
        models = train(self.kb, self.index, self.index_lock, self.c, self.dense)
        self.fit_seconds = time.perf_counter() - start
        return models

    def _retrain(self) -> None:
        models = self._train()
        with self._lock:
            self.models = models

    def wait(self) -> None:
        """Block until a background retrain (if any) is finished."""
        if self._worker is not None:
            self._worker.join()
