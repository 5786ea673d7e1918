"""Reports (工作报表 / 统计分析): what a support manager reviews each week.

`Reports(engine).summary(actor, start, end)` returns one dict of sections for the cases
received in [start, end) (dates or times; without a zone on the clock of the `timezone`
setting; a case's `received_at`, else its `created_at`):

- ``volume``: cases by channel, by each label field, by severity and by state;
- ``outcomes``: first-contact resolution, escalation rate and reasons, delay reasons A–D;
- ``timing``: hours to first response and to resolution per severity (median, p90);
- ``satisfaction``: mean, count and the 1–5 distribution;
- ``answers``: customers' confirmation and follow-up answers (by link or phone):
  response rate, and satisfaction by engineer, channel, label value and source;
- ``engineers``: each assignee's cases, resolutions, escalations, speed and ratings;
- ``knowledge``: link rate, reuse per article, unused, not-helpful and stale articles;
- ``gaps``: recent cases with no confident known fix, clustered by meaning;
- ``corrections``: how often the resolver corrected triage's prediction, per label field
  (and severity) and per ISO week, over the confirmations made in the period;
- ``maintenance``: the maintenance cases (定期维护, opened by plans) received in the
  period: how many, done, open, by state.  Every other section counts fault cases
  only, so routine work does not dilute the fault statistics.

`weekly` counts fault cases opened, resolved and escalated per ISO week, and maintenance
cases opened; `export` writes the
summary and the weekly table as CSV (one long table), XLSX (a sheet per section) or JSON.
`work_report` lists the cases worked in the period one by one (service/work_report.py);
`work_report_csv` and `work_report_xlsx` write it, the workbook with the aggregates as
further sheets.

Imported history (cases from `knownfix import` or the demo loader: no project) is left
out of every period statistic unless `include_imported=True`: its received time is the
import's, not the customer's call.
Every method requires the ``report.view`` permission.  Nothing here writes to the KB.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from errors import BadInput
from kb.exporter import safe_cell
from kb.records import LIVE_ARTICLE_STATES
from service.auth import User, Users, require
from service.cases import DONE_STATES, iso, parse_time, work_condition
from service.customer_links import PURPOSES
from service.engine import Engine, OnEngine
from service.work_report import (
    DESK_CASE,
    RECEIVED,
    WorkFilter,
    WorkRow,
    add_sheet,
    json_record,
    work_rows,
    write_csv,
)
from triage.stored import StoredTriage, case_labels
from ui.i18n import MESSAGES, message  # the catalogue alone: it does not need Streamlit
from zones import read_utc

FORMATS = ("csv", "xlsx", "json")
DELAY_CODES = ("A", "B", "C", "D")
NONE = "(none)"
IMPORTED = "imported"  # state of cases imported as history (never went through intake)
GAP_SIMILARITY = 0.6
MAX_GAP_CASES = 2000
TOP_NOT_HELPFUL = 10
_CASE_COLS = ("id", "title", "text", "fix", "channel", "severity", "priority", "state",
              "received_at", "created_at", "first_response_at", "resolved_at", "closed_at",
              "escalation", "delay", "satisfaction", "assignee", "first_contact", "triage",
              "resolved_with")


class Reports(OnEngine):
    """Manager statistics over one engine's knowledge base (read only)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    def data_version(self, actor: User) -> tuple:
        """A value that changes whenever something the reports read may have: which
        knowledge base (its file), its change sequence (cases, articles, labels), the
        last event (links, confirmations and every other action are logged) and the
        settings the figures use (severity scale, match threshold).  Read it before the
        figures, and an edge may keep figures under it: a change made meanwhile only
        makes the next version differ."""
        require(actor, "report.view")
        last = self.kb.db.execute("SELECT MAX(id) FROM events").fetchone()[0]
        return (str(self.kb.path), self.kb.seq, int(last or 0), tuple(self.s.levels),
                self.s.match_threshold)

    # -- the summary ---------------------------------------------------------------------
    def summary(self, actor: User, start: str, end: str, stale_days: int = 180,
                gap_similarity: float = GAP_SIMILARITY,
                now: datetime | None = None, include_imported: bool = False) -> dict:
        """Every section for the cases received in [start, end). `stale_days`: a validated
        article not reviewed or updated for this long is stale (counted back from `now`);
        `gap_similarity`: cosine at which two gap cases describe the same fault;
        `include_imported`: count imported history too."""
        require(actor, "report.view")
        lo, hi = _bounds(start, end, self.s.zone)
        cases = self._cases(lo, hi, include_imported)
        return {
            "period": {"start": lo, "end": hi, "cases": len(cases)},
            "volume": self._volume(cases),
            "outcomes": _outcomes(cases),
            "timing": self._timing(cases),
            "satisfaction": _satisfaction(cases),
            "answers": self._answers(cases, now or datetime.now(UTC)),
            "engineers": _engineers(cases),
            "knowledge": self._knowledge(cases, stale_days, now or datetime.now(UTC)),
            "gaps": self._gaps(cases, gap_similarity),
            "corrections": self._corrections(lo, hi),
            "maintenance": _maintenance(self._cases(lo, hi, include_imported, "maintenance")),
            "self_service": self._self_service(lo, hi, cases),
        }

    def _self_service(self, lo: str, hi: str, cases: list[dict]) -> dict:
        """The customer request page (portal/) in [lo, hi): requests an article for
        customers answered (deflections: no case opened), requests filed as cases (channel
        web), the share answered, and which articles answered how many."""
        by_article = Counter(r[0] for r in self.kb.db.execute(
            "SELECT article_id FROM deflections WHERE at >= ? AND at < ?", [lo, hi]))
        deflected = sum(by_article.values())
        filed = sum(1 for c in cases if c["channel"] == "web")
        return {"deflections": deflected, "web_cases": filed,
                "deflection_rate": _rate(deflected, deflected + filed),
                "by_article": [{"id": a, "count": n} for a, n in
                               sorted(by_article.items(), key=lambda x: (-x[1], x[0]))]}

    def _cases(self, lo: str, hi: str, include_imported: bool,
               work: str = "fault") -> list[dict]:
        """The cases of kind `work` (service.cases.WORK_TYPES) received in range, JSON
        columns parsed, with labels and links."""
        cols = ", ".join(f"c.{c}" for c in _CASE_COLS)
        where = f"{_received_in(include_imported)} AND {work_condition(work)}"
        rows = list(self.kb.db.query(f"SELECT {cols} FROM cases c WHERE {where} "
                                     f"ORDER BY {RECEIVED}, c.id", [lo, hi]))
        labels: dict[str, dict[str, str]] = defaultdict(dict)
        for r in self.kb.db.query(f"SELECT l.doc_id, l.field, l.value FROM labels l JOIN cases "
                                  f"c ON l.kind = 'case' AND l.doc_id = c.id WHERE {where}",
                                  [lo, hi]):
            labels[r["doc_id"]][r["field"]] = r["value"]
        links: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for r in self.kb.db.query(f"SELECT l.case_id, l.relation, l.target FROM links l JOIN "
                                  f"cases c ON l.case_id = c.id WHERE {where} ORDER BY l.id",
                                  [lo, hi]):
            links[r["case_id"]].append((r["relation"], r["target"]))
        for row in rows:
            for col in ("escalation", "delay"):
                row[col] = json_record(row[col])
            row["triage"] = StoredTriage.from_json(row["triage"])
            row["labels"], row["links"] = labels[row["id"]], links[row["id"]]
            row["received"] = read_utc(row["received_at"] or row["created_at"])
        return rows

    # -- volume and outcomes ----------------------------------------------------------------
    def _volume(self, cases: list[dict]) -> dict:
        fields = sorted(set(self.kb.label_fields()) |
                        {f for c in cases for f in _case_labels(c)})
        return {
            "by_channel": _count(c["channel"] or NONE for c in cases),
            "by_severity": self._by_level(_count(_severity(c) for c in cases)),
            "by_state": _count(c["state"] or IMPORTED for c in cases),
            "by_label": {f: _count(_case_labels(c).get(f) or NONE for c in cases)
                         for f in fields},
        }

    def _by_level(self, counts: dict[str, int]) -> dict[str, int]:
        """Counts ordered by the severity scale, most severe first, then the rest."""
        order = [lv for lv in reversed(self.s.levels) if lv in counts]
        return {k: counts[k] for k in order + sorted(set(counts) - set(order))}

    # -- timing -----------------------------------------------------------------------------
    def _timing(self, cases: list[dict]) -> dict:
        out = {}
        for name, col in (("first_response_hours", "first_response_at"),
                          ("resolution_hours", "resolved_at")):
            by_sev: dict[str, list[float]] = defaultdict(list)
            for c in cases:
                hours = _hours(c["received"], read_utc(c[col]))
                if hours is not None:
                    by_sev[_severity(c)].append(hours)
            rows = [{"severity": sev, **_spread(by_sev[sev])}
                    for sev in self._by_level({k: len(v) for k, v in by_sev.items()})]
            every = [h for v in by_sev.values() for h in v]
            out[name] = [*rows, {"severity": "(all)", **_spread(every)}] if every else []
        return out

    # -- customers' answers (confirmation and follow-up, by link or phone) -------------------
    def _answers(self, cases: list[dict], now: datetime) -> dict:
        """Response rate and satisfaction over the period's cases.  A question (a case's
        confirmation or follow-up) is sent once a link for it has gone out (its send
        time passed; a follow-up waits its days) and answered when an answer to it came
        after that, by link or by phone (counted by the first such answer's source).
        Satisfaction counts each rated case once, with the rating it holds, by engineer
        (assignee), intake channel, label value and the way the rating was given (the
        source of the latest answer that carried it; "(none)" for one typed before
        answers were kept)."""
        sent, found = self._questions([c["id"] for c in cases], iso(now))
        questions = []
        for purpose in PURPOSES:
            asked = {k: at for k, at in sent.items() if k[1] == purpose}
            first = [next((src for at, src, _w, _r in found.get(k, []) if at >= since), None)
                     for k, since in asked.items()]
            by = Counter(src for src in first if src)
            questions.append({"question": purpose, "sent": len(asked),
                              "answered": sum(by.values()), "by_link": by["link"],
                              "by_phone": by["phone"],
                              "response_rate": _rate(sum(by.values()), len(asked))})
        rated = [c for c in cases if c["satisfaction"] is not None]

        def given(case_id: str) -> str:  # how the rating the case holds was given
            carried = sorted((a for p in PURPOSES for a in found.get((case_id, p), [])
                              if a[3] is not None and a[2] != 0), key=lambda a: a[0])
            return carried[-1][1] if carried else NONE
        source = {c["id"]: given(c["id"]) for c in rated}
        fields = sorted({f for c in rated for f in _case_labels(c)})
        return {
            "sent": sum(q["sent"] for q in questions),
            "answered": sum(q["answered"] for q in questions),
            "response_rate": _rate(sum(q["answered"] for q in questions),
                                   sum(q["sent"] for q in questions)),
            "by_question": questions,
            "satisfaction_by_engineer": _rated_by("assignee", rated,
                                                  lambda c: c["assignee"] or NONE),
            "satisfaction_by_channel": _rated_by("channel", rated,
                                                 lambda c: c["channel"] or NONE),
            "satisfaction_by_source": _rated_by("source", rated, lambda c: source[c["id"]]),
            "satisfaction_by_label": {f: _rated_by("value", rated, lambda c, f=f: _case_labels(
                c).get(f) or NONE) for f in fields},
        }

    def _questions(self, ids: list[str], now: str) -> tuple[dict, dict]:
        """For these cases: (case, purpose) -> when its first link went out (by `now`);
        (case, purpose) -> its answers oldest first, as (at, source, worked, rating)."""
        sent: dict[tuple[str, str], str] = {}
        found: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for case_id, purpose, at in self.kb.db.execute(
                    f"SELECT case_id, purpose, MIN(send_at) FROM customer_links WHERE "
                    f"send_at <= ? AND via != 'dropped' AND case_id IN ({marks}) "
                    f"GROUP BY case_id, purpose",
                    [now, *chunk]):
                sent[(case_id, purpose)] = at
            for case_id, purpose, at, src, worked, rating in self.kb.db.execute(
                    f"SELECT case_id, purpose, at, source, worked, rating FROM "
                    f"customer_answers WHERE case_id IN ({marks}) ORDER BY id", chunk):
                found[(case_id, purpose)].append((at, src, worked, rating))
        return sent, found

    # -- knowledge health ---------------------------------------------------------------------
    def _knowledge(self, cases: list[dict], stale_days: int, now: datetime) -> dict:
        """Link rate (over cases closed through the loop: imported history has no
        closed_at), reuse and not-helpful marks over the period's cases; unused and stale
        articles as the knowledge base stands now."""
        articles = {f"article:{a['id']}": a for a in self.kb.db.query(
            "SELECT id, title, state, updated_at, reviewed_at FROM articles")}
        live = {k: a for k, a in articles.items() if a["state"] in LIVE_ARTICLE_STATES}
        closed = [c for c in cases if c["state"] == "closed" and c["closed_at"]]
        linked = [c for c in closed if _linked(c, live)]
        # per article, the cases that marked it (a case marking it twice counts once, as
        # in Knowledge.usage and the triage feedback)
        uses = Counter(t for c in cases for t in {t for rel, t in c["links"]
                                                  if rel == "used" and t in articles})
        unhelpful = Counter(t for c in cases for t in {t for rel, t in c["links"]
                                                       if rel == "not-helpful" and t in articles})
        ever_used = {r["target"] for r in self.kb.db.query(
            "SELECT DISTINCT target FROM links WHERE relation = 'used'")}
        return {
            "closed": len(closed), "linked": len(linked),
            "link_rate": _rate(len(linked), len(closed)),
            "reuse": [_article(k, articles, uses=n) for k, n in _ranked(uses)],
            "never_used": [_article(k, live) for k in sorted(live) if k not in ever_used],
            "not_helpful": [_article(k, articles, count=n)
                            for k, n in _ranked(unhelpful)[:TOP_NOT_HELPFUL]],
            "stale_days": stale_days,
            "stale": _stale(live, stale_days, now),
        }

    # -- gaps ------------------------------------------------------------------------------
    def _gaps(self, cases: list[dict], similarity: float) -> dict:
        """Cases with no confident known fix, grouped into clusters of the same fault."""
        found = [c for c in cases if _is_gap(c, self.s.match_threshold)]
        found = sorted(found, key=lambda c: c["received"] or datetime.min.replace(tzinfo=UTC),
                       reverse=True)[:MAX_GAP_CASES]
        out = {"match_threshold": self.s.match_threshold, "similarity": similarity,
               "cases": len(found), "clusters": []}
        if not found:
            return out
        vecs = self.engine.vectors([f"case:{c['id']}" for c in found],
                             [_description(c) for c in found])
        for members, medoid in cluster(vecs, similarity):
            rep = found[medoid]
            out["clusters"].append({
                "representative": rep["id"], "description": _description(rep),
                "count": len(members), "case_ids": sorted(found[i]["id"] for i in members)})
        out["clusters"].sort(key=lambda g: (-g["count"], g["representative"]))
        return out

    # -- triage corrections ------------------------------------------------------------------
    def corrections(self, actor: User, start: str, end: str) -> dict:
        """How often people corrected triage when they confirmed a case's labels and
        severity (at resolve or close) in [start, end): per field, and per ISO week and
        field, confirmed values, corrected ones and the rate."""
        require(actor, "report.view")
        return self._corrections(*_bounds(start, end, self.s.zone))

    def _corrections(self, lo: str, hi: str) -> dict:
        by_field: dict[str, Counter] = defaultdict(Counter)
        by_week: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for at, detail in self.kb.db.execute(
                "SELECT at, detail FROM events WHERE action IN ('resolve', 'close') AND at >= ? "
                "AND at < ? AND json_extract(detail, '$.confirmed') IS NOT NULL AND target NOT "
                "IN (SELECT 'case:' || id FROM cases WHERE work_type = 'maintenance')",
                [lo, hi]):
            found = json_record(detail)
            corrected = set(found.get("corrected") or [])
            week = _week(read_utc(at), self.s.zone) if read_utc(at) else NONE
            for name, checked in (found.get("confirmed") or {}).items():
                if not checked.get("predicted"):
                    continue  # nothing was predicted for this field: nothing to correct
                for tally in (by_field[name], by_week[(week, name)]):
                    tally["confirmed"] += 1
                    tally["corrected"] += name in corrected

        def row(t: Counter) -> dict:
            return {"confirmed": t["confirmed"], "corrected": t["corrected"],
                    "rate": _rate(t["corrected"], t["confirmed"])}
        return {"by_field": {name: row(t) for name, t in sorted(by_field.items())},
                "weeks": [{"key": f"{week} {name}", "week": week, "field": name, **row(t)}
                          for (week, name), t in sorted(by_week.items())]}

    # -- weekly --------------------------------------------------------------------------------
    def weekly(self, actor: User, start: str, end: str,
               include_imported: bool = False) -> list[dict]:
        """Fault cases opened (received), resolved and escalated, and maintenance cases
        opened, per ISO week, every week of [start, end) listed, quiet weeks included."""
        require(actor, "report.view")
        lo, hi = _bounds(start, end, self.s.zone)
        received, fault = _received_in(include_imported), work_condition("fault")
        desk = f" AND {fault}" + ("" if include_imported else f" AND {DESK_CASE}")
        sql = {
            "opened": f"SELECT {RECEIVED} FROM cases c WHERE {received} AND {fault}",
            "resolved": "SELECT resolved_at FROM cases c WHERE resolved_at >= ? "
                        f"AND resolved_at < ?{desk}",
            "escalated": "SELECT json_extract(escalation, '$.at') AS at FROM cases c WHERE "
                         "json_valid(escalation) AND json_extract(escalation, '$.at') >= ? AND "
                         f"json_extract(escalation, '$.at') < ?{desk}",
            "maintenance": f"SELECT {RECEIVED} FROM cases c WHERE {received} AND "
                           f"{work_condition('maintenance')}",
        }
        weeks = {_week(d): {"week": _week(d), "week_start": d.isoformat(), "opened": 0,
                            "resolved": 0, "escalated": 0, "maintenance": 0}
                 for d in _mondays(lo, hi, self.s.zone)}
        for name, query in sql.items():
            for (value,) in self.kb.db.execute(query, [lo, hi]):
                when = read_utc(value)
                if when is not None and _week(when, self.s.zone) in weeks:
                    weeks[_week(when, self.s.zone)][name] += 1
        return list(weeks.values())

    def coverage(self, actor: User, start: str, end: str,
                 include_imported: bool = False) -> dict:
        """Knowledge coverage over time and by category, for the cases received in
        [start, end): per ISO week the closed cases, how many were linked to a known fix
        (link rate) and how many found no good match; per value of each label field the
        cases, escalations (rate) and cases without a good match."""
        require(actor, "report.view")
        lo, hi = _bounds(start, end, self.s.zone)
        cases = self._cases(lo, hi, include_imported)
        live = {f"article:{a['id']}": a for a in self.kb.db.query(
            "SELECT id, state FROM articles") if a["state"] in LIVE_ARTICLE_STATES}
        weeks = {_week(d): {"week": _week(d), "cases": 0, "closed": 0, "linked": 0,
                            "no_match": 0} for d in _mondays(lo, hi, self.s.zone)}
        by_field: dict[str, dict[str, dict]] = defaultdict(dict)
        for c in cases:
            row = weeks.get(_week(c["received"], self.s.zone)) if c["received"] else None
            gap = _is_gap(c, self.s.match_threshold)
            if row is not None:
                row["cases"] += 1
                row["no_match"] += gap
                if c["state"] == "closed" and c["closed_at"]:
                    row["closed"] += 1
                    row["linked"] += _linked(c, live)
            for name, value in _case_labels(c).items():
                cell = by_field[name].setdefault(value, {"value": value, "cases": 0,
                                                         "escalated": 0, "no_match": 0})
                cell["cases"] += 1
                cell["escalated"] += bool(c["escalation"])
                cell["no_match"] += gap
        for row in weeks.values():
            row["link_rate"] = _rate(row["linked"], row["closed"])
        fields = {name: sorted(({**v, "escalation_rate": _rate(v["escalated"], v["cases"])}
                                for v in values.values()), key=lambda v: -v["cases"])
                  for name, values in by_field.items()}
        return {"weeks": list(weeks.values()), "by_label": fields}

    # -- export -----------------------------------------------------------------------------
    def export(self, actor: User, start: str, end: str, fmt: str,
               path: str | Path | TextIO, **options: Any) -> dict:
        """Write the summary and the weekly table to `path` (a file name, or an open text
        stream for csv and json) and return what was written. `options` go to summary
        (`include_imported` to weekly too)."""
        if fmt not in FORMATS:
            raise BadInput(f"unknown report format {fmt!r} (use {', '.join(FORMATS)})")
        if fmt == "xlsx" and not isinstance(path, str | Path):
            raise BadInput("an xlsx report needs a file name")
        data = self.aggregates(actor, start, end, **options)
        write_aggregates(data, fmt, path)
        return data

    def aggregates(self, actor: User, start: str, end: str, **options: Any) -> dict:
        """The summary and the weekly table in one dict (what `export` writes), for an
        edge that shows it and offers it for download without computing it twice."""
        weekly = self.weekly(actor, start, end, options.get("include_imported", False))
        return {**self.summary(actor, start, end, **options), "weekly": weekly}

    # -- the per-case work report ---------------------------------------------------------------
    def work_report(self, actor: User, start: str, end: str,
                    filters: WorkFilter | None = None,
                    include_imported: bool = False) -> list[WorkRow]:
        """One row per case worked in [start, end) (see service/work_report.py) that
        passes `filters`, oldest received first; imported history only if asked."""
        require(actor, "report.view")
        lo, hi = _bounds(start, end, self.s.zone)
        names = {u.username: u.display_name or u.username
                 for u in Users(self.kb).all(include_inactive=True)}
        return work_rows(self.kb, names, lo, hi, (filters or WorkFilter()).check(),
                         include_imported)

    def work_report_csv(self, actor: User, start: str, end: str, lang: str,
                        out: str | Path | TextIO, filters: WorkFilter | None = None,
                        include_imported: bool = False, tz: tzinfo = UTC) -> list[WorkRow]:
        """Write the work report as CSV (headers in `lang`, times in `tz`; a file is UTF-8
        with a BOM so Excel reads Chinese) and return its rows."""
        rows = self.work_report(actor, start, end, filters, include_imported)
        if isinstance(out, str | Path):
            with open(out, "w", encoding="utf-8-sig", newline="") as fh:
                write_csv(rows, lang, fh, tz)
        else:
            write_csv(rows, lang, out, tz)
        return rows

    def work_report_xlsx(self, actor: User, start: str, end: str, lang: str,
                         out: str | Path | BinaryIO, filters: WorkFilter | None = None,
                         include_imported: bool = False, tz: tzinfo = UTC) -> list[WorkRow]:
        """Write an Excel workbook to `out` (a file name or a binary stream): first the
        work report (headers in `lang`, times in `tz` as Excel dates, the zone named in
        the headers), then a sheet per aggregate section of the same period, as `export`
        writes them. Returns the work report's rows."""
        rows = self.work_report(actor, start, end, filters, include_imported)
        data = self.aggregates(actor, start, end, include_imported=include_imported)
        write_work_xlsx(rows, data, lang, out, tz)
        return rows


