"""Triager: classify a fault description, rate its severity, find known fixes and decide
whether to escalate.  Pure logic over the knowledge base and the index.

The scoring steps are module functions (`neighbour_votes`, `blend`, `rank`) so that
tuning (triage/tuning.py) replays exactly what triage does.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager

from errors import BadInput, UnknownLabel
from indexer.index import Index
from kb.records import Record, is_known_fix
from kb.store import KnowledgeBase
from settings import Settings
from triage.learner import SEVERITY, Learner
from triage.params import TriageParams
from triage.result import Escalation, LabelPrediction, Match, TriageResult
from triage.severity import SeverityRules, rate
from triage.stored import StoredTriage, case_labels

POOL = 30            # neighbours looked at for voting and re-ranking
VOTE_SHARPNESS = 0.05
DECAY = 0.5          # lift kept by each further match with the same labels
CONTEXT_FIELDS = ("title", "product", "asset", "model")


def neighbour_votes(scored: Iterable[tuple[float, dict[str, str], str | None]]
                    ) -> dict[str, dict[str, float]]:
    """Each neighbour (score, labels, severity), best first, votes its labels weighted
    by how close it is to the best one; per field the votes sum to 1."""
    scored = list(scored)
    if not scored:
        return {}
    top = scored[0][0]
    votes: dict[str, dict[str, float]] = {}
    for score, labels, severity in scored:
        w = math.exp((score - top) / VOTE_SHARPNESS)
        for name, value in [*labels.items(), *([(SEVERITY, severity)] if severity else [])]:
            d = votes.setdefault(name, {})
            d[value] = d.get(value, 0.0) + w
    return {n: {v: w / sum(d.values()) for v, w in d.items()} for n, d in votes.items()}


def blend(learned: dict[str, float] | None, voted: dict[str, float] | None,
          weight: float) -> dict[str, float]:
    """The classifier's probabilities and the neighbours' vote, the vote at `weight`."""
    if not learned:
        return voted or {}
    if not voted:
        return learned
    return {k: (1 - weight) * learned.get(k, 0.0) + weight * voted.get(k, 0.0)
            for k in set(learned) | set(voted)}


def rank(candidates: list[tuple[str, float, dict[str, str]]],
         probs: dict[str, dict[str, float]], boost: float, k: int,
         feedback: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """Pick the top k of (key, hybrid score, labels) greedily by ranking score: the
    hybrid score, lifted by `boost` times how well the candidate's labels agree with the
    predicted `probs` (the lift halving for each pick already made with the same
    labels, so an unsure prediction shows fixes for each likely kind of fault), plus
    any feedback.  Returns (key, ranking score) pairs; the scores never rise down the
    list, since a candidate's score can only fall as picks are made."""
    feedback = feedback or {}
    chosen: list[tuple[str, float]] = []
    seen: dict[tuple, int] = {}
    pool = list(candidates)

    def signature(labels: dict[str, str]) -> tuple:
        return tuple(labels.get(f, "") for f in probs)

    def gain(c: tuple[str, float, dict[str, str]]) -> float:
        key, score, labels = c
        agree = [probs[f].get(labels.get(f, ""), 0.0) for f in probs]
        lift = sum(agree) / len(agree) if agree else 0.0
        return score + boost * lift * DECAY ** seen.get(signature(labels), 0) \
            + feedback.get(key, 0.0)

    while pool and len(chosen) < k:
        best = max(pool, key=gain)
        chosen.append((best[0], gain(best)))
        pool.remove(best)
        sig = signature(best[2])
        seen[sig] = seen.get(sig, 0) + 1
    return chosen


def top_label(probs: dict[str, float]) -> tuple[str | None, float, list[tuple[str, float]]]:
    """The most probable value, its probability and the five best alternatives."""
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    value, conf = ranked[0] if ranked else (None, 0.0)
    return value, conf, ranked[:5]


