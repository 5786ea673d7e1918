"""`knownfix evaluate`: replay a team's history through the same code the app uses.

A fresh temporary KB is built from TRAIN with the normal importer; every TEST row is
triaged by the normal Triager; predictions and matches are scored against the row.
With `tune`, the KB first tunes itself on TRAIN alone (time-ordered validation inside
TRAIN, triage/tuning.py), exactly as it would after a team's import; TEST is read only
to be scored.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from errors import BadInput
from kb.importer import ColumnMapping, RowConverter
from kb.reader import open_table
from service.engine import Engine
from settings import Settings


@dataclass
class EvalSpec:
    train: str
    test: str
    mapping: ColumnMapping
    relevant_by: str | None = None
    encoding: str | None = None
    tune: bool = False


@dataclass
class _Tally:
    truth: list[str] = field(default_factory=list)
    pred: list[str] = field(default_factory=list)
    skipped: int = 0

    def scores(self) -> dict:
        if not self.truth:
            return {"accuracy": None, "macro_f1": None, "n": 0, "skipped": self.skipped}
        return {"accuracy": accuracy_score(self.truth, self.pred),
                "macro_f1": f1_score(self.truth, self.pred, average="macro", zero_division=0),
                "n": len(self.truth), "skipped": self.skipped}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _relevance(spec: EvalSpec, levels: list[str]) -> dict[str, str]:
    """Record key -> its relevant-by value, read from TRAIN with the importer's own ids."""
    if not spec.relevant_by:
        return {}
    table = open_table(spec.train, spec.encoding)
    if spec.relevant_by not in table.columns:
        raise BadInput(f"--relevant-by column {spec.relevant_by!r} is not in {spec.train}")
    convert = RowConverter(spec.mapping, levels, Path(spec.train).stem)
    out: dict[str, str] = {}
    for n, row in enumerate(table.rows, start=1):  # numbered as the importer numbers them
        try:
            out[convert(n, row).key] = row.get(spec.relevant_by, "").strip()
        except BadInput:
            continue
    return out


def evaluate(spec: EvalSpec, settings: Settings,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Import TRAIN into a temporary KB, triage every TEST row, return the metrics dict."""
    m = spec.mapping
    test = open_table(spec.test, spec.encoding)
    m.check(test.columns)
    test_rows = list(test.rows)
    with tempfile.TemporaryDirectory(prefix="knownfix-eval-") as tmp:
        engine = Engine(settings.with_(data_dir=tmp, top_k=max(10, settings.top_k),
                                       auto_tune=False))
        try:
            report = engine.import_file(spec.train, m, spec.encoding)
            if report.taken == 0:
                raise BadInput(f"no usable rows in {spec.train}")
            tuning = engine.tune() if spec.tune else None
            relevant = _relevance(spec, settings.levels)
            train_values = set(relevant.values()) - {""}
            engine.train()  # before timing triage
            result = _score(engine, spec, test_rows, relevant, train_values, report, progress)
            if tuning is not None:
                result["tuned"] = tuning.to_json()
            return result
        finally:
            engine.close()


def _score(engine: Engine, spec: EvalSpec, rows: list[dict], relevant: dict[str, str],
           train_values: set[str], report, progress) -> dict:
    m = spec.mapping
    labels = {name: _Tally() for name in m.labels}
    severity = _Tally()
    hits1, hits5, rr, skipped_rel = [], [], [], 0
    latencies, encode_ms = [], []
    empty = 0
    top = engine.settings.levels[-1]
    for n, row in enumerate(rows, start=1):
        text = "\n".join(v for v in (row.get(c, "").strip() for c in [m.title, *m.text] if c) if v)
        if not text:
            empty += 1
            continue
        t = time.perf_counter()
        result = engine.triage(text)
        latencies.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.encode_query(text)
        encode_ms.append((time.perf_counter() - t) * 1000)
        for name, col in m.labels.items():
            truth = row.get(col, "").strip()
            if not truth:
                labels[name].skipped += 1
                continue
            labels[name].truth.append(truth)
            pred = result.labels.get(name)
            labels[name].pred.append(pred.value if pred and pred.value else "")
        if m.severity:
            truth = row.get(m.severity, "").strip()
            if truth:
                severity.truth.append(truth)
                severity.pred.append(result.severity or "")
            else:
                severity.skipped += 1
        if spec.relevant_by:
            want = row.get(spec.relevant_by, "").strip()
            if not want or want not in train_values:
                skipped_rel += 1
            else:
                ranks = [i for i, mt in enumerate(result.matches[:10], start=1)
                         if relevant.get(mt.key) == want]
                first = ranks[0] if ranks else None
                hits1.append(first == 1)
                hits5.append(first is not None and first <= 5)
                rr.append(1.0 / first if first else 0.0)
        if progress:
            progress(n, len(rows))
    sev = severity.scores() if m.severity else None
    if sev and severity.truth:
        relevant_top = [p for t, p in zip(severity.truth, severity.pred, strict=True) if t == top]
        sev["top_recall"] = (sum(p == top for p in relevant_top) / len(relevant_top)
                             if relevant_top else None)
    elif sev:
        sev["top_recall"] = None
    retrieval = None
    if spec.relevant_by:
        n_rel = len(rr)
        retrieval = {"hit@1": sum(hits1) / n_rel if n_rel else None,
                     "hit@5": sum(hits5) / n_rel if n_rel else None,
                     "mrr@10": sum(rr) / n_rel if n_rel else None,
                     "n": n_rel, "skipped": skipped_rel}
    p50 = _percentile(latencies, 0.5)
    enc = statistics.median(encode_ms) if encode_ms else None
    return {
        "labels": {name: t.scores() for name, t in labels.items()},
        "severity": sev,
        "retrieval": retrieval,
        "latency_ms": {"p50": p50, "p95": _percentile(latencies, 0.95), "encode_p50": enc,
                       "ratio_to_encode": (p50 / enc) if p50 and enc else None},
        "import_rows_per_s": report.rows_per_s,
        "train": {"rows": report.taken, "rejected": len(report.rejected)},
        "test": {"rows": len(rows), "empty_text": empty},
    }