# -- reading cases -------------------------------------------------------------------------
def _received_in(include_imported: bool) -> str:
    """SQL over cases `c`: received in [?, ?), and came through the desk unless imported
    history is included."""
    where = f"{RECEIVED} >= ? AND {RECEIVED} < ?"
    return where if include_imported else f"{where} AND {DESK_CASE}"


def _bounds(start: str, end: str, zone: tzinfo = UTC) -> tuple[str, str]:
    """[start, end) as strings that compare correctly with stored UTC ISO-8601 times; a
    date or a time without a zone is read on the clock of `zone` (parse_time)."""
    lo, hi = _bound(start, "start", zone), _bound(end, "end", zone)
    if hi <= lo:
        raise BadInput(f"the report period is empty: {start} to {end}")
    return lo, hi


def _bound(value: str, name: str, zone: tzinfo = UTC) -> str:
    try:
        t = parse_time((value or "").strip(), zone)
    except BadInput:
        t = None
    if t is None:
        raise BadInput(f"the {name} of the report is not an ISO date (YYYY-MM-DD) or a "
                       f"time (2026-12-01 09:00): {value!r}")
    text = iso(t)  # a day that starts at midnight UTC stays a day (the same bound)
    return text[:10] if len(value.strip()) == 10 and text.endswith("T00:00:00Z") else text


