"""Reading cases and articles page by page, with the role check, for edges that list
(the HTTP API): filters, a stable order and opaque cursors.

Cases come newest received first (received_at, else created_at; then id), articles most
recently changed first (updated_at, then id).  A cursor names the last record of a page,
so a page never repeats or skips a record that was already there when the listing
began, however many are added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from errors import BadInput
from kb.records import Record
from kb.store import KnowledgeBase
from service.auth import User, require
from service.cases import (
    CHANNELS,
    DEADLINE_TIMES,
    NEWEST_FIRST,
    STATES,
    Case,
    Cases,
    iso,
    parse_time,
)
from service.knowledge import STATES as ARTICLE_STATES
from service.knowledge import Article, Knowledge

MAX_LIMIT = 200
QUEUE_VIEWS = ("mine", "escalated", "opened", "team", "all")
DEADLINE_ORDER = {"overdue": 0, "at_risk": 1, "ok": 2}  # a queue: the most urgent first
_WHEN = "COALESCE(NULLIF(received_at, ''), created_at)"
_STATE = "COALESCE(NULLIF(state, ''), 'closed')"  # imported history counts as closed


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list: any of `states`, one assignee, one channel, received in
    [received_from, received_to)."""

    states: tuple[str, ...] = ()
    assignee: str | None = None
    channel: str | None = None
    received_from: str | None = None
    received_to: str | None = None


@dataclass(frozen=True)
class Checklist:
    """An article's fix as steps, numbering taken off."""

    article_id: str
    title: str
    steps: list[str]


@dataclass(frozen=True)
class Found:
    """One page of a search: the records on it and how many match in all."""

    items: list[Any]
    total: int


