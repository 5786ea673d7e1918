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
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from indexer.index import Index
from kb.records import is_known_fix
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


def train(kb: KnowledgeBase, index: Index,
          lock: AbstractContextManager | None = None) -> Models:
    """Fit features and classifiers on every labelled record in the KB. `lock` guards
    the moment the index's vectors are copied (a background retrain runs while other
    threads change the index)."""
    version = kb.label_version
    records = kb.records()
    with lock or nullcontext():
        key_to_id = dict(index.key_to_id)
        ids, vecs = index.vectors.all()
    records = [r for r in records if (r.labels or r.severity) and r.key in key_to_id
               and is_known_fix(r.kind, r.state)]
    if not records:
        return Models(version, None, {}, {})
    pos = {int(i): n for n, i in enumerate(ids)}
    records = [r for r in records if key_to_id[r.key] in pos]
    if len(records) > TRAIN_MAX:  # every article, then the newest cases (rowid order)
        articles = [r for r in records if r.kind == "article"][-TRAIN_MAX:]
        cases = [r for r in records if r.kind != "article"]
        records = articles + cases[len(cases) - (TRAIN_MAX - len(articles)):]
    rows = np.array([pos[key_to_id[r.key]] for r in records], dtype=np.int64)
    texts = [r.description for r in records]
    features = TextFeatures(texts)
    x = features.transform(texts, vecs[rows])
    targets: dict[str, list[int]] = {}
    for n, r in enumerate(records):
        for name in r.labels:
            targets.setdefault(name, []).append(n)
        if r.severity:
            targets.setdefault(SEVERITY, []).append(n)
    classifiers, sizes = {}, {}
    for name, members in targets.items():
        values = [records[n].severity if name == SEVERITY else records[n].labels[name]
                  for n in members]
        classifiers[name] = LabelClassifier().fit(x[members], values)
        sizes[name] = len(members)
    return Models(version, features, classifiers, sizes)


class Learner:
    """Serves the current Models and retrains them when the KB's labels change."""

    def __init__(self, kb: KnowledgeBase, index: Index, sync_max: int = 20000,
                 lock: AbstractContextManager | None = None) -> None:
        self.kb, self.index, self.sync_max, self.index_lock = kb, index, sync_max, lock
        self.models: Models | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def current(self, block: bool = False) -> Models:
        """The freshest models: retrained now (small KB, first use, or `block`), or in
        the background for a big KB while the previous models answer."""
        version = self.kb.label_version
        if self.models is not None and self.models.version == version:
            return self.models
        if block:
            self.wait()
        labelled = self.kb.counts()["labelled"]
        if self.models is None or block or labelled <= self.sync_max:
            with self._lock:
                if self.models is None or self.models.version != version:
                    self.models = train(self.kb, self.index, self.index_lock)
        elif self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._retrain, daemon=True)
            self._worker.start()
        return self.models

    def _retrain(self) -> None:
        models = train(self.kb, self.index, self.index_lock)
        with self._lock:
            self.models = models

    def wait(self) -> None:
        """Block until a background retrain (if any) is finished."""
        if self._worker is not None:
            self._worker.join()