def _case_labels(c: dict) -> dict[str, str]:
    return case_labels(c["labels"], c["triage"])


def _severity(c: dict) -> str:
    return c["severity"] or c["priority"] or NONE


def _description(c: dict) -> str:
    return "\n".join(p for p in ((c["title"] or "").strip(), (c["text"] or "").strip()) if p)


# -- numbers ---------------------------------------------------------------------------------
def _count(values: Iterable[str]) -> dict[str, int]:
    """Counts, largest first (ties by name)."""
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _ranked(counter: Counter) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(since: datetime | None, until: datetime | None) -> float | None:
    if since is None or until is None:
        return None
    return max((until - since).total_seconds() / 3600.0, 0.0)


def _spread(values: list[float]) -> dict:
    """n, median and 90th percentile (linear interpolation), in hours to 2 places."""
    if not values:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(values), "median": round(float(statistics.median(values)), 2),
            "p90": round(float(np.percentile(values, 90)), 2)}


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


# -- sections made of cases alone --------------------------------------------------------------
def _outcomes(cases: list[dict]) -> dict:
    resolved = [c for c in cases if c["resolved_at"]]
    first = [c for c in resolved if c["first_contact"] == 1]
    escalated = [c for c in cases if c["escalation"]]
    delays = Counter(c["delay"].get("code") for c in cases if c["delay"])
    return {
        "cases": len(cases), "resolved": len(resolved), "first_contact_resolved": len(first),
        "first_contact_rate": _rate(len(first), len(resolved)),
        "escalated": len(escalated), "escalation_rate": _rate(len(escalated), len(cases)),
        "escalation_reasons": _count((c["escalation"].get("reason") or NONE).strip()
                                     for c in escalated),
        "escalation_targets": _count(c["escalation"].get("to") or NONE for c in escalated),
        "delayed": sum(delays.values()),
        "delay_reasons": {code: delays.get(code, 0) for code in DELAY_CODES},
    }


