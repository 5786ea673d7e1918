"""Self-calibration: choose the settings that decide triage quality from the team's own
history, instead of numbers fixed on somebody else's data.

The labelled records (confirmed cases, imported history and articles), in time order,
are split the way a team meets its future: older records teach, newer ones are triaged
as if they had just arrived.  Expanding windows: the newest part of the history is cut
into slices, and each slice is triaged against everything before it (four slices over
the newest half for a small history, fewer and thinner as it grows; `windows`).  (The
evaluation's TEST file is never part of this: `evaluate --tune` tunes on TRAIN alone.)
Every candidate value is scored through the same functions triage uses
(`indexer.ranking.fuse`, `triage.triager.neighbour_votes` / `blend` / `rank`,
`triage.severity`), record by record, and a setting moves from its current value only
when the best candidate beats it by more than one standard error of the paired
per-record differences: on a small history a setting moves only for a clear gain.

Stages, each using the choices made before it:

1. fusion weight, per script of the query, and the lexical fields: retrieval
   (hit@5 and MRR@10; a match is relevant when it shares the query's value of the
   finest label field);
2. the classifiers' regularisation C and the weight of the embedding vector among their
   features: label accuracy;
3. the neighbour vote's share in a label: label accuracy;
4. label boost: retrieval;
5. match_threshold and confidence_threshold: the lowest value at which at least
   `confident_precision` of the answers at or above it were right;
6. severity: the top level's cutoff on P(top) is the highest that still rates
   `top_severity_recall` of the truly top records at the top; each level between the
   top and the lowest gets the cutoff on P(that level or above) that rates the
   validation records most accurately given the cutoffs above it.

Settings the administrator pinned are not tuned (`TriageParams.resolve`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from indexer.lexical import BM25Index
from indexer.ranking import SCRIPTS, Ranking, fuse
from indexer.tokens import ANALYZERS, analyze, script_of
from kb.records import Record
from settings import Settings
from triage.classifier import TEMPERATURES, LabelClassifier, TextFeatures, softmax
from triage.learner import SEVERITY, targets
from triage.params import MIN_RECORDS, PINNED_BY, TriageParams, Tuning
from triage.severity import at_or_above, decide, decide_by_cutoffs
from triage.triager import POOL, blend, neighbour_votes, rank, top_label

MAX_RECORDS = 10_000     # the newest labelled records tuning reads, at most
MAX_VALIDATION = 500     # validation records per fold, at most (evenly spaced)
MIN_SCRIPT_QUERIES = 20  # validation queries a script needs for its own fusion weight
MIN_TOP_CASES = 5        # records at or above a level needed to set its cutoff
LEAD_SE = 2.0            # lead over the current value a candidate needs (see _pick)
FUSION_GRID = tuple(round(x * 0.1, 1) for x in range(11))
C_GRID = (0.1, 0.3, 1.0, 3.0)
DENSE_GRID = (0.0, 1.0)
NEIGHBOUR_GRID = (0.0, 0.1, 0.25, 0.4, 0.6)
BOOST_GRID = (0.0, 0.1, 0.2, 0.3, 0.5)
CUTOFF_GRID = tuple(round(0.05 * x, 2) for x in range(1, 20))
Progress = Callable[[str], None]


@dataclass
class _Fold:
    """One split of the history: teaching records, validation records, and the dense and
    lexical scores of every validation record against every teaching record."""

    teach: list[Record]
    val: list[Record]
    teach_vecs: np.ndarray
    val_vecs: np.ndarray
    dense: np.ndarray                       # |val| x |teach| cosines
    lexical: dict[str, np.ndarray]          # analyzers -> |val| x |teach| normalised BM25
    scripts: list[str]
    relevant: np.ndarray                    # |val| x |teach| bool (same finest label)
    has_relevant: np.ndarray                # |val| bool: the query has some relevant record


def time_order(records: list[Record]) -> list[int]:
    """The positions of `records` in time order (created_at; records written in the
    same second keep the order the knowledge base gives them: the order of writing)."""
    return sorted(range(len(records)), key=lambda n: records[n].created_at or "")


def tune(records: list[Record], vectors: np.ndarray, settings: Settings,
         current: TriageParams, model: str, labelled: int, now: str,
         progress: Progress | None = None) -> Tuning:
    """Choose the quality knobs on `records` (labelled, time-ordered; row n of `vectors`
    is record n's embedding).  `current` holds the values in force: they are the
    starting point and the 'before' figures."""
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    pinned = sorted(k for k, name in PINNED_BY.items() if name in settings.pinned)
    base = Tuning("too_little_history", now, model, labelled, pinned=pinned)
    records, vectors = records[-MAX_RECORDS:], vectors[-MAX_RECORDS:]
    finest = _finest_field(records)
    if len(records) < MIN_RECORDS or (finest is None and not any(r.severity for r in records)):
        base.note = (f"{len(records)} labelled records; tuning needs at least {MIN_RECORDS} "
                     "with labels: the defaults stay")
        return base
    say(f"reading {len(records)} labelled records")
    folds = [_fold(records, vectors, lo, hi, finest) for lo, hi in windows(len(records))]
    run = _Run(folds, settings, current, pinned)
    run.go(say)
    base.status, base.chosen = "tuned", run.chosen()
    base.before, base.after = run.figures(current), run.figures(run.params)
    base.validation = {"folds": len(folds), "queries": sum(len(f.val) for f in folds),
                       "teach": [len(f.teach) for f in folds], "relevant_by": finest}
    base.seconds = round(time.perf_counter() - start, 1)
    return base


def windows(n: int) -> list[tuple[float, float]]:
    """The validation slices of a history of n records, as shares of it: four over the
    newest half below 1,500 records, three over the newest 45 % below 5,000, else two
    over the newest 40 % (enough records to judge by, and bounded work)."""
    k, share = (4, 0.5) if n < 1500 else (3, 0.45) if n < 5000 else (2, 0.4)
    edges = [1 - share + share * i / k for i in range(k + 1)]
    return list(pairwise(edges))


def _finest_field(records: list[Record]) -> str | None:
    """The label field with the most distinct values: relevance for retrieval."""
    values: dict[str, set[str]] = {}
    for r in records:
        for f, v in r.labels.items():
            values.setdefault(f, set()).add(v)
    return max(values, key=lambda f: (len(values[f]), f)) if values else None


def _fold(records: list[Record], vectors: np.ndarray, lo: float, hi: float,
          finest: str | None) -> _Fold:
    n = len(records)
    cut, end = int(n * lo), int(n * hi)
    val_rows = np.arange(cut, end)
    if len(val_rows) > MAX_VALIDATION:
        val_rows = val_rows[np.linspace(0, len(val_rows) - 1, MAX_VALIDATION).astype(int)]
    teach, val = records[:cut], [records[i] for i in val_rows]
    teach_vecs, val_vecs = vectors[:cut], vectors[val_rows]
    bm25 = BM25Index()
    for i, r in enumerate(teach):
        bm25.add(i, analyze(r.search_text))
    lexical = {}
    for analyzers in ANALYZERS:
        ranking = Ranking(analyzers=analyzers)
        mat = np.zeros((len(val), len(teach)), dtype=np.float32)
        for q, r in enumerate(val):
            docs, scores = bm25.score_arrays(ranking.query_terms(r.text or r.title,
                                                                 r.title if r.text else ""))
            mat[q, docs] = scores
        lexical[analyzers] = mat
    codes = {v: i for i, v in enumerate(sorted({r.labels.get(finest or "", "")
                                                for r in records}))}
    tcode = np.array([codes[r.labels.get(finest or "", "")] for r in teach])
    vcode = np.array([codes[r.labels.get(finest or "", "")] for r in val])
    blank = codes.get("", -1)
    relevant = (vcode[:, None] == tcode[None, :]) & (vcode[:, None] != blank)
    return _Fold(teach, val, teach_vecs, val_vecs, val_vecs @ teach_vecs.T, lexical,
                 [script_of(r.text or r.title) for r in val], relevant, relevant.any(axis=1))


def _pick(scores: dict, current) -> object:
    """The candidate with the best mean score, unless the current value is as good
    within two standard errors of their paired per-record differences: the best of
    several candidates is lucky by about one on its own, so a smaller lead is noise that
    a small team's history cannot tell from a real gain.  `scores` maps a candidate to
    its per-record scores (the same records, in the same order, for every candidate)."""
    best = max(scores, key=lambda k: (_mean(scores[k]), k == current))
    cur = scores.get(current)
    if cur is None or best == current or len(cur) < 2:
        return best if cur is None else current
    diff = np.asarray(scores[best], dtype=float) - np.asarray(cur, dtype=float)
    return best if diff.mean() > LEAD_SE * diff.std(ddof=1) / math.sqrt(len(diff)) \
        else current


def _retrieval(order: list[int], relevant: np.ndarray) -> float:
    """(hit@5 + MRR@10) / 2 of one ranked list of teaching rows."""
    for rank_, t in enumerate(order[:10], start=1):
        if relevant[t]:
            return ((1.0 if rank_ <= 5 else 0.0) + 1.0 / rank_) / 2
    return 0.0


def _top(row: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(row))
    part = np.argpartition(-row, k - 1)[:k]
    return part[np.argsort(-row[part], kind="stable")]


def _threshold(scored: list[tuple[float, bool]], precision: float) -> float:
    """The lowest score at which the answers scoring at least that much were right at
    least `precision` of the time (at least five of them); above every score when no
    such score exists."""
    pairs = sorted(scored, key=lambda p: -p[0])
    right, best = 0, None
    for n, (score, ok) in enumerate(pairs, start=1):
        right += ok
        if n >= 5 and right / n >= precision and (n == len(pairs) or pairs[n][0] < score):
            best = score
    if best is None:
        best = (pairs[0][0] + 0.01) if pairs else 1.0
    return round(min(max(best, 0.05), 0.99), 3)


class _Run:
    """The stages over the folds; `params` holds the choices so far."""

    def __init__(self, folds: list[_Fold], settings: Settings, current: TriageParams,
                 pinned: list[str]) -> None:
        self.folds, self.s, self.pinned = folds, settings, set(pinned)
        self.params = current
        self.current = current
        self._probs: dict[tuple, list[list[dict]]] = {}
        self._cache: dict[tuple, object] = {}

    def tunable(self, name: str) -> bool:
        return name not in self.pinned

    def go(self, say: Progress) -> None:
        say("fusion weights and lexical fields")
        self._fusion()
        say("classifiers")
        self._classifiers()
        say("neighbour vote and label boost")
        self._neighbours()
        self._boost()
        say("thresholds and severity")
        self._thresholds()
        self._severity()

    def chosen(self) -> dict:
        out = {}
        for name in PINNED_BY:
            if name not in self.pinned:
                out[name] = getattr(self.params, name)
        return out

    # -- retrieval --------------------------------------------------------------------------
    def _hybrid(self, fold: _Fold, params: TriageParams) -> np.ndarray:
        lex = fold.lexical[params.analyzers]
        weights = np.array([params.fusion[s] for s in fold.scripts], dtype=np.float32)
        return fuse(weights[:, None], fold.dense, lex)

    def _retrieval_by_script(self, analyzers: str, weight: float) -> dict[str, list[float]]:
        """Retrieval of every validation query with one fusion weight, by script."""
        key = ("retrieval", analyzers, weight)
        if key not in self._cache:
            out: dict[str, list[float]] = {s: [] for s in SCRIPTS}
            params = replace(self.params, fusion={s: weight for s in SCRIPTS},
                             analyzers=analyzers)
            for fold in self.folds:
                hybrid = self._hybrid(fold, params)
                for q in np.flatnonzero(fold.has_relevant):
                    out[fold.scripts[q]].append(
                        _retrieval(_top(hybrid[q], 10).tolist(), fold.relevant[q]))
            self._cache[key] = out
        return self._cache[key]

    def _fusion(self) -> None:
        """Stage 1: per analyzer choice, the best weight per script; then the analyzers
        whose best weights retrieve best."""
        a_grid = ANALYZERS if self.tunable("analyzers") else (self.current.analyzers,)
        w_grid = FUSION_GRID if self.tunable("fusion") else ()
        fusion_of: dict[str, dict[str, float]] = {}
        totals: dict[str, list[float]] = {}
        for a in a_grid:
            fusion_of[a], totals[a] = {}, []
            for script in SCRIPTS:
                cur = self.current.fusion[script]
                per_w = {w: self._retrieval_by_script(a, w)[script] for w in {*w_grid, cur}}
                w = _pick(per_w, cur) if len(per_w[cur]) >= MIN_SCRIPT_QUERIES else cur
                fusion_of[a][script] = w
                totals[a] += per_w[w]
        analyzers = _pick(totals, self.current.analyzers)
        self.params = replace(self.params, analyzers=analyzers, fusion=fusion_of[analyzers])

    # -- labels ------------------------------------------------------------------------------
    def _features(self, fold_no: int, dense: float):
        """The fold's feature rows (teaching, validation) with the embedding block at
        `dense`: the TF-IDF vocabularies are fitted once per fold."""
        key = ("features", fold_no)
        if key not in self._cache:
            fold = self.folds[fold_no]
            features = TextFeatures([r.description for r in fold.teach], 1.0)
            self._cache[key] = (  # float64 once: the solver would convert on every fit
                features.transform([r.description for r in fold.teach],
                                   fold.teach_vecs).astype(np.float64),
                features.transform([r.description for r in fold.val],
                                   fold.val_vecs).astype(np.float64),
                fold.teach_vecs.shape[1])
        x, xv, dim = self._cache[key]
        if dense == 1.0:
            return x, xv
        if dense == 0.0:
            return x[:, :-dim], xv[:, :-dim]
        scale = np.ones(x.shape[1], dtype=np.float32)
        scale[-dim:] = dense
        return x.multiply(scale).tocsr(), xv.multiply(scale).tocsr()

    def _scores(self, c: float, dense: float, severity: bool = False) -> list[dict]:
        """Per fold: {field: (classes, decision values of the validation records)} of
        classifiers fitted on the fold's teaching records, for the label fields (or
        for severity alone)."""
        key = ("scores", c, dense, severity)
        if key not in self._cache:
            out = []
            for n, fold in enumerate(self.folds):
                x, xv = self._features(n, dense)
                per = {}
                for name, (rows, values) in targets(fold.teach).items():
                    if (name == SEVERITY) == severity:
                        clf = LabelClassifier(c).fit(x[rows], values, calibrate=False)
                        per[name] = (clf.classes, clf.decision(xv))
                out.append(per)
            self._cache[key] = out
        return self._cache[key]

    def _class_probs(self, c: float, dense: float, calibrate: bool) -> list[list[dict]]:
        """Per fold, per validation record: {field: {value: p}}.  Uncalibrated (only the
        ranking of the values counts: choosing C) the label fields alone; calibrated,
        severity too, each field's softmax temperature fitted on the pooled validation
        records as the classifier fits its own by cross-validation."""
        key = ("probs", c, dense, calibrate)
        if key not in self._cache:
            scores = self._scores(c, dense)
            if calibrate:
                severity = self._scores(c, dense, severity=True)
                scores = [{**a, **b} for a, b in zip(scores, severity, strict=True)]
            temps = self._temperatures(scores) if calibrate else {}
            out = []
            for per in scores:
                probs = {name: (classes, softmax(d * temps.get(name, 1.0)))
                         for name, (classes, d) in per.items()}
                n = next(iter(probs.values()))[1].shape[0] if probs else 0
                out.append([{name: dict(zip(classes, p[q].tolist(), strict=True))
                             for name, (classes, p) in probs.items()} for q in range(n)])
            self._cache[key] = out
        return self._cache[key]

    def _temperatures(self, scores: list[dict]) -> dict[str, float]:
        """Per field, the softmax temperature with the lowest log loss on the validation
        records that have a value for it."""
        out = {}
        for name in {n for per in scores for n in per}:
            rows = []
            for fold, per in zip(self.folds, scores, strict=True):
                if name not in per:
                    continue
                classes, d = per[name]
                for q, rec in enumerate(fold.val):
                    truth = rec.severity if name == SEVERITY else rec.labels.get(name)
                    if truth in classes:
                        rows.append((d[q], classes.index(truth)))
            if len(rows) < 10:
                continue
            losses = {t: -np.mean([np.log(softmax(row[None, :] * t)[0, i] + 1e-9)
                                   for row, i in rows]) for t in TEMPERATURES}
            out[name] = min(losses, key=losses.get)
        return out

    def _accuracy(self, probs: list[list[dict]], votes: list[list[dict]] | None = None,
                  weight: float = 0.0) -> list[float]:
        """Per validation record with labels: the share of its label fields predicted
        right."""
        out = []
        for f_probs, f_votes, fold in zip(probs, votes or [None] * len(probs), self.folds,
                                          strict=True):
            for q, rec in enumerate(fold.val):
                right = [top_label(blend(f_probs[q].get(name),
                                         f_votes[q].get(name) if f_votes else None,
                                         weight))[0] == truth
                         for name, truth in rec.labels.items()]
                if right:
                    out.append(sum(right) / len(right))
        return out

    def _classifiers(self) -> None:
        """Stage 2: whether the embedding vector helps the classifiers (at the current
        C), then C (with that choice)."""
        c, d = self.current.classifier_c, self.current.dense_features
        if self.tunable("dense_features"):
            d = _pick({x: self._accuracy(self._class_probs(c, x, calibrate=False))
                       for x in {*DENSE_GRID, d}}, d)
        if self.tunable("classifier_c"):
            c = _pick({x: self._accuracy(self._class_probs(x, d, calibrate=False))
                       for x in {*C_GRID, c}}, c)
        self.params = replace(self.params, classifier_c=c, dense_features=d)

    def _votes(self, params: TriageParams) -> list[list[dict]]:
        """Per fold, per validation record: the neighbours' vote under `params`' fusion."""
        out = []
        for fold in self.folds:
            hybrid = self._hybrid(fold, params)
            per = []
            for q in range(len(fold.val)):
                top = _top(hybrid[q], POOL)
                per.append(neighbour_votes((float(hybrid[q, t]), fold.teach[t].labels,
                                            fold.teach[t].severity) for t in top))
            out.append(per)
        return out

    def _neighbours(self) -> None:
        if not self.tunable("neighbour_weight"):
            return
        probs = self._class_probs(self.params.classifier_c, self.params.dense_features, True)
        votes = self._votes(self.params)
        scores = {w: self._accuracy(probs, votes, w)
                  for w in {*NEIGHBOUR_GRID, self.current.neighbour_weight}}
        self.params = replace(self.params,
                              neighbour_weight=_pick(scores, self.current.neighbour_weight))

    def _blended(self, params: TriageParams) -> list[list[dict]]:
        """Per fold, per validation record: {field: blended probabilities}, severity too."""
        probs = self._class_probs(params.classifier_c, params.dense_features, True)
        votes = self._votes(params)
        out = []
        for f_probs, f_votes in zip(probs, votes, strict=True):
            out.append([{name: blend(p.get(name), v.get(name), params.neighbour_weight)
                         for name in set(p) | set(v)} for p, v in zip(f_probs, f_votes,
                                                                       strict=True)])
        return out

    def _ranked(self, params: TriageParams, blended: list[list[dict]]
                ) -> list[list[tuple[list[int], float]]]:
        """Per fold, per validation record: the ranked teaching rows and the top score."""
        out = []
        for fold, f_blended in zip(self.folds, blended, strict=True):
            hybrid = self._hybrid(fold, params)
            per = []
            for q in range(len(fold.val)):
                top = _top(hybrid[q], POOL)
                probs = {k: v for k, v in f_blended[q].items() if k != SEVERITY}
                picked = rank([(int(t), float(hybrid[q, t]), fold.teach[t].labels)
                               for t in top], probs, params.label_boost, 10)
                per.append(([t for t, _ in picked], picked[0][1] if picked else 0.0))
            out.append(per)
        return out

    def _boost(self) -> None:
        if not self.tunable("label_boost"):
            return
        blended = self._blended(self.params)
        scores = {}
        for b in {*BOOST_GRID, self.current.label_boost}:
            params = replace(self.params, label_boost=b)
            scores[b] = [_retrieval(order, fold.relevant[q])
                         for fold, ranked in zip(self.folds, self._ranked(params, blended),
                                                 strict=True)
                         for q, (order, _) in enumerate(ranked) if fold.has_relevant[q]]
        self.params = replace(self.params,
                              label_boost=_pick(scores, self.current.label_boost))

    # -- thresholds and severity ----------------------------------------------------------------
    def _thresholds(self) -> None:
        blended = self._blended(self.params)
        target = self.s.confident_precision
        if self.tunable("match_threshold"):
            pairs = [(min(max(score, 0.0), 1.0), bool(order) and
                      bool(fold.relevant[q][order[0]]))
                     for fold, ranked in zip(self.folds, self._ranked(self.params, blended),
                                             strict=True)
                     for q, (order, score) in enumerate(ranked) if fold.has_relevant[q]]
            if pairs:
                self.params = replace(self.params, match_threshold=_threshold(pairs, target))
        if self.tunable("confidence_threshold"):
            pairs = []
            for fold, f_blended in zip(self.folds, blended, strict=True):
                for q, rec in enumerate(fold.val):
                    for name, truth in rec.labels.items():
                        value, conf, _ = top_label(f_blended[q].get(name) or {})
                        pairs.append((conf, value == truth))
            if pairs:
                self.params = replace(self.params,
                                      confidence_threshold=_threshold(pairs, target))

    def _severity(self) -> None:
        """Stage 6: the top level's cutoff is the highest P(top) that still rates
        `top_severity_recall` of the truly top records at the top; then, from the top
        down, each level between gets the cutoff that rates the validation records most
        accurately given the ones above it (the recall is bought at the top, not paid
        for again on every level)."""
        if not self.tunable("severity_cutoffs"):
            return
        levels = self.s.levels
        rows = [(levels.index(rec.severity), f_blended[q][SEVERITY])
                for fold, f_blended in zip(self.folds, self._blended(self.params), strict=True)
                for q, rec in enumerate(fold.val)
                if rec.severity in levels and f_blended[q].get(SEVERITY)]
        top = len(levels) - 1
        tails = sorted((at_or_above(levels, p)[top] for truth, p in rows if truth == top),
                       reverse=True)
        if len(tails) < MIN_TOP_CASES:
            return
        need = math.ceil(self.s.top_severity_recall * len(tails))
        cutoffs = {levels[top]: math.floor(max(tails[need - 1], 0.0) * 1e4) / 1e4}
        for i in range(top - 1, 0, -1):
            def accuracy(cut: float, i: int = i) -> float:
                trial = {**cutoffs, levels[i]: cut}
                return _mean(decide_by_cutoffs(levels, p, trial)[0] == levels[truth]
                             for truth, p in rows)
            cutoffs[levels[i]] = max(CUTOFF_GRID, key=lambda c: (accuracy(c), -abs(c - 0.5)))
        self.params = replace(self.params, severity_cutoffs=cutoffs)

    # -- figures -------------------------------------------------------------------------------
    def figures(self, params: TriageParams) -> dict:
        """Label accuracy, retrieval and severity on the validation records with `params`."""
        blended = self._blended(params)
        out: dict = {"accuracy": {}}
        right: dict[str, list[bool]] = {}
        for fold, f_blended in zip(self.folds, blended, strict=True):
            for q, rec in enumerate(fold.val):
                for name, truth in rec.labels.items():
                    right.setdefault(name, []).append(
                        top_label(f_blended[q].get(name) or {})[0] == truth)
        out["accuracy"] = {k: round(_mean(v), 4) for k, v in sorted(right.items())}
        hits, rr = [], []
        for fold, ranked in zip(self.folds, self._ranked(params, blended), strict=True):
            for q, (order, _) in enumerate(ranked):
                if not fold.has_relevant[q]:
                    continue
                first = next((n for n, t in enumerate(order[:10], 1)
                              if fold.relevant[q][t]), None)
                hits.append(first is not None and first <= 5)
                rr.append(1.0 / first if first else 0.0)
        out["hit@5"], out["mrr@10"] = round(_mean(hits), 4), round(_mean(rr), 4)
        out["severity"] = self._severity_figures(params, blended)
        return out

    def _severity_figures(self, params: TriageParams, blended) -> dict | None:
        levels = self.s.levels
        pairs = []
        for fold, f_blended in zip(self.folds, blended, strict=True):
            for q, rec in enumerate(fold.val):
                probs = f_blended[q].get(SEVERITY)
                if rec.severity in levels and probs:
                    guess = (decide_by_cutoffs(levels, probs, params.severity_cutoffs)
                             if params.severity_cutoffs else decide(levels, probs))[0]
                    pairs.append((rec.severity, guess))
        if not pairs:
            return None
        top = levels[-1]
        tops = [g for t, g in pairs if t == top]
        lower = [g for t, g in pairs if t != top]
        return {"accuracy": round(_mean([t == g for t, g in pairs]), 4),
                "top_recall": round(_mean([g == top for g in tops]), 4) if tops else None,
                "over_rated_at_top": round(_mean([g == top for g in lower]), 4)
                if lower else None, "n": len(pairs)}


def _mean(values) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else 0.0


