"""Triager: classify a fault description, rate its severity, find known fixes and decide
whether to escalate.  Pure logic over the knowledge base and the index.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager

from errors import BadInput, UnknownLabel
from indexer.index import Index
from kb.records import Record, is_known_fix
from kb.store import KnowledgeBase
from settings import Settings
from triage.learner import SEVERITY, Learner
from triage.result import Escalation, LabelPrediction, Match, TriageResult
from triage.severity import SeverityRules, rate

POOL = 30            # neighbours looked at for voting and re-ranking
NEIGHBOUR_WEIGHT = 0.25
VOTE_SHARPNESS = 0.05
DECAY = 0.5          # lift kept by each further match with the same labels
CONTEXT_FIELDS = ("title", "product", "asset", "model")


class Triager:
    """`run(text, **fields) -> TriageResult`, learning from the KB as it changes."""

    def __init__(self, kb: KnowledgeBase, index: Index, settings: Settings,
                 lock: AbstractContextManager | None = None) -> None:
        """`lock`, when given, guards the index against other threads (the Engine's)."""
        self.kb, self.index, self.s = kb, index, settings
        self.levels = settings.levels
        self.rules = SeverityRules(self.levels, settings.rules)
        self.learner = Learner(kb, index, settings.sync_retrain_max, lock=lock)

    def run(self, text: str, exclude: str | None = None, **fields: str) -> TriageResult:
        """Triage one description. `fields` may give context (title, product, asset,
        model) or fix a label's value (e.g. category="network"); `exclude` leaves one
        record (the case being triaged) out of the matches."""
        t0 = time.perf_counter()
        given, context = self._split_fields(fields)
        query = "\n".join(p for p in (*context, (text or "").strip()) if p)
        if not query.strip():
            raise BadInput("the fault description is empty")
        self.index.sync(self.kb)
        models = self.learner.current()
        t1 = time.perf_counter()
        qvec = self.index.encode_query(query)
        t2 = time.perf_counter()
        hits = self.index.search(query, POOL, qvec=qvec)
        records = self.kb.get_many(h.key for h in hits)
        hits = [h for h in hits if h.key in records and h.key != exclude
                and is_known_fix(records[h.key].kind, records[h.key].state)]
        learned = models.predict(query, qvec)
        votes = self._votes(hits, records)
        labels = self._labels(learned, votes, given)
        probs = {f: dict(p.alternatives) for f, p in labels.items()}
        sev_probs = self._blend(learned.get(SEVERITY, {}), votes.get(SEVERITY, {}))
        severity = rate(self.levels, self.rules, query, sev_probs,
                        models.sizes.get(SEVERITY, 0))
        matches = self._rank(hits, records, probs, exclude)
        t3 = time.perf_counter()
        return TriageResult(
            text=query, labels=labels, severity=severity.level,
            severity_confidence=round(severity.confidence, 4), severity_reason=severity.reason,
            matches=matches, escalation=self._escalation(labels, severity.level, matches),
            timings_ms={"prepare": (t1 - t0) * 1e3, "encode": (t2 - t1) * 1e3,
                        "rest": (t3 - t2) * 1e3})

    # -- pieces ---------------------------------------------------------------------------
    def _split_fields(self, fields: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        known = set(self.kb.label_fields())
        given, context = {}, []
        for name, value in fields.items():
            if value is None or str(value).strip() == "":
                continue
            if name in CONTEXT_FIELDS:
                context.append(str(value).strip())
            elif name in known:
                given[name] = str(value).strip()
            else:
                raise UnknownLabel(f"unknown field {name!r} (label fields: "
                                   f"{', '.join(sorted(known)) or 'none'}; context: "
                                   f"{', '.join(CONTEXT_FIELDS)})")
        return given, context

    @staticmethod
    def _votes(hits, records: dict[str, Record]) -> dict[str, dict[str, float]]:
        """Each neighbour votes its labels, weighted by how close it is."""
        if not hits:
            return {}
        top = hits[0].score
        votes: dict[str, dict[str, float]] = {}
        for h in hits:
            rec = records[h.key]
            w = math.exp((h.score - top) / VOTE_SHARPNESS)
            for name, value in rec.labels.items():
                votes.setdefault(name, {})[value] = votes.get(name, {}).get(value, 0.0) + w
            if rec.severity:
                d = votes.setdefault(SEVERITY, {})
                d[rec.severity] = d.get(rec.severity, 0.0) + w
        return {n: {v: w / sum(d.values()) for v, w in d.items()} for n, d in votes.items()}

    @staticmethod
    def _blend(learned: dict[str, float], voted: dict[str, float]) -> dict[str, float]:
        if not learned:
            return voted
        if not voted:
            return learned
        keys = set(learned) | set(voted)
        return {k: (1 - NEIGHBOUR_WEIGHT) * learned.get(k, 0.0)
                + NEIGHBOUR_WEIGHT * voted.get(k, 0.0) for k in keys}

    def _labels(self, learned, votes, given) -> dict[str, LabelPrediction]:
        out: dict[str, LabelPrediction] = {}
        for name in sorted((set(learned) | set(votes) | set(given)) - {SEVERITY}):
            if name in given:
                out[name] = LabelPrediction(given[name], 1.0, [(given[name], 1.0)], given=True)
                continue
            probs = self._blend(learned.get(name, {}), votes.get(name, {}))
            ranked = sorted(probs.items(), key=lambda kv: -kv[1])
            value, conf = ranked[0] if ranked else (None, 0.0)
            out[name] = LabelPrediction(value, round(conf, 4),
                                        [(v, round(p, 4)) for v, p in ranked[:5]])
        return out

    def _rank(self, hits, records, probs: dict[str, dict[str, float]],
              exclude: str | None = None) -> list[Match]:
        """Pick the top k greedily: hybrid score, lifted for a match whose labels agree with
        the predicted ones; the lift halves for each match already picked with the same
        labels, so when the prediction is unsure the list covers the likely kinds of fault.
        Past `used` / `not-helpful` marks on a match from the same kind of fault lift or
        sink it (see `_feedback`).  Only the ranking moves: a match shows its hybrid score."""
        chosen, seen, pool = [], {}, list(hits)
        feedback = self._feedback([h.key for h in hits], probs, exclude)
        while pool and len(chosen) < self.s.top_k:
            def gain(h) -> float:
                labels = records[h.key].labels
                agree = [probs[f].get(labels.get(f, ""), 0.0) for f in probs]
                lift = sum(agree) / len(agree) if agree else 0.0
                sig = tuple(labels.get(f, "") for f in probs)
                return (h.score + self.s.label_boost * lift * DECAY ** seen.get(sig, 0)
                        + feedback.get(h.key, 0.0))
            best = max(pool, key=gain)
            pool.remove(best)
            chosen.append(best)
            sig = tuple(records[best.key].labels.get(f, "") for f in probs)
            seen[sig] = seen.get(sig, 0) + 1
        return [self._match(h, records[h.key]) for h in chosen]

    def _feedback(self, keys: list[str], probs: dict[str, dict[str, float]],
                  exclude: str | None = None) -> dict[str, float]:
        """Per candidate key: feedback_weight * tanh(sum / 2), where the sum runs over the
        cases that marked it `used` (+1) or `not-helpful` (-1), each weighted by how well
        that case's labels (its own, else its triage's predicted ones) agree with the
        predicted label probabilities `probs`.  One query for the whole pool."""
        weight = self.s.feedback_weight
        if not keys or not probs or not weight:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self.kb.db.execute(
            "WITH l AS (SELECT DISTINCT target, relation, case_id FROM links "
            f"WHERE target IN ({marks}) AND relation IN ('used', 'not-helpful')), "
            "o AS (SELECT doc_id, json_group_object(field, value) AS labels FROM labels "
            "WHERE kind = 'case' AND doc_id IN (SELECT case_id FROM l) GROUP BY doc_id) "
            "SELECT l.target, l.relation, l.case_id, o.labels, c.triage FROM l "
            "LEFT JOIN o ON o.doc_id = l.case_id "
            "LEFT JOIN cases c ON c.id = l.case_id AND o.labels IS NULL", keys).fetchall()
        skip = exclude.partition(":")[2] if exclude and exclude.startswith("case:") else None
        agreement: dict[str, float] = {}
        totals: dict[str, float] = {}
        for target, relation, case_id, own, triage in rows:
            if case_id == skip:
                continue
            if case_id not in agreement:
                agreement[case_id] = self._agreement(_case_labels(own, triage), probs)
            sign = 1.0 if relation == "used" else -1.0
            totals[target] = totals.get(target, 0.0) + sign * agreement[case_id]
        return {k: weight * math.tanh(t / 2) for k, t in totals.items()}

    @staticmethod
    def _agreement(labels: dict[str, str], probs: dict[str, dict[str, float]]) -> float:
        """Mean predicted probability of a case's label values, over the fields it has."""
        shared = [f for f in probs if labels.get(f)]
        return sum(probs[f].get(labels[f], 0.0) for f in shared) / len(shared) if shared else 0.0

    @staticmethod
    def _match(h, rec: Record) -> Match:
        return Match(key=h.key, kind=rec.kind, id=rec.id, title=rec.title or rec.text[:80],
                     fix=rec.fix, score=round(h.score, 4), dense=round(h.dense, 4),
                     lexical=round(h.lexical, 4), matched=h.matched, labels=rec.labels,
                     severity=rec.severity)

    def _escalation(self, labels, severity: str | None, matches: list[Match]) -> Escalation:
        s, reasons = self.s, []
        best = max((m.score for m in matches), default=0.0)
        if best < s.match_threshold:
            reasons.append(f"no confident known fix (best match {best:.2f} < "
                           f"{s.match_threshold:.2f})")
        top = s.escalate_level
        if severity and top and self.levels.index(severity) >= self.levels.index(top):
            reasons.append(f"severity {severity} is at or above {top}")
        for name, pred in labels.items():
            if not pred.given and pred.confidence < s.confidence_threshold:
                reasons.append(f"low confidence for {name} ({pred.confidence:.2f} < "
                               f"{s.confidence_threshold:.2f})")
        return Escalation(bool(reasons), reasons)


def _case_labels(own: str | None, triage: str | None) -> dict[str, str]:
    """A case's labels from its labels rows (as a JSON object), else the values its stored
    triage predicted."""
    labels = json.loads(own) if own else {}
    if labels or not triage:
        return labels
    try:
        predicted = json.loads(triage).get("labels") or {}
    except (ValueError, AttributeError):
        return {}
    return {f: p.get("value") for f, p in predicted.items() if isinstance(p, dict)
            and p.get("value")}