def _maintenance(cases: list[dict]) -> dict:
    """The maintenance cases of the period: how many, done (resolved, confirmed or
    closed), still open, and by state."""
    done = sum(c["state"] in DONE_STATES for c in cases)
    return {"cases": len(cases), "done": done, "open": len(cases) - done,
            "by_state": _count(c["state"] or IMPORTED for c in cases)}


def _satisfaction(cases: list[dict]) -> dict:
    scores = [int(c["satisfaction"]) for c in cases if c["satisfaction"] is not None]
    dist = Counter(scores)
    return {"n": len(scores), "mean": _mean([float(s) for s in scores]),
            "distribution": {str(k): dist.get(k, 0) for k in range(1, 6)}}


def _rated_by(name: str, rated: list[dict], key) -> list[dict]:
    """Rated cases grouped by `key(case)`: {name: value, rated, mean}, by value."""
    groups: dict[str, list[float]] = defaultdict(list)
    for c in rated:
        groups[key(c)].append(float(c["satisfaction"]))
    return [{name: value, "rated": len(scores), "mean": _mean(scores)}
            for value, scores in sorted(groups.items())]


def _engineers(cases: list[dict]) -> list[dict]:
    """Per person: cases now assigned to them, of which resolved; cases they escalated
    onward (`escalated`) and cases escalated to them (`escalated_to_them`); median hours
    from receipt to resolution and mean satisfaction of their resolved cases."""
    names = {c["assignee"] for c in cases if c["assignee"]}
    names |= {c["escalation"].get("by") for c in cases if c["escalation"].get("by")}
    out = []
    for name in sorted(names):
        mine = [c for c in cases if c["assignee"] == name]
        done = [c for c in mine if c["resolved_at"]]
        hours = [h for c in done if (h := _hours(c["received"], read_utc(c["resolved_at"])))
                 is not None]
        rated = [float(c["satisfaction"]) for c in mine if c["satisfaction"] is not None]
        out.append({
            "assignee": name, "cases": len(mine), "resolved": len(done),
            "escalated": sum(1 for c in cases if c["escalation"].get("by") == name),
            "escalated_to_them": sum(1 for c in mine if c["escalation"].get("to") == name),
            "median_resolution_hours": round(statistics.median(hours), 2) if hours else None,
            "mean_satisfaction": _mean(rated),
        })
    return out


