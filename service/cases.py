"""The service loop for cases, from intake to close (seed: 业务受理 → 结案).

Every action checks the actor's role, enforces the state machine, writes one atomic
change with its event, and keeps the index current.  The app, the CLI and the mail
gateway all call these methods.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo

from errors import BadInput, InvalidTransition, NotFound, UnknownLabel
from kb.records import Record
from kb.store import now_utc
from service.auth import PERMISSIONS, User, Users, require
from service.customers import Customers
from service.engine import Engine, OnEngine
from settings import PROJECT_CODE
from triage.stored import StoredTriage, case_labels

STATES = ("new", "triaged", "in_progress", "escalated", "resolved", "confirmed", "closed")
OPEN_STATES = frozenset({"new", "triaged", "in_progress", "escalated"})
NEWEST_FIRST = "COALESCE(received_at, created_at) DESC"  # cases listed: the order
DEADLINE_TIMES = ("received_at", "first_response_at", "due_response", "due_resolution")
DONE_STATES = frozenset({"resolved", "confirmed", "closed"})
_WORKING = frozenset({"triaged", "in_progress", "escalated"})


@dataclass(frozen=True)
class Step:
    """One action of the case workflow: the permission it needs, the states a case may be
    in for it, and the state it leaves the case in (None: the state does not change)."""

    permission: str
    states: frozenset[str]
    to: str | None = None


# The one state machine every case action is checked against (and `allowed_actions`
# reads).  Intake and triage move new -> triaged by themselves.  A resolved, confirmed
# or closed case goes back to work only through `reopen`, which needs a reason.
TRANSITIONS: dict[str, Step] = {
    "start": Step("case.update", frozenset({"triaged", "escalated"}), "in_progress"),
    "escalate": Step("case.escalate", _WORKING, "escalated"),
    "resolve": Step("case.resolve", _WORKING, "resolved"),
    "confirm": Step("case.confirm", frozenset({"resolved"}), "confirmed"),
    "close": Step("case.close", frozenset({"resolved", "confirmed"}), "closed"),
    "reopen": Step("case.reopen", DONE_STATES, "in_progress"),
    "dispatch": Step("case.dispatch", OPEN_STATES),
    # written on site, or just after the fix before the customer confirms it
    "service_record": Step("case.service_record", OPEN_STATES | {"resolved"}),
    "delay": Step("case.delay", OPEN_STATES),
    "link": Step("case.link", OPEN_STATES),
    "update": Step("case.update", frozenset(STATES) - {"closed"}),
    "follow_up": Step("case.follow_up", DONE_STATES),
}
CASE_NUMBER = re.compile(r"([A-Z][A-Z0-9]{0,15})-(\d{8})-([1-9]\d*)")
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones differ; more ahead is a mistake


def allowed_actions(case: Case, user: User) -> tuple[str, ...]:
    """The actions of TRANSITIONS `user` may take on `case` now: its state allows them
    and the user's role holds their permission (for the app's buttons)."""
    return tuple(name for name, step in TRANSITIONS.items()
                 if case.state in step.states and user.role in PERMISSIONS[step.permission])


def _refusal(case: Case, action: str) -> InvalidTransition:
    """Why `action` cannot be taken on `case` in its state, as a keyed error."""
    step, cid, state = TRANSITIONS[action], case.id, case.state
    if state in DONE_STATES and step.states & OPEN_STATES:
        return InvalidTransition(f"{cid} is {state}; reopen it (with a reason) before "
                                 f"{action}", "case_reopen_first", id=cid, state=state,
                                 action=action)
    if action == "follow_up":
        return InvalidTransition(f"{cid} is still open; follow up after resolving it",
                                 "followup_open", id=cid)
    if step.to:
        return InvalidTransition(f"{cid} is {state}; it cannot go to {step.to}", "case_move",
                                 id=cid, state=state, to=step.to)
    return InvalidTransition(f"{cid} is {state}; {action} is not possible now", "case_action",
                             id=cid, state=state, action=action)


def project_code(text: str) -> str:
    """A project code as case numbers use it (upper case), or BadInput."""
    code = text.strip().upper()
    if not PROJECT_CODE.fullmatch(code):
        raise BadInput(f"bad project code {text!r}: a letter, then letters or digits, at most "
                       "16 (no space or hyphen), e.g. KF", "project_code", code=text)
    return code


def _bad_case_number(text: str) -> str | None:
    """Why `text` is not a case number PROJECT-YYYYMMDD-N, or None if it is one."""
    m = CASE_NUMBER.fullmatch(text)
    if not m:
        return "case numbers are PROJECT-YYYYMMDD-N, e.g. KF-20261202-1"
    try:
        datetime.strptime(m[2], "%Y%m%d")
    except ValueError:
        return f"{m[2]} is not a date (PROJECT-YYYYMMDD-N)"
    return None


CHANNELS = ("phone", "email", "web", "onsite")
DELAY_REASONS = {
    "A": "technician took the case but has not served it",
    "B": "staff or materials short",
    "C": "customer's own reasons",
    "D": "other",
}
INTAKE_FIELDS = ("channel", "customer", "contact", "asset_model", "asset_serial", "product",
                 "received_at", "last_service_at", "team",
                 "customer_id", "asset_id",  # the customer and asset records (issue 13)
                 "lang")  # the customer's language (zh, en): a web request's, for their mail
# what a follow-up call found (客服回访): solved, solved but the customer is unhappy,
# the problem came back (the case is reopened), the customer could not be reached
FOLLOW_UP_OUTCOMES = ("solved", "unhappy", "came_back", "unreachable")
JSON_COLUMNS = ("escalation", "delay", "dispatch", "service_record", "follow_up")
# the kinds of work a case is (column work_type): a fault the customer reports, or
# scheduled maintenance (定期维护) a plan opened (service/maintenance.py); a case with no
# work type is a fault
WORK_TYPES = ("fault", "maintenance")
# how a customer's confirmation or follow-up answer came: the customer's own answer
# page (service/customer_links.py), or an agent recording what was said on the phone
ANSWER_SOURCES = ("link", "phone")


def _source(source: str) -> str:
    if source not in ANSWER_SOURCES:
        raise BadInput(f"unknown answer source {source!r} ({', '.join(ANSWER_SOURCES)})",
                       "answer_source", source=source)
    return source


def parse_time(value: str | None, zone: tzinfo = UTC) -> datetime | None:
    """A time as people and other systems write it: ISO-8601 with a zone or Z
    ("2026-12-01T01:00:00Z"), or without one, date and time or date alone
    ("2026-12-01 09:00", "2026-12-01T09:00", "2026-12-01": midnight), read on the clock
    of `zone` (the configured zone, Settings.zone; UTC by default).  None when empty;
    BadInput (one line) when it is no time."""
    if not value:
        return None
    text = value.strip()
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(f"not a time: {value!r} (use 2026-12-01 09:00, 2026-12-01 or "
                       "ISO-8601 such as 2026-12-01T01:00:00Z)", "bad_time",
                       value=value) from None
    return t if t.tzinfo else t.replace(tzinfo=zone)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_now() -> datetime:
    """Now, from the one clock every stamp of a case comes from (`kb.store.now_utc`)."""
    return datetime.fromisoformat(now_utc().replace("Z", "+00:00"))


def past_time(value: str | None, name: str, allow_future: bool = False,
              zone: tzinfo = UTC) -> datetime | None:
    """An intake time (received, last service) as parse_time reads it (a time without a
    zone on the clock of `zone`), refused when it is more than a day ahead of now unless
    `allow_future` (a typo in the year, a clock set wrong).  The day of slack covers
    time zones and clocks a little off."""
    t = parse_time(value, zone)
    if t is not None and not allow_future and t > datetime.now(UTC) + FUTURE_SLACK:
        raise BadInput(f"{name} {value} is more than a day in the future (allow it "
                       "explicitly if it is right)", "time_future", field=name, value=value)
    return t


def work_condition(work_type: str) -> str:
    """SQL over table `cases`: the case is of `work_type` (WORK_TYPES; a case without a
    work type is a fault); BadInput for any other."""
    if work_type not in WORK_TYPES:
        raise BadInput(f"unknown kind of work {work_type!r} ({', '.join(WORK_TYPES)})",
                       "work_type", work=work_type, works=", ".join(WORK_TYPES))
    return ("work_type = 'maintenance'" if work_type == "maintenance"
            else "COALESCE(work_type, 'fault') = 'fault'")


def _confirmation(checked: dict) -> dict:
    """The event detail of a confirmation: each confirmed field's prediction and settled
    value, and which were corrected (reports count these per field and week)."""
    if not checked:
        return {}
    return {"confirmed": checked,
            "corrected": sorted(n for n, c in checked.items()
                                if c["predicted"] and c["predicted"] != c["value"])}


@dataclass
class Case:
    """Everything about one case, as stored."""

    id: str
    state: str
    title: str
    description: str
    fix: str
    labels: dict[str, str]
    severity: str | None
    priority: str | None
    fields: dict = field(default_factory=dict)
    triage: StoredTriage | None = None  # the latest triage, None if never triaged

    @property
    def key(self) -> str:
        return f"case:{self.id}"

    @property
    def predicted(self) -> dict[str, str]:
        """The label values triage predicted (not confirmed: they teach nothing)."""
        return self.triage.predicted if self.triage else {}

    @property
    def all_labels(self) -> dict[str, str]:
        """Confirmed labels, and triage's prediction where none was confirmed
        (triage/stored.py)."""
        return case_labels(self.labels, self.triage)


@dataclass(frozen=True)
class Closed:
    """A closed case and the article drafted from it (None when it was resolved with an
    existing article or has no fix)."""

    case: Case
    article_id: str | None


class Cases(OnEngine):
    """Intake, triage, escalation, dispatch, resolution, confirmation, follow-up, close."""

    def __init__(self, engine: Engine, users: Users | None = None) -> None:
        """`users`: the user table work is handed to (escalation, dispatch); the Desk
        passes its own."""
        super().__init__(engine)
        self.users = users or Users(engine.kb)
        self.records = Customers(engine)  # the customer and asset records cases point at
        # drafts an article from a closed case and returns its id (the Desk sets
        # Knowledge.draft_from_case); None: closing drafts nothing
        self.drafter: Callable[[User, Case], str | None] | None = None
        # sends a closing case's charges to finance inside the close's own transaction
        # (the Desk sets Charges.bill_on_close); None: closing bills nothing
        self.biller: Callable[[User, str], object] | None = None

    # -- reading -----------------------------------------------------------------------------
    def get(self, case_id: str) -> Case:
        """The case with this id.  An id that is neither a record's id (imported ids are
        kept as they were) nor a well-formed case number is refused with the form."""
        case_id = case_id.strip()
        try:
            row = self.kb.row("case", case_id)
        except NotFound:
            why = _bad_case_number(case_id)
            if why is None:
                raise
            raise NotFound(f"no case {case_id!r}: {why}", "case_number", id=case_id,
                           why=why) from None
        rec = self.kb.get("case", case_id)
        fields = {k: v for k, v in row.items()
                  if k not in ("id", "state", "title", "text", "fix", "severity", "priority")}
        for col in JSON_COLUMNS:
            fields[col] = json.loads(fields[col]) if fields.get(col) else None
        triage = StoredTriage.from_json(fields.pop("triage", None))
        return Case(id=rec.id, state=rec.state or "closed", title=rec.title,
                    description=rec.text, fix=rec.fix, labels=rec.labels,
                    severity=rec.severity, priority=row.get("priority"), fields=fields,
                    triage=triage)

    def list(self, states: set[str] | None = None, assignee: str | None = None,
             team: str | None = None, limit: int = 500, opened_by: str | None = None,
             escalated_to: str | None = None, work_type: str | None = None) -> list[Case]:
        """Cases newest received first: in any of `states`, assigned to `assignee`, of
        `team`, taken in by `opened_by` (the intake event's actor), escalated to
        `escalated_to` (the last escalation's target), of `work_type` (WORK_TYPES)."""
        where, args = self.selection(states, assignee, team, opened_by, escalated_to,
                                     work_type)
        sql = f"SELECT id FROM cases WHERE {where} ORDER BY {NEWEST_FIRST} LIMIT ?"
        return [self.get(r[0]) for r in self.kb.db.execute(sql, [*args, limit])]

    @staticmethod
    def selection(states: set[str] | None = None, assignee: str | None = None,
                  team: str | None = None, opened_by: str | None = None,
                  escalated_to: str | None = None,
                  work_type: str | None = None) -> tuple[str, list]:
        """The SQL condition on table `cases` (and its arguments) for `list`'s filters;
        BadInput for a work type not in WORK_TYPES."""
        sql, args = "1=1", []
        if work_type:
            sql += f" AND {work_condition(work_type)}"
        if opened_by:
            sql += (" AND id IN (SELECT substr(target, 6) FROM events WHERE action = "
                    "'intake' AND actor = ? AND target LIKE 'case:%')")
            args.append(opened_by)
        if escalated_to:
            sql, args = sql + " AND json_extract(escalation, '$.to') = ?", [*args, escalated_to]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += sorted(states)
        if assignee:
            sql, args = sql + " AND assignee = ?", [*args, assignee]
        if team:
            sql, args = sql + " AND team = ?", [*args, team]
        return sql, args

    # -- intake ------------------------------------------------------------------------------
    def open(self, actor: User, description: str, title: str = "",
             labels: dict[str, str] | None = None, project: str | None = None,
             allow_future: bool = False, on_open: Callable[[str], None] | None = None,
             **intake: str) -> Case:
        """Record a new request, number it, triage it and check for recurrence/duplicates.
        `project` (default: setting project_code) must be a project code (PROJECT_CODE);
        received and last-service times more than a day ahead are refused unless
        `allow_future`.  `on_open` is called with the new case's id inside the
        transaction that writes it (before triage): what it writes lands with the case
        or not at all, and if it raises, no case is opened."""
        require(actor, "case.open")
        if not description.strip():
            raise BadInput("the fault description is empty", "empty_description")
        unknown = set(intake) - set(INTAKE_FIELDS)
        if unknown:
            raise BadInput(f"unknown intake field(s): {', '.join(sorted(unknown))}")
        if intake.get("channel") and intake["channel"] not in CHANNELS:
            raise BadInput(f"unknown channel {intake['channel']!r} ({', '.join(CHANNELS)})")
        if intake.get("lang") and intake["lang"] not in ("zh", "en"):
            raise BadInput(f"unknown language {intake['lang']!r} (zh, en)")
        self._check_labels(labels or {})
        zone = self.s.zone  # a time typed without a zone is on the team's clock
        received = past_time(intake.get("received_at"), "received_at", allow_future,
                             zone) or clock_now()
        last = past_time(intake.get("last_service_at"), "last_service_at", allow_future, zone)
        intake = self._on_records(intake, fill=True)
        served = iso(last) if last else (self.records.last_service(intake["asset_id"])
                                         if intake.get("asset_id") else None)
        intake = {**intake, "last_service_at": served}
        project = project_code(project or self.s.project_code)
        with self.kb.transaction():
            case_id = self._next_number(project, received)
            self.kb.upsert([Record(kind="case", id=case_id, title=title.strip(),
                                   text=description.strip(), labels=labels or {},
                                   state="new")], actor.username)
            self.kb.update("case", case_id, {
                "project": project, **{k: v for k, v in intake.items() if v},
                "received_at": iso(received)}, actor.username, "intake",
                {"channel": intake.get("channel")})
            if on_open is not None:
                on_open(case_id)
        return self._triage(actor, case_id, first=True)

    def _on_records(self, intake: dict, fill: bool) -> dict:
        """The intake with its customer and asset records checked (a merged record: the
        one it went into) and the asset's customer taken when none is named.  With
        `fill` (at intake), an `asset_serial` of a known asset names that asset, and the
        asset fills the customer, product, model and serial left empty."""
        out = dict(intake)
        if out.get("customer_id"):
            out["customer_id"] = self.records.customer(out["customer_id"]).id
        asset = None
        if out.get("asset_id"):
            asset = self.records.asset(out["asset_id"])
        elif fill and (out.get("asset_serial") or "").strip():
            asset = self.records.find_asset(out["asset_serial"])
        if asset is None:
            return out
        if out.get("customer_id") and asset.customer_id not in (None, out["customer_id"]):
            raise BadInput(f"asset {asset.id} belongs to customer {asset.customer_id}, not "
                           f"{out['customer_id']}", "intake_asset_customer", asset=asset.id,
                           customer=out["customer_id"])
        out["asset_id"] = asset.id
        out["customer_id"] = out.get("customer_id") or asset.customer_id
        if fill:
            given = {"product": asset.product, "asset_model": asset.model,
                     "asset_serial": asset.serial}
            if out["customer_id"]:
                given["customer"] = self.records.customer(out["customer_id"]).name
            out |= {k: v for k, v in given.items() if v and not (out.get(k) or "").strip()}
        return out

    def _next_number(self, project: str, day: datetime) -> str:
        """PROJECT-YYYYMMDD-N, N counting that project's cases that day (the day on the
        clock of the `timezone` setting). Called inside a write transaction, so two
        writers can never get the same number."""
        prefix = f"{project}-{day.astimezone(self.s.zone):%Y%m%d}-"
        rows = self.kb.db.execute("SELECT id FROM cases WHERE id LIKE ?", [prefix + "%"])
        used = [int(r[0][len(prefix):]) for r in rows if r[0][len(prefix):].isdigit()]
        return f"{prefix}{max(used, default=0) + 1}"

    def _check_labels(self, labels: dict[str, str]) -> None:
        known = set(self.kb.label_fields())
        bad = [f for f in labels if known and f not in known]
        if bad:
            raise UnknownLabel(f"unknown label field(s): {', '.join(bad)} "
                               f"(known: {', '.join(sorted(known))})")

    def update(self, actor: User, case_id: str, description: str | None = None,
               title: str | None = None, labels: dict[str, str] | None = None,
               allow_future: bool = False, **intake: str) -> Case:
        """Change intake fields; a changed description is triaged again.  Times are
        checked as at intake (`allow_future`)."""
        case = self._begin(actor, case_id, "update")
        unknown = set(intake) - set(INTAKE_FIELDS)
        if unknown:
            raise BadInput(f"unknown intake field(s): {', '.join(sorted(unknown))}")
        changes: dict = self._on_records({k: v for k, v in intake.items() if v is not None},
                                         fill=False)
        for name in ("received_at", "last_service_at"):  # stored in UTC like at intake
            when = past_time(changes.get(name), name, allow_future, self.s.zone)
            if when is not None:
                changes[name] = iso(when)
        if changes.get("received_at"):  # deadlines follow the received time
            moved = replace(case, fields={**case.fields, "received_at": changes["received_at"]})
            changes.update(self._deadlines(moved, case.priority))
        if description is not None:
            if not description.strip():
                raise BadInput("the fault description is empty", "empty_description")
            changes["text"] = description.strip()
        if title is not None:
            changes["title"] = title.strip()
        if labels is not None:
            self._check_labels(labels)
        self.kb.update("case", case_id, changes, actor.username, "update",
                       {"fields": sorted(changes)}, labels=labels)
        if ("text" in changes and changes["text"] != case.description) or "title" in changes:
            return self._triage(actor, case_id)
        return self.get(case_id)

    # -- triage ------------------------------------------------------------------------------
    def _triage(self, actor: User, case_id: str, first: bool = False) -> Case:
        """Triage the case, store the result and the suggestions, set priority and
        deadlines, and flag recurrence and duplicates."""
        case = self.get(case_id)
        result = self.engine.triage(case.description, exclude=case.key, title=case.title,
                                    product=case.fields.get("product") or "", **case.labels)
        priority, reasons = result.severity, list(result.escalation.reasons)
        codes = list(result.escalation.codes)  # the reasons as data, one each
        # a plan's maintenance case says the same every time: no fault recurs, no
        # request is repeated
        routine = case.fields.get("work_type") == "maintenance"
        recurrence = None if routine else self._recurrence(case)
        if recurrence:
            priority = self._raise(priority)
            reasons.append(f"recurrence of {recurrence}")
            codes.append({"code": "recurrence", "case": recurrence})
        duplicate = None if routine else self._duplicate_of(case)
        stored = StoredTriage.of(result, reasons, codes, now_utc())
        changes = {"triage": stored.dumps(), "priority": priority,
                   "state": "triaged" if case.state in ("new", "triaged") else case.state}
        changes.update(self._deadlines(case, priority))
        if recurrence:
            changes["recurrence_of"] = recurrence
        if duplicate:
            changes["duplicate_of"] = duplicate
        with self.kb.transaction():
            self.kb.update("case", case_id, changes, actor.username,
                           "triage" if first else "retriage",
                           {"priority": priority, "escalate": bool(reasons)})
            # A retriage adds only links the case does not have yet (no second copy of
            # the same suggestion, recurrence-of or duplicate-of).
            already = {(lk["relation"], lk["target"]) for lk in self.kb.links(case_id, None)}
            wanted = [("suggested", m.key) for m in result.matches]
            if recurrence:
                wanted.append(("recurrence-of", f"case:{recurrence}"))
            if duplicate:
                wanted.append(("duplicate-of", f"case:{duplicate}"))
            for relation, target in wanted:
                if (relation, target) not in already:
                    self.kb.link(case_id, target, relation, actor.username)
        self.engine.refresh()
        return self.get(case_id)

    def _raise(self, level: str | None) -> str | None:
        levels = self.s.levels
        if level is None:
            return levels[len(levels) // 2]
        return levels[min(levels.index(level) + 1, len(levels) - 1)]

    def _deadlines(self, case: Case, priority: str | None) -> dict:
        hours = self.s.deadline_hours(priority)
        received = parse_time(case.fields.get("received_at"))
        if not hours or not received:
            return {}
        return {"due_response": iso(received + timedelta(hours=hours[0])),
                "due_resolution": iso(received + timedelta(hours=hours[1]))}

    def _similar(self, case: Case, threshold: float, pool: int = 50):
        """Other cases whose description scores at least `threshold` against this one."""
        # the fixed fusion of the settings, for which similar_fault and
        # duplicate_threshold are set (tuning moves only the ranking's weights)
        hits = self.engine.similar(case.description, pool, weight=self.s.fusion_weight)
        hits = [h for h in hits if h.key.startswith("case:") and h.key != case.key
                and h.score >= threshold]
        records = self.kb.get_many(h.key for h in hits)
        return [(h, records[h.key]) for h in hits if h.key in records]

    def _recurrence(self, case: Case) -> str | None:
        """An earlier case of the same equipment with a similar fault within
        `recurrence_days`: the same asset record when the case has one, else the same
        serial number as typed."""
        asset = case.fields.get("asset_id")
        serial = (case.fields.get("asset_serial") or "").strip()
        received = parse_time(case.fields.get("received_at"))
        if not (asset or serial) or not received:
            return None
        column, value = ("asset_id", asset) if asset else ("asset_serial", serial)
        since = received - timedelta(days=self.s.recurrence_days)
        for _hit, rec in self._similar(case, self.s.similar_fault):
            row = self.kb.row("case", rec.id)
            when = parse_time(row.get("received_at") or row.get("created_at"))
            if row.get(column) == value and when and since <= when <= received:
                return rec.id
        return None

    def _duplicate_of(self, case: Case) -> str | None:
        for _hit, rec in self._similar(case, self.s.duplicate_threshold):
            if rec.state in OPEN_STATES:
                return rec.id
        return None

    # -- moving through the loop ---------------------------------------------------------------
    def _begin(self, actor: User, case_id: str, action: str) -> Case:
        """The case, once the actor's role and the case's state allow `action`
        (TRANSITIONS); PermissionDenied or InvalidTransition otherwise."""
        require(actor, TRANSITIONS[action].permission)
        case = self.get(case_id)
        if case.state not in TRANSITIONS[action].states:
            raise _refusal(case, action)
        return case

    def _write(self, actor: User, case_id: str, action: str, changes: dict,
               detail: dict | None = None, labels: dict[str, str] | None = None,
               then: Callable[[User, str], object] | None = None) -> Case:
        """Check `action` against the case's state and write its changes (and the state
        it moves to) with its event, in one transaction, so a concurrent change of state
        cannot slip between the check and the write; `then(actor, case id)` writes
        what goes with it in the same transaction."""
        step = TRANSITIONS[action]
        with self.kb.transaction():
            case = self._begin(actor, case_id, action)
            if step.to:
                changes = {**changes, "state": step.to}
                detail = {"from": case.state, "to": step.to, **(detail or {})}
            self.kb.update("case", case.id, changes, actor.username, action, detail,
                           labels=labels)
            if then is not None:
                then(actor, case.id)
        self.engine.refresh()
        return self.get(case.id)

    def allowed_actions(self, case: Case, user: User) -> tuple[str, ...]:
        """See the module's `allowed_actions`."""
        return allowed_actions(case, user)

    def start(self, actor: User, case_id: str) -> Case:
        """Take the case: in progress, first response recorded."""
        case = self._begin(actor, case_id, "start")
        changes = {"assignee": case.fields.get("assignee") or actor.username}
        if not case.fields.get("first_response_at"):
            changes["first_response_at"] = now_utc()
        return self._write(actor, case.id, "start", changes)

    def escalate(self, actor: User, case_id: str, to: str, reason: str,
                 tried: list[dict] | None = None) -> Case:
        """Hand the case on with the triage packet to `to`, a user name: an active
        engineer, manager or admin (Users.assignee), who becomes its assignee."""
        require(actor, "case.escalate")
        if not to.strip() or not reason.strip():
            raise BadInput("escalation needs a target (a user name) and a reason",
                           "escalation_needs")
        case = self._begin(actor, case_id, "escalate")
        to = self.users.assignee(to, "escalate").username
        packet = {"to": to, "reason": reason, "at": now_utc(), "by": actor.username,
                  "description": case.description,
                  "triage": case.triage.to_json() if case.triage else None,
                  "tried": tried or self._tried(case_id)}
        changes = {"escalation": json.dumps(packet, ensure_ascii=False), "assignee": to}
        if not case.fields.get("first_response_at"):
            changes["first_response_at"] = now_utc()
        # the target is "assignee" in the event: "to" there is the state moved to
        return self._write(actor, case.id, "escalate", changes,
                           {"assignee": to, "reason": reason})

    def _tried(self, case_id: str) -> list[dict]:
        return [{"fix": lk["target"], "outcome": lk["relation"]}
                for lk in self.kb.links(case_id) if lk["relation"] in ("used", "not-helpful")]

    def set_delay(self, actor: User, case_id: str, code: str, note: str = "") -> Case:
        """Record why the case is delayed (A–D; D needs a note)."""
        self._begin(actor, case_id, "delay")
        code = code.strip().upper()
        if code not in DELAY_REASONS:
            raise BadInput(f"delay reason must be one of {', '.join(DELAY_REASONS)}",
                           "delay_reason", reasons=", ".join(DELAY_REASONS))
        if code == "D" and not note.strip():
            raise BadInput("delay reason D (other) needs a note", "delay_note")
        delay = {"code": code, "reason": DELAY_REASONS[code], "note": note, "at": now_utc()}
        return self._write(actor, case_id, "delay",
                           {"delay": json.dumps(delay, ensure_ascii=False)}, {"code": code})

    def dispatch(self, actor: User, case_id: str, assignee: str, planned_at: str,
                 place: str, tools: list[str] | None = None,
                 parts: list[str] | None = None) -> Case:
        """Send someone on site (派工): who (a user name: an active engineer, manager or
        admin, Users.assignee, who becomes the assignee), when, where, with which tools
        and spare parts."""
        self._begin(actor, case_id, "dispatch")
        planned = parse_time(planned_at, self.s.zone)
        if planned is None:
            raise BadInput("say when the visit is planned", "dispatch_when")
        assignee = self.users.assignee(assignee, "dispatch").username
        plan = {"assignee": assignee, "planned_at": iso(planned), "place": place,
                "tools": tools or [], "parts": parts or [], "at": now_utc()}
        return self._write(actor, case_id, "dispatch",
                           {"dispatch": json.dumps(plan, ensure_ascii=False),
                            "assignee": assignee}, {"assignee": assignee})

    def record_service(self, actor: User, case_id: str, cause: str, steps: str,
                       parts_used: list[str] | None = None, result: str = "") -> Case:
        """The on-site service record (设备服务记录单): cause, steps, result.  The parts
        used are the case's catalogue parts (service/charges.py); `parts_used`, parts
        written as free text, stays for callers and records from before the catalogue."""
        self._begin(actor, case_id, "service_record")
        record = {"cause": cause, "steps": steps, "parts_used": parts_used or [],
                  "result": result, "by": actor.username, "at": now_utc()}
        return self._write(actor, case_id, "service_record",
                           {"service_record": json.dumps(record, ensure_ascii=False)})

    def link_fix(self, actor: User, case_id: str, target: str, helpful: bool = True) -> None:
        """Mark a suggested article or past case as used, or as not helpful."""
        self._begin(actor, case_id, "link")
        kind, _, rid = target.partition(":")
        self.kb.get(kind, rid)
        self.kb.link(case_id, target, "used" if helpful else "not-helpful", actor.username)

    def resolve(self, actor: User, case_id: str, fix: str, cause: str = "",
                used: str | None = None, labels: dict[str, str] | None = None,
                severity: str | None = None, confirm: bool = False) -> Case:
        """Record the resolution.  `labels` and `severity` are the resolver's values;
        `confirm` accepts triage's prediction for every field they leave out.  Only
        confirmed or corrected values become the case's labels and teach the
        classifiers (see `predictions`); a case nobody confirmed teaches nothing, though
        its text and fix still serve search.  Open duplicates are offered its fix."""
        require(actor, "case.resolve")
        if not fix.strip():
            raise BadInput("a resolution needs the fix (what was done)", "resolution_fix")
        case = self._begin(actor, case_id, "resolve")
        if used:
            self.link_fix(actor, case_id, used)
        final, final_severity, checked = self._confirmed(case, labels, severity, confirm)
        escalated = bool(case.fields.get("escalation"))
        used_links = [lk for lk in self.kb.links(case_id) if lk["relation"] == "used"]
        changes = {"fix": fix.strip(), "resolved_at": now_utc(), "severity": final_severity,
                   "resolved_with": used or (used_links[-1]["target"] if used_links else None),
                   "first_contact": int(bool(used_links) and not escalated)}
        if cause:  # the resolver's confirmed cause (after a reopen, the one found now)
            record = case.fields.get("service_record") or {}
            record["cause"] = cause
            changes["service_record"] = json.dumps(record, ensure_ascii=False)
        if not case.fields.get("first_response_at"):
            changes["first_response_at"] = changes["resolved_at"]
        resolved = self._write(actor, case.id, "resolve", changes, _confirmation(checked),
                               labels=final)
        self._offer_to_duplicates(actor, case_id)
        return resolved

    def predictions(self, case: Case) -> dict:
        """What the resolver is asked to confirm: per label field (and "severity") the
        value to pre-fill — the case's confirmed value if it has one, else triage's
        prediction — and the prediction itself."""
        predicted, labels = case.predicted, case.all_labels
        asked = [*(case.triage.labels if case.triage else ()), *case.labels]
        out = {name: {"predicted": predicted.get(name), "value": labels.get(name)}
               for name in dict.fromkeys(asked)}
        severity = case.triage.severity if case.triage else None
        out["severity"] = {"predicted": severity, "value": case.severity or severity}
        return out

    def _confirmed(self, case: Case, labels: dict[str, str] | None, severity: str | None,
                   confirm: bool) -> tuple[dict[str, str], str | None, dict]:
        """The labels and severity to store, and per field what was predicted and what
        the resolver settled on (only fields someone confirmed or corrected)."""
        labels = {k: v.strip() for k, v in (labels or {}).items() if v and v.strip()}
        self._check_labels(labels)
        if severity:
            self.kb.check_severity(severity)
        asked = self.predictions(case)
        final = dict(case.labels)
        checked = {}
        for name, p in asked.items():
            if name == "severity":
                continue
            value = labels.get(name) or (p["value"] if confirm else None)
            if value:
                final[name] = value
                checked[name] = {"predicted": p["predicted"], "value": value}
        for name, value in labels.items():
            final[name] = value
            checked.setdefault(name, {"predicted": None, "value": value})
        sev = severity or (asked["severity"]["value"] if confirm else None) or case.severity
        if severity or (confirm and sev):
            checked["severity"] = {"predicted": asked["severity"]["predicted"], "value": sev}
        return final, sev, checked

    def _offer_to_duplicates(self, actor: User, case_id: str) -> list[str]:
        offered = []
        for lk in self.kb.links(target=f"case:{case_id}"):
            dup = lk["case_id"]
            if lk["relation"] == "duplicate-of" and self.get(dup).state in OPEN_STATES:
                self.kb.link(dup, f"case:{case_id}", "suggested", actor.username)
                self.kb.log(actor.username, "fix-offered", f"case:{dup}", {"from": case_id})
                offered.append(dup)
        return offered

    def confirm(self, actor: User, case_id: str, satisfaction: int, comment: str = "",
                source: str = "phone") -> Case:
        """The customer confirms the fix (客户确认) and rates the service 1–5.  `source`
        (ANSWER_SOURCES), in the event: an agent recorded what the customer said
        ("phone"), or the customer answered by link (service/customer_links.py)."""
        require(actor, "case.confirm")
        if not 1 <= int(satisfaction) <= 5:
            raise BadInput("satisfaction is 1 to 5", "satisfaction_range")
        return self._write(actor, case_id, "confirm",
                           {"satisfaction": int(satisfaction), "satisfaction_comment": comment,
                            "confirmed_at": now_utc()},
                           {"satisfaction": int(satisfaction), "source": _source(source)})

    def close(self, actor: User, case_id: str, labels: dict[str, str] | None = None,
              severity: str | None = None, confirm: bool = False) -> Closed:
        """Close a resolved (or confirmed) case; its unbilled charges go to finance in
        the same transaction (`biller`), and the knowledge service drafts an article
        (`drafter`), whose id comes back with the closed case.  Labels and severity not
        confirmed at resolve may be confirmed or corrected here (as in `resolve`)."""
        case = self._begin(actor, case_id, "close")
        final, sev, checked = self._confirmed(case, labels, severity, confirm)
        changes = {"closed_at": now_utc()}
        if checked:
            changes["severity"] = sev
        case = self._write(actor, case.id, "close", changes, _confirmation(checked),
                           labels=final if checked else None, then=self.biller)
        return Closed(case, self.drafter(actor, case) if self.drafter else None)

    def reopen(self, actor: User, case_id: str, reason: str,
               source: str | None = None) -> Case:
        """Put a resolved, confirmed or closed case back to work: the only way back.
        `source`: set when the customer's answer reopens it (ANSWER_SOURCES)."""
        require(actor, "case.reopen")
        if not reason.strip():
            raise BadInput("reopening needs a reason", "reopen_reason")
        detail = {"reason": reason, **({"source": _source(source)} if source else {})}
        return self._write(actor, case_id, "reopen", {"closed_at": None, "resolved_at": None},
                           detail)

    def follow_up(self, actor: User, case_id: str, outcome: str, note: str = "",
                  satisfaction: int | None = None, source: str = "phone") -> Case:
        """The follow-up (客服回访): its outcome (one of FOLLOW_UP_OUTCOMES), what the
        customer said, and their satisfaction 1–5 for a case not rated yet (a rating
        given at confirmation is not replaced).  "came_back" reopens the case.
        `source` as in `confirm`: a call ("phone") or the customer's link."""
        if outcome not in FOLLOW_UP_OUTCOMES:
            raise BadInput(f"unknown follow-up outcome {outcome!r} "
                           f"({', '.join(FOLLOW_UP_OUTCOMES)})", "followup_outcome",
                           outcome=outcome, outcomes=", ".join(FOLLOW_UP_OUTCOMES))
        came_back = outcome == "came_back"
        if came_back:  # it reopens the case: the reopen must be allowed too
            require(actor, "case.reopen")
        record = {"outcome": outcome, "came_back": came_back, "note": note.strip(),
                  "at": now_utc(), "by": actor.username}
        changes: dict = {"follow_up": json.dumps(record, ensure_ascii=False)}
        if satisfaction is not None:
            if not 1 <= int(satisfaction) <= 5:
                raise BadInput("satisfaction is 1 to 5", "satisfaction_range")
            if self.get(case_id).fields.get("satisfaction"):
                raise BadInput(f"{case_id} is already rated; the rating stays",
                               "followup_rated", id=case_id)
            changes["satisfaction"] = int(satisfaction)
        self._write(actor, case_id, "follow_up", changes,
                    {"outcome": outcome, "came_back": came_back, "note": note.strip(),
                     "satisfaction": changes.get("satisfaction"), "source": _source(source)})
        if came_back:
            return self.reopen(actor, case_id, f"problem came back: {note}".strip(), source)
        return self.get(case_id)

    # -- deadlines ------------------------------------------------------------------------------
    def deadline_status(self, case: Case, now: datetime | None = None) -> str:
        """'overdue', 'at_risk' or 'ok' against the response or resolution deadline."""
        return self.deadline_of(case.state, case.fields, now)

    def deadline_of(self, state: str, times: dict, now: datetime | None = None) -> str:
        """deadline_status of a case in `state` with these DEADLINE_TIMES (stored text)."""
        now = now or datetime.now(UTC)
        if state not in OPEN_STATES:
            return "ok"
        received = parse_time(times.get("received_at"))
        due = "due_resolution" if times.get("first_response_at") else "due_response"
        deadline = parse_time(times.get(due))
        if not received or not deadline:
            return "ok"
        if now > deadline:
            return "overdue"
        if (deadline - now) < (deadline - received) * self.s.at_risk_share:
            return "at_risk"
        return "ok"

    def attention(self, now: datetime | None = None) -> dict[str, list[Case]]:
        """Open cases that are overdue or at risk, most urgent first."""
        out: dict[str, list[Case]] = {"overdue": [], "at_risk": []}
        for case in self.list(set(OPEN_STATES)):
            status = self.deadline_status(case, now)
            if status in out:
                out[status].append(case)
        for cases in out.values():
            cases.sort(key=lambda c: c.fields.get("due_resolution") or "")
        return out