class Triager:
    """`run(text, **fields) -> TriageResult`, learning from the KB as it changes."""

    def __init__(self, kb: KnowledgeBase, index: Index, settings: Settings,
                 lock: AbstractContextManager | None = None,
                 params: TriageParams | None = None) -> None:
        """`lock`, when given, guards the index against other threads (the Engine's);
        `params` are the quality knobs (default: the settings' values)."""
        self.kb, self.index, self.s = kb, index, settings
        self.params = params or TriageParams.from_settings(settings)
        self.levels = settings.levels
        self.rules = SeverityRules(self.levels, settings.rules)
        self.learner = Learner(kb, index, settings.sync_retrain_max, lock=lock,
                               c=self.params.classifier_c, dense=self.params.dense_features)

    def run(self, text: str, exclude: str | None = None, **fields: str) -> TriageResult:
        """Triage one description. `fields` may give context (title, product, asset,
        model) or fix a label's value (e.g. category="network"); `exclude` leaves one
        record (the case being triaged) out of the matches."""
        t0 = time.perf_counter()
        given, context = self._split_fields(fields)
        text, context_text = (text or "").strip(), "\n".join(context)
        query = "\n".join(p for p in (context_text, text) if p)
        if not query.strip():
            raise BadInput("the fault description is empty")
        self.index.sync(self.kb)
        models = self.learner.current()
        t1 = time.perf_counter()
        qvec = self.index.encode_query(query)
        t2 = time.perf_counter()
        hits = self.index.search(text or context_text, POOL, qvec=qvec,
                                 context=context_text if text else "")
        records = self.kb.get_many(h.key for h in hits)
        hits = [h for h in hits if h.key in records and h.key != exclude
                and is_known_fix(records[h.key].kind, records[h.key].state)]
        learned = models.predict(query, qvec)
        votes = neighbour_votes((h.score, records[h.key].labels, records[h.key].severity)
                                for h in hits)
        labels = self._labels(learned, votes, given)
        probs = {f: dict(p.alternatives) for f, p in labels.items()}
        w = self.params.neighbour_weight
        severity = rate(self.levels, self.rules, query,
                        blend(learned.get(SEVERITY), votes.get(SEVERITY), w),
                        models.sizes.get(SEVERITY, 0), self.params.severity_cutoffs)
        matches = self._matches(hits, records, probs, exclude)
        t3 = time.perf_counter()
        return TriageResult(
            text=query, labels=labels, severity=severity.level,
            severity_confidence=round(severity.confidence, 4), severity_reason=severity.reason,
            severity_basis=severity.basis,
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

    def _labels(self, learned, votes, given) -> dict[str, LabelPrediction]:
        out: dict[str, LabelPrediction] = {}
        for name in sorted((set(learned) | set(votes) | set(given)) - {SEVERITY}):
            if name in given:
                out[name] = LabelPrediction(given[name], 1.0, [(given[name], 1.0)], given=True)
                continue
            value, conf, alts = top_label(blend(learned.get(name), votes.get(name),
                                                self.params.neighbour_weight))
            out[name] = LabelPrediction(value, round(conf, 4),
                                        [(v, round(p, 4)) for v, p in alts])
        return out

    def _matches(self, hits, records: dict[str, Record], probs: dict[str, dict[str, float]],
                 exclude: str | None = None) -> list[Match]:
        """The top k known fixes in ranking order, each showing its ranking score (see
        `rank`); past `used` / `not-helpful` marks on a match from the same kind of fault
        lift or sink it (see `_feedback`)."""
        feedback = self._feedback([h.key for h in hits], probs, exclude)
        by_key = {h.key: h for h in hits}
        picked = rank([(h.key, h.score, records[h.key].labels) for h in hits], probs,
                      self.params.label_boost, self.s.top_k, feedback)
        return [self._match(by_key[key], records[key], score) for key, score in picked]

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
            "LEFT JOIN cases c ON c.id = l.case_id", keys).fetchall()
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
    def _match(h, rec: Record, score: float) -> Match:
        return Match(key=h.key, kind=rec.kind, id=rec.id, title=rec.title or rec.text[:80],
                     fix=rec.fix, score=round(min(max(score, 0.0), 1.0), 4),
                     hybrid=round(h.score, 4), dense=round(h.dense, 4),
                     lexical=round(h.lexical, 4), matched=h.matched, labels=rec.labels,
                     severity=rec.severity)

    def _escalation(self, labels, severity: str | None, matches: list[Match]) -> Escalation:
        s, p, reasons, codes = self.s, self.params, [], []
        best = max((m.score for m in matches), default=0.0)
        if best < p.match_threshold:
            reasons.append(f"no confident known fix (best match {best:.2f} < "
                           f"{p.match_threshold:.2f})")
            codes.append({"code": "no_match", "best": round(best, 2),
                          "threshold": round(p.match_threshold, 2)})
        top = s.escalate_level
        if severity and top and self.levels.index(severity) >= self.levels.index(top):
            reasons.append(f"severity {severity} is at or above {top}")
            codes.append({"code": "severity", "level": severity, "top": top})
        for name, pred in labels.items():
            if not pred.given and pred.confidence < p.confidence_threshold:
                reasons.append(f"low confidence for {name} ({pred.confidence:.2f} < "
                               f"{p.confidence_threshold:.2f})")
                codes.append({"code": "low_confidence", "field": name,
                              "confidence": round(pred.confidence, 2),
                              "threshold": round(p.confidence_threshold, 2)})
        return Escalation(bool(reasons), reasons, codes)


def _case_labels(own: str | None, triage: str | None) -> dict[str, str]:
    """A case's labels (triage/stored.py) from its labels rows (as a JSON object) and its
    stored triage."""
    return case_labels(json.loads(own) if own else {}, StoredTriage.from_json(triage))