def _linked(c: dict, live: dict[str, dict]) -> bool:
    """A closed case is linked when a known fix was used, or it became a live article."""
    return bool(c["resolved_with"]) or any(
        rel == "used" or (rel == "created-from" and target in live)
        for rel, target in c["links"])


def _is_gap(c: dict, threshold: float) -> bool:
    """Triaged with no match reaching the threshold; or never triaged (imported history)
    with no known fix used and no fix of its own."""
    if c["triage"]:
        return c["triage"].best_score < threshold
    used = any(rel == "used" for rel, _ in c["links"]) or c["resolved_with"]
    return not used and not (c["fix"] or "").strip()


def _article(key: str, articles: dict[str, dict], **counts: int) -> dict:
    found = articles.get(key) or {}
    return {"id": key, "title": found.get("title") or "", **counts}


def _stale(live: dict[str, dict], days: int, now: datetime) -> list[dict]:
    """Validated articles (imported ones count as validated) whose last review or update
    is more than `days` before `now`, oldest first."""
    out = []
    for key, a in live.items():
        if a["state"] not in ("validated", None):
            continue
        last = max((t for t in (read_utc(a["reviewed_at"]), read_utc(a["updated_at"])) if t),
                   default=None)
        if last is not None and (now - last).days > days:
            out.append({"id": key, "title": a["title"] or "",
                        "last_reviewed": last.strftime("%Y-%m-%d"),
                        "age_days": (now - last).days})
    return sorted(out, key=lambda a: (-a["age_days"], a["id"]))


