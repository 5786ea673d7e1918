"""Scheduled maintenance (定期维护): plans that open maintenance cases on time.

A plan is for an asset (设备) or a whole customer, every N days or N months counted from
its anchor date, with a next due date, who gets the case (a user who may do on-site
work, and/or a team), a title and the work to do; it is active or paused.  Managers
and admins plan (`plan.manage`); everyone may look (`plan.view`).  Every change is an
event on `plan:ID`.

`run_due(actor, now)` opens, for each active plan whose next due date has come (on the
clock of the `timezone` setting), one maintenance case through `Cases.open` (work type
"maintenance", the plan's customer and asset, assigned by the plan's rule) and moves the
next due date past today.  A plan overdue by several periods opens one case, for the
latest due date, not a backlog.  The row of `maintenance_runs` keyed by plan and due
date is written in the case's own transaction, so no two runs — threads, processes,
or one killed half-way and run again — ever open two cases for one plan and due date.

`start()` runs `run_due` every few minutes in a daemon thread (`knownfix serve`);
`knownfix plans run-due` does one pass (for cron).
"""

from __future__ import annotations

import calendar
import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from errors import BadInput, KnownFixError, NotFound
from kb.store import now_utc
from service.auth import SYSTEM, User, Users, require
from service.cases import Cases
from service.customers import Customers
from service.engine import Engine, OnEngine

UNITS = ("days", "months")
MAX_EVERY = {"days": 3660, "months": 120}  # ten years
CHECK_SECONDS = 300.0  # how often `start`'s thread looks for due plans
WORK = "maintenance"  # the work type of the cases plans open (service.cases.WORK_TYPES)
_FIELDS = ("id", "customer_id", "asset_id", "every", "unit", "anchor", "next_due",
           "assignee", "team", "title", "work", "active")
log = logging.getLogger("knownfix.maintenance")


@dataclass(frozen=True)
class Plan:
    """One maintenance plan as stored; dates are ISO dates (YYYY-MM-DD)."""

    id: int
    customer_id: str | None
    asset_id: str | None
    every: int
    unit: str  # "days" or "months"
    anchor: str  # the date the schedule counts from
    next_due: str
    assignee: str = ""  # a user name, "" for none
    team: str = ""
    title: str = ""
    work: str = ""
    active: bool = True

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Opened:
    """A maintenance case a run opened: for which plan and due date, and how many
    earlier due dates it stands for (missed: an overdue plan catches up with one case)."""

    plan_id: int
    due_on: str
    case_id: str
    missed: int = 0
    assignee: str = ""  # who got it ("" when the plan's user can no longer take it)


@dataclass
class RunReport:
    """What one `run_due` did: the cases it opened, the plans another run had just
    served (skipped), and the plans that failed (one line each)."""

    opened: list[Opened] = field(default_factory=list)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"opened {len(self.opened)} maintenance case(s)"
                + (f", {self.skipped} already opened by another run" if self.skipped else "")
                + (f", {len(self.errors)} plan(s) failed" if self.errors else ""))


class _Taken(Exception):
    """Inside the case's transaction: the plan's due date was served meanwhile (or the
    plan paused or moved on); the case is not opened."""


# -- the calendar ----------------------------------------------------------------------------
def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months; a day the target month lacks becomes
    its last day (Jan 31 + 1 month: Feb 28, or 29 in a leap year)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def occurrence(anchor: date, every: int, unit: str, k: int) -> date:
    """The k-th due date (from 0) of a schedule: always counted from the anchor, so a
    plan on the 31st comes back to the 31st after a shorter month."""
    if unit == "months":
        return add_months(anchor, every * k)
    return anchor + timedelta(days=every * k)


def latest_step(anchor: date, every: int, unit: str, day: date) -> int:
    """The largest k whose due date is on or before `day` (-1 when `day` is before the
    anchor)."""
    if day < anchor:
        return -1
    if unit == "months":
        k = ((day.year - anchor.year) * 12 + day.month - anchor.month) // every
        return k - 1 if occurrence(anchor, every, unit, k) > day else k
    return (day - anchor).days // every