@dataclass
class Page:
    """One page of records and the cursor of the next (None on the last page);
    `versions`: each record's version (seq), read before the record itself, so never
    newer than what the page shows."""

    items: list[Any] = field(default_factory=list)
    next_cursor: str | None = None
    versions: list[int] = field(default_factory=list)


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list:
    """The values a cursor holds; BadInput for anything this module did not make."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size \
            or not all(isinstance(v, str) for v in values):
        raise BadInput("this is not a cursor from a previous page", "bad_cursor")
    return values


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit is 1 to {MAX_LIMIT}", "bad_limit", max=MAX_LIMIT)
    return limit


class Queries:
    """Case and article listings, timelines and links, as a signed-in user."""

    def __init__(self, cases: Cases, knowledge: Knowledge) -> None:
        self.cases = cases
        self.knowledge = knowledge
        self.kb: KnowledgeBase = cases.kb

    # -- cases ------------------------------------------------------------------------------
    def case_page(self, actor: User, filters: CaseFilter, cursor: str | None = None,
                  limit: int = 50) -> Page:
        """Cases matching `filters`, newest received first, `limit` at a time."""
        require(actor, "case.view")
        where, args = self._case_where(filters, self.cases.s.zone)
        if cursor:
            when, rid = decode_cursor(cursor, 2)
            where.append(f"({_WHEN} < ? OR ({_WHEN} = ? AND id < ?))")
            args += [when, when, rid]
        rows = self.kb.db.execute(
            f"SELECT id, {_WHEN} FROM cases WHERE {' AND '.join(where) or '1=1'} "
            f"ORDER BY {_WHEN} DESC, id DESC LIMIT ?", [*args, _limit(limit) + 1]).fetchall()
        items = [self.cases.get(r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor([rows[limit - 1][1] or "", rows[limit - 1][0]])
                    if more else None)

    def find_cases(self, actor: User, text: str = "", offset: int = 0,
                   limit: int = 20) -> Found:
        """Cases whose number, customer, title or description contain every word of
        `text` (any script; Latin letters in any case), newest received first, a case
        whose number is `text` itself first of all; `limit` of them from `offset`.
        An empty `text` finds every case."""
        require(actor, "case.view")
        if offset < 0:
            raise BadInput("offset is 0 or more", "bad_offset")
        where, args = [], []
        for word in text.split():
            like = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
            where.append("(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in
                                           ("id", "customer", "title", "text")) + ")")
            args += [like] * 4
        cond = " AND ".join(where) or "1=1"
        total = self.kb.db.execute(f"SELECT COUNT(*) FROM cases WHERE {cond}", args).fetchone()[0]
        rows = self.kb.db.execute(
            f"SELECT id FROM cases WHERE {cond} ORDER BY id = ? DESC, {_WHEN} DESC, id DESC "
            "LIMIT ? OFFSET ?", [*args, text.strip(), _limit(limit), offset]).fetchall()
        return Found([self.cases.get(r[0]) for r in rows], int(total))

    def queue(self, actor: User, view: str, states: tuple[str, ...] = (),
              levels: tuple[str, ...] = (), deadlines: tuple[str, ...] = (),
              offset: int = 0, limit: int = 20, now: datetime | None = None,
              work: str = "") -> Found:
        """One page of a work queue: `view` "mine" (assigned to the actor), "escalated"
        (escalated to them), "opened" (taken in by them), "team" (their team's; none
        without a team) or "all"; in any of `states`, of any of the severities `levels`
        and deadline statuses `deadlines` (Cases.deadline_status; empty: any), of the
        kind of work `work` (service.cases.WORK_TYPES; empty: any).  Overdue
        first, then at risk, then the rest, each newest received first.  Only the page's
        cases are read whole."""
        require(actor, "case.view")
        if view not in QUEUE_VIEWS:
            raise BadInput(f"unknown queue view {view!r} ({', '.join(QUEUE_VIEWS)})")
        if offset < 0:
            raise BadInput("offset is 0 or more", "bad_offset")
        if view == "team" and not actor.team:
            return Found([], 0)
        who = {"mine": {"assignee": actor.username}, "escalated": {"escalated_to":
               actor.username}, "opened": {"opened_by": actor.username},
               "team": {"team": actor.team}, "all": {}}[view]
        where, args = self.cases.selection(set(states) or None, work_type=work or None,
                                           **who)
        cols = ", ".join(("id", "state", "COALESCE(NULLIF(severity, ''), priority)",
                         *DEADLINE_TIMES))
        now = now or datetime.now(UTC)
        found = []
        for row in self.kb.db.execute(f"SELECT {cols} FROM cases WHERE {where} "
                                      f"ORDER BY {NEWEST_FIRST}", args):
            status = self.cases.deadline_of(row[1], dict(zip(DEADLINE_TIMES, row[3:],
                                                             strict=True)), now)
            if (not levels or row[2] in levels) and (not deadlines or status in deadlines):
                found.append((DEADLINE_ORDER[status], row[0]))
        found.sort(key=lambda f: f[0])  # stable: newest first within each status
        page = found[offset:offset + _limit(limit)]
        return Found([self.cases.get(rid) for _, rid in page], len(found))

    @staticmethod
    def _case_where(f: CaseFilter, zone: tzinfo) -> tuple[list[str], list]:
        """SQL conditions for `f`; a time without a zone is on the clock of `zone`."""
        where: list[str] = []
        args: list = []
        bad = sorted(set(f.states) - set(STATES))
        if bad:
            raise BadInput(f"unknown case state(s) {', '.join(bad)} ({', '.join(STATES)})",
                           "bad_state", states=", ".join(bad))
        if f.states:
            where.append(f"{_STATE} IN ({','.join('?' * len(f.states))})")
            args += list(f.states)
        if f.channel:
            if f.channel not in CHANNELS:
                raise BadInput(f"unknown channel {f.channel!r} ({', '.join(CHANNELS)})")
            where.append("channel = ?")
            args.append(f.channel)
        if f.assignee:
            where.append("assignee = ?")
            args.append(f.assignee)
        for value, op in ((f.received_from, ">="), (f.received_to, "<")):
            when = parse_time(value, zone)
            if when is not None:
                where.append(f"{_WHEN} {op} ?")
                args.append(iso(when))
        return where, args

    def case(self, actor: User, case_id: str) -> Case:
        require(actor, "case.view")
        return self.cases.get(case_id)

    def timeline(self, actor: User, case_id: str) -> list[dict]:
        """The case's events, oldest first: id, at, actor, action, detail."""
        require(actor, "case.view")
        self.cases.get(case_id)  # NotFound for an unknown case
        out = []
        for ev in self.kb.events(f"case:{case_id}", limit=10_000):
            out.append({"id": ev["id"], "at": ev["at"], "actor": ev["actor"],
                        "action": ev["action"], "detail": json.loads(ev["detail"] or "{}")})
        return out

    def links(self, actor: User, case_id: str) -> list[dict]:
        """What the case is linked to: suggested, used and not-helpful fixes,
        duplicates, recurrences and the article drafted from it."""
        require(actor, "case.view")
        self.cases.get(case_id)
        return [{"target": lk["target"], "relation": lk["relation"], "at": lk["at"],
                 "actor": lk["actor"]} for lk in self.kb.links(case_id)]

    def records(self, actor: User, keys: list[str]) -> dict[str, Record]:
        """The known fixes behind these keys ("article:ID", "case:ID"), as stored, for a
        page that shows suggestions; a key no longer stored is left out."""
        require(actor, "article.view")
        return self.kb.get_many(keys)

    def checklist(self, actor: User, case_id: str) -> Checklist | None:
        """The steps of the article to walk the customer through (操作指导): the one the
        case used, else its best suggested article; None when it has neither."""
        case = self.case(actor, case_id)
        used = [lk["target"] for lk in self.kb.links(case_id) if lk["relation"] == "used"]
        suggested = [m.key for m in case.triage.matches] if case.triage else []
        key = next((k for k in used + suggested if k.startswith("article:")), None)
        record = self.kb.get_many([key]).get(key) if key else None
        if record is None:
            return None
        steps = [re.sub(r"^\d+[.、)]\s*", "", s.strip())
                 for s in re.split(r"\n+", record.fix) if s.strip()]
        return Checklist(record.id, record.title, steps)

    # -- articles ---------------------------------------------------------------------------
    def article_page(self, actor: User, state: str | None = None, cursor: str | None = None,
                     limit: int = 50) -> Page:
        """Articles (in one state, or all), most recently changed first."""
        require(actor, "article.view")
        where, args = ["1=1"], []
        if state is not None:
            if state not in ARTICLE_STATES:
                raise BadInput(f"unknown article state {state!r} "
                               f"({', '.join(ARTICLE_STATES)})", "bad_state", states=state)
            where.append("state = ?")
            args.append(state)
        if cursor:
            when, rid = decode_cursor(cursor, 2)
            where.append("(COALESCE(updated_at, '') < ? OR (COALESCE(updated_at, '') = ? "
                         "AND id < ?))")
            args += [when, when, rid]
        rows = self.kb.db.execute(
            f"SELECT id, COALESCE(updated_at, ''), seq FROM articles "
            f"WHERE {' AND '.join(where)} ORDER BY COALESCE(updated_at, '') DESC, id DESC "
            "LIMIT ?", [*args, _limit(limit) + 1]).fetchall()
        items = [self.knowledge.get(r[0]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor([rows[limit - 1][1], rows[limit - 1][0]])
                    if more else None, [int(r[2]) for r in rows[:limit]])

    def article(self, actor: User, article_id: str) -> Article:
        require(actor, "article.view")
        return self.knowledge.get(article_id)

    def versions(self, actor: User, article_id: str) -> list[dict]:
        """Every stored version of the article, oldest first."""
        require(actor, "article.view")
        return self.knowledge.versions(article_id)