# -- clustering --------------------------------------------------------------------------------
def cluster(vecs: np.ndarray, threshold: float) -> list[tuple[list[int], int]]:
    """Group unit vectors: repeatedly take the unassigned vector with the most unassigned
    neighbours at cosine >= threshold, and make it and those neighbours a cluster (so no
    chaining: every member is close to one centre). Returns (member rows, medoid row) per
    cluster, where the medoid is the member most similar to the rest."""
    n = len(vecs)
    if n == 0:
        return []
    sims = vecs @ vecs.T
    near = sims >= threshold
    np.fill_diagonal(near, True)
    alive = np.ones(n, dtype=bool)
    degree = near.sum(axis=1).astype(np.int64)
    out = []
    while alive.any():
        centre = int(np.argmax(np.where(alive, degree, -1)))
        members = np.flatnonzero(near[centre] & alive)
        alive[members] = False
        degree -= near[:, members].sum(axis=1)
        inner = sims[np.ix_(members, members)].sum(axis=1)
        out.append(([int(i) for i in members], int(members[int(np.argmax(inner))])))
    return out


# -- weeks ------------------------------------------------------------------------------------
# A week is the team's: its days begin and end on the clock of the configured zone, as
# the period's bounds do (_bounds), not at midnight UTC.
def _week(when: date | datetime, zone: tzinfo = UTC) -> str:
    """The ISO week ("2026-W49") of a day, or of a time on `zone`'s calendar."""
    day = when.astimezone(zone).date() if isinstance(when, datetime) else when
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _mondays(lo: str, hi: str, zone: tzinfo) -> list[date]:
    """The Monday of every ISO week (on `zone`'s calendar) that overlaps [lo, hi)."""
    first = (read_utc(lo) or datetime.now(UTC)).astimezone(zone).date()
    last = ((read_utc(hi) or datetime.now(UTC)) - timedelta(seconds=1)).astimezone(zone).date()
    day = first - timedelta(days=first.weekday())
    out = []
    while day <= last:
        out.append(day)
        day += timedelta(days=7)
    return out