def due_now(plan: Plan, today: date) -> tuple[date, date, int] | None:
    """For a plan on `today`: (the due date to open a case for — the latest one not
    after today, the next due date after it, how many earlier due dates it stands for);
    None when nothing is due yet."""
    anchor, next_due = date.fromisoformat(plan.anchor), date.fromisoformat(plan.next_due)
    if next_due > today:
        return None
    k = latest_step(anchor, plan.every, plan.unit, today)
    first = max(latest_step(anchor, plan.every, plan.unit, next_due), 0)
    due = occurrence(anchor, plan.every, plan.unit, k)
    if due < next_due:  # a next due date off the schedule (cannot come from this module)
        due, k = next_due, first
    return due, occurrence(anchor, plan.every, plan.unit, k + 1), max(k - first, 0)


def _day(value: str | date, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise BadInput(f"{name} is not a date (YYYY-MM-DD): {str(value)[:40]!r}", "plan_date",
                       value=str(value)[:40]) from None


def _period(every: int, unit: str) -> tuple[int, str]:
    if unit not in UNITS:
        raise BadInput(f"unknown unit {unit!r} (use {' or '.join(UNITS)})", "plan_unit",
                       unit=unit)
    try:
        n = int(every)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_EVERY[unit]:
        raise BadInput(f"every is 1 to {MAX_EVERY[unit]} {unit}", "plan_every",
                       max=MAX_EVERY[unit], unit=unit)
    return n, unit


# -- the service -------------------------------------------------------------------------------
class Maintenance(OnEngine):
    """Maintenance plans: add, edit, pause, resume, list; and the runs that open cases."""

    def __init__(self, engine: Engine, cases: Cases, users: Users,
                 customers: Customers) -> None:
        super().__init__(engine)
        self.cases, self.users, self.customers = cases, users, customers
        self._stop = threading.Event()

    # -- reading ---------------------------------------------------------------------------
    def get(self, actor: User, plan_id: int) -> Plan:
        require(actor, "plan.view")
        return self._plan(plan_id)

    def list(self, actor: User, include_paused: bool = True) -> list[Plan]:
        """The plans, soonest due first (paused ones after the active ones)."""
        require(actor, "plan.view")
        where = "" if include_paused else " WHERE active = 1"
        return [_plan(r) for r in self.kb.db.execute(
            f"SELECT {', '.join(_FIELDS)} FROM maintenance_plans{where} "
            "ORDER BY active DESC, next_due, id")]

    def cases_of(self, actor: User, plan_id: int) -> list[dict]:
        """The cases a plan opened: {due_on, case_id, at}, newest first."""
        require(actor, "plan.view")
        self._plan(plan_id)
        return list(self.kb.db.query("SELECT due_on, case_id, at FROM maintenance_runs WHERE "
                                     "plan_id = ? ORDER BY due_on DESC", [plan_id]))

    def _plan(self, plan_id: int) -> Plan:
        row = self.kb.db.execute(f"SELECT {', '.join(_FIELDS)} FROM maintenance_plans "
                                 "WHERE id = ?", [int(plan_id)]).fetchone()
        if row is None:
            raise NotFound(f"no maintenance plan {plan_id}", "plan_not_found", id=plan_id)
        return _plan(row)

    # -- planning ----------------------------------------------------------------------------
    def add(self, actor: User, title: str, work: str, every: int, unit: str,
            start: str | date, asset_id: str = "", customer_id: str = "",
            assignee: str = "", team: str = "") -> Plan:
        """A new active plan, first due on `start`: for an asset (its customer's) or a
        customer; its cases go to `assignee` (a user who may do on-site work) and/or
        `team`."""
        require(actor, "plan.manage")
        every, unit = _period(every, unit)
        first = _day(start, "start")
        customer, asset = self._whom(customer_id, asset_id)
        row = {"customer_id": customer, "asset_id": asset, "every": every, "unit": unit,
               "anchor": first.isoformat(), "next_due": first.isoformat(),
               **self._who(assignee, team), **_what(title, work), "active": 1,
               "created_at": now_utc(), "created_by": actor.username,
               "updated_at": now_utc()}
        with self.kb.transaction():
            plan_id = self.kb.db["maintenance_plans"].insert(row).last_pk
            self.kb.log(actor.username, "plan:add", f"plan:{plan_id}",
                        {k: row[k] for k in ("customer_id", "asset_id", "every", "unit",
                                             "next_due", "assignee", "team")})
        return self._plan(plan_id)

    def edit(self, actor: User, plan_id: int, title: str | None = None,
             work: str | None = None, every: int | None = None, unit: str | None = None,
             next_due: str | date | None = None, assignee: str | None = None,
             team: str | None = None) -> Plan:
        """Change a plan (None: keep).  A new period or next due date restarts the
        schedule from the next due date.  One event with each changed field's old and
        new value."""
        require(actor, "plan.manage")
        with self.kb.transaction():
            before = self._plan(plan_id)
            after = replace(before, **_what(title if title is not None else before.title,
                                             work if work is not None else before.work))
            if every is not None or unit is not None:
                n, u = _period(every if every is not None else before.every,
                               unit or before.unit)
                after = replace(after, every=n, unit=u)
            if next_due is not None:
                after = replace(after, next_due=_day(next_due, "next_due").isoformat())
            if assignee is not None or team is not None:
                who = self._who(assignee if assignee is not None else before.assignee,
                                team if team is not None else before.team)
                after = replace(after, **who)
            if (after.every, after.unit, after.next_due) != (before.every, before.unit,
                                                             before.next_due):
                after = replace(after, anchor=after.next_due)
            changed = {k: [getattr(before, k), getattr(after, k)] for k in _FIELDS
                       if getattr(before, k) != getattr(after, k)}
            if changed:
                self.kb.db["maintenance_plans"].update(
                    before.id, {**{k: v[1] for k, v in changed.items()},
                                "updated_at": now_utc()})
                self.kb.log(actor.username, "plan:edit", f"plan:{before.id}",
                            {"changed": changed})
        return after

    def set_active(self, actor: User, plan_id: int, active: bool) -> Plan:
        """Pause a plan (it opens nothing until resumed) or resume it; a resumed plan
        whose due date passed meanwhile opens one case at the next run."""
        require(actor, "plan.manage")
        with self.kb.transaction():
            plan = self._plan(plan_id)
            if plan.active != active:
                self.kb.db["maintenance_plans"].update(plan.id, {"active": int(active),
                                                                 "updated_at": now_utc()})
                self.kb.log(actor.username, "plan:resume" if active else "plan:pause",
                            f"plan:{plan.id}")
        return replace(plan, active=active)

    def _whom(self, customer_id: str, asset_id: str) -> tuple[str | None, str | None]:
        """(customer id, asset id) of a plan, as records (merged duplicates followed);
        an asset's customer is the plan's.  NotFound for an unknown one."""
        customer_id, asset_id = (customer_id or "").strip(), (asset_id or "").strip()
        if not customer_id and not asset_id:
            raise BadInput("a plan is for an asset or a customer: give one", "plan_whom")
        asset = self.customers.asset(asset_id) if asset_id else None
        customer = self.customers.customer(customer_id).id if customer_id else None
        if asset is not None:
            if customer and asset.customer_id and asset.customer_id != customer:
                raise BadInput(f"asset {asset.id} belongs to customer {asset.customer_id}, "
                               f"not {customer}", "plan_asset_customer", asset=asset.id,
                               customer=customer)
            customer = customer or asset.customer_id
        return customer, asset.id if asset else None

    def _who(self, assignee: str, team: str) -> dict:
        """Who gets the cases: a user who may take on-site work (Users.assignee), a
        team, or both; BadInput for neither."""
        name, team = (assignee or "").strip(), (team or "").strip()
        if not name and not team:
            raise BadInput("say who gets the cases: a user, a team or both", "plan_who")
        if name:
            name = self.users.assignee(name, "maintenance").username
        return {"assignee": name, "team": team}

    # -- running -----------------------------------------------------------------------------
    def run_due(self, actor: User, now: datetime | None = None) -> RunReport:
        """Open the maintenance cases due at `now` (default: the clock): one per active
        plan whose next due date is today or earlier on the clock of the `timezone`
        setting.  A plan that fails (its user gone, a database error) is reported and
        the others still run."""
        require(actor, "plan.manage")
        today = (now or datetime.now(UTC)).astimezone(self.s.zone).date()
        report = RunReport()
        due = [_plan(r) for r in self.kb.db.execute(
            f"SELECT {', '.join(_FIELDS)} FROM maintenance_plans WHERE active = 1 AND "
            "next_due <= ? ORDER BY next_due, id", [today.isoformat()])]
        for plan in due:
            try:
                opened = self._run(actor, plan, today)
            except _Taken:
                report.skipped += 1
            except KnownFixError as exc:
                report.errors.append(f"plan {plan.id}: {exc}")
            else:
                if opened is not None:
                    report.opened.append(opened)
        return report

    def _run(self, actor: User, plan: Plan, today: date) -> Opened | None:
        found = due_now(plan, today)
        if found is None:
            return None
        due, following, missed = found
        assignee = self._taker(plan)
        intake = {"team": plan.team or None, **self._intake(plan)}
        opened: dict[str, str] = {}

        def claim(case_id: str) -> None:
            """Inside the case's transaction: the run's key, the plan moved on, the
            case marked as this plan's maintenance."""
            db = self.kb.db
            row = db.execute("SELECT active, next_due FROM maintenance_plans WHERE id = ?",
                             [plan.id]).fetchone()
            if row is None or not row[0] or row[1] > due.isoformat():
                raise _Taken  # paused, removed or served since it was read
            taken = db.execute("INSERT OR IGNORE INTO maintenance_runs (plan_id, due_on, "
                               "case_id, at) VALUES (?, ?, ?, ?)",
                               [plan.id, due.isoformat(), case_id, now_utc()]).rowcount
            if not taken:
                raise _Taken
            db.execute("UPDATE maintenance_plans SET next_due = ?, updated_at = ? "
                       "WHERE id = ?", [following.isoformat(), now_utc(), plan.id])
            detail = {"plan": plan.id, "due_on": due.isoformat(), "missed": missed}
            self.kb.update("case", case_id, {
                "work_type": WORK, "customer_id": plan.customer_id,
                "asset_id": plan.asset_id, "assignee": assignee or None},
                actor.username, "maintenance", {**detail, "assignee": assignee})
            self.kb.log(actor.username, "plan:run", f"plan:{plan.id}",
                        {"case": case_id, "due_on": due.isoformat(), "missed": missed,
                         "next_due": following.isoformat()})
            opened["id"] = case_id

        self.cases.open(actor, plan.work, plan.title, on_open=claim,
                        **{k: v for k, v in intake.items() if v})
        return Opened(plan.id, due.isoformat(), opened["id"], missed, assignee)

    def _taker(self, plan: Plan) -> str:
        """The plan's user if they can still take the work; else "" (the case goes to
        the plan's team, or waits in the queue, rather than not being opened)."""
        if not plan.assignee:
            return ""
        try:
            return self.users.assignee(plan.assignee, "maintenance").username
        except BadInput:
            log.warning("maintenance plan %s: %s cannot take its cases now", plan.id,
                        plan.assignee)
            return ""

    def _intake(self, plan: Plan) -> dict[str, str]:
        """The intake fields a plan's case gets from its customer and asset records."""
        out: dict[str, str] = {}
        try:
            if plan.customer_id:
                out["customer"] = self.customers.customer(plan.customer_id).name
            if plan.asset_id:
                asset = self.customers.asset(plan.asset_id)
                out.update(product=asset.product, asset_model=asset.model,
                           asset_serial=asset.serial)
        except NotFound:  # a record removed since: the ids on the case still say whose
            pass
        return out

    # -- on time, by itself ------------------------------------------------------------------
    def start(self, interval: float = CHECK_SECONDS) -> threading.Thread:
        """Run `run_due` as the system now and then every `interval` seconds in a
        daemon thread (for `knownfix serve`) until `stop()`."""
        self._stop.clear()
        thread = threading.Thread(target=self._loop, args=(interval,),
                                  name="maintenance-plans", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                # several servers on one database: one pass at a time (the plan and due
                # date key would stop a second case anyway; this saves the others the work)
                with self.kb.exclusive("maintenance") as mine:
                    report = self.run_due(SYSTEM) if mine else None
                for error in report.errors if report else ():
                    log.warning("maintenance plans: %s", error)
            except Exception as exc:  # e.g. the database busy: the next pass tries again
                log.warning("maintenance plans: %s: %s", exc.__class__.__name__, exc)
            self._stop.wait(interval)


def _plan(row: tuple) -> Plan:
    values = dict(zip(_FIELDS, row, strict=True))
    return Plan(**{**values, "assignee": values["assignee"] or "",
                   "team": values["team"] or "", "work": values["work"] or "",
                   "active": bool(values["active"])})


def _what(title: str, work: str) -> dict:
    """A plan's title and work, both needed (the case's title and description)."""
    title, work = (title or "").strip(), (work or "").strip()
    if not title or not work:
        raise BadInput("a plan needs a title and the work to do", "plan_what")
    return {"title": title, "work": work}