# -- writing ------------------------------------------------------------------------------------
def rows(data: dict) -> list[tuple[str, str, str, Any]]:
    """The report as one long table: (section, metric, key, value). Nested counts become
    metric "by_label.category", key "storage"; a list of records becomes one row per field
    with the record's first field (id, assignee, week, ...) as key."""
    out: list[tuple[str, str, str, Any]] = []
    for section, value in data.items():
        _walk(section, [], value, out)
    return out


def _walk(section: str, path: list[str], value: Any, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(section, [*path, str(k)], v, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            (_, ident), *fields = item.items()
            for name, v in fields:
                out.append((section, ".".join([*path, name]), str(ident), _scalar(v)))
    elif path:
        out.append((section, ".".join(path[:-1]) or path[0],
                    path[-1] if len(path) > 1 else "", _scalar(value)))


def _scalar(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def _cell(value: Any) -> Any:
    return safe_cell(value) if isinstance(value, str) else value


def _write_csv(data: dict, fh: TextIO) -> None:
    w = csv.writer(fh)
    w.writerow(["section", "metric", "key", "value"])
    for row in rows(data):
        w.writerow([_cell("" if v is None else v) for v in row])


def _write_json(data: dict, fh: TextIO) -> None:
    json.dump(data, fh, ensure_ascii=False, indent=2)
    fh.write("\n")


def write_aggregates(data: dict, fmt: str, path: str | Path | TextIO | BinaryIO) -> None:
    """Write what `Reports.aggregates` returned as csv, json (a file name or a text
    stream) or xlsx (a file name or a binary stream)."""
    if fmt == "xlsx":
        with _workbook(path) as book:  # type: ignore[arg-type]
            _add_sections(book, data)
        return
    writer = _write_csv if fmt == "csv" else _write_json
    if isinstance(path, str | Path):
        with open(path, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8",
                  newline="") as fh:
            writer(data, fh)
    else:
        writer(data, path)  # type: ignore[arg-type]


def write_work_xlsx(rows: list[WorkRow], data: dict, lang: str,
                    out: str | Path | BinaryIO, tz: tzinfo = UTC) -> None:
    """The work report's workbook: the rows (`Reports.work_report`) as its first sheet,
    times in `tz`, then a sheet per section of `data` (`Reports.aggregates`), all
    headers in `lang`."""
    with _workbook(out) as book:
        add_sheet(book, rows, lang, tz)
        _add_sections(book, data, lang)


@contextmanager
def _workbook(out: str | Path | BinaryIO) -> Iterator[Any]:
    """An xlsxwriter workbook writing to a file name or a binary stream, closed (written)
    at the end of the block; text is never turned into formulas or links."""
    import xlsxwriter

    target = str(out) if isinstance(out, str | Path) else out
    book = xlsxwriter.Workbook(target, {"strings_to_formulas": False,
                                        "strings_to_urls": False, "in_memory": True})
    try:
        yield book
    finally:
        book.close()


def _add_sections(book: Any, data: dict, lang: str | None = None) -> None:
    """One sheet per section, columns metric, key, value; text made formula-safe. With
    `lang`, sheet names and the header row are in that language (the metrics and keys
    stay the machine names `rows` gives)."""
    by_section: dict[str, list] = defaultdict(list)
    for section, metric, key, value in rows(data):
        by_section[section].append((metric, key, value))
    bold = book.add_format({"bold": True})
    head = [message(f"rep.col_{c}", lang) if lang else c for c in ("metric", "key", "value")]
    for section in data:
        key = f"rep.sheet_{section}"
        name = message(key, lang) if lang and key in MESSAGES else section
        sheet = book.add_worksheet(name[:31])
        sheet.write_row(0, 0, head, bold)
        for n, row in enumerate(by_section.get(section, []), start=1):
            for col, v in enumerate(row):
                if v is None or v == "":
                    continue
                if isinstance(v, str):
                    sheet.write_string(n, col, _cell(v))
                else:
                    sheet.write(n, col, v)
        sheet.set_column(0, 1, 28)
        sheet.set_column(2, 2, 60)
        sheet.freeze_panes(1, 0)
