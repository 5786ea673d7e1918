"""Scheduled maintenance (定期维护, service/maintenance.py): the calendar (month ends,
February, leap years), runs that open one case per plan and due date — never early,
never twice (also when two runs race on one database, or one dies half-way), one case
for a plan overdue by several periods — pausing, role checks, and maintenance cases
kept apart from faults in the queue, the reports and what the classifiers learn."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from errors import BadInput, NotFound, PermissionDenied
from kb.store import Event
from service import auth
from service.auth import SYSTEM
from service.desk import Desk
from service.maintenance import add_months, due_now, latest_step, occurrence
from settings import load_settings
from tests.helpers import small_kb_records
from triage.learner import labelled

PASSWORD = "correct horse"


def at(day: str, clock: str = "08:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


def add_records(desk: Desk) -> None:
    """A customer with one asset (an NVR) and a second customer, as rows of the shared
    tables (their writer is another part of issue 13)."""
    db = desk.engine.kb.db
    db["customers"].insert_all([
        {"id": "C1", "name": "华南物业管理有限公司", "created_at": "2026-01-01T00:00:00Z"},
        {"id": "C2", "name": "远洋物流", "created_at": "2026-01-01T00:00:00Z"}])
    db["assets"].insert({"id": "A1", "customer_id": "C1", "product": "NVR",
                         "model": "NVR-4216", "serial": "SN-4216-01",
                         "created_at": "2026-01-01T00:00:00Z"})


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters: these tests make users, they do not test sign-in."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


def open_desk(folder: Path, **overrides: object) -> Desk:
    return Desk.open(load_settings(str(folder), model="hash:256", vector_backend="numpy",
                                   auto_tune=False, **overrides))


@pytest.fixture
def desk(folder: Path):
    d = open_desk(folder)
    d.engine.upsert(small_kb_records())
    add_records(d)
    for name, role in (("wang", "engineer"), ("boss", "manager"), ("li", "first_line")):
        d.users.add(SYSTEM, name, PASSWORD, role, team="east" if name == "wang" else "")
    yield d
    d.close()


def plan(desk: Desk, start: str = "2027-01-31", every: int = 1, unit: str = "months",
         **who: str):
    """A plan added by the manager: monthly from 31 January 2027 for asset A1, to team
    east unless `who` says otherwise."""
    if "assignee" not in who and "team" not in who:
        who["team"] = "east"
    return desk.maintenance.add(desk.users.get("boss"), "UPS 季度保养",
                                "检查电池、清洁风扇、记录负载", every, unit, start,
                                asset_id=who.pop("asset_id", "A1"), **who)


def case_count(desk: Desk) -> int:
    return desk.engine.kb.db.execute("SELECT COUNT(*) FROM cases WHERE work_type = "
                                     "'maintenance'").fetchone()[0]


# -- the calendar ------------------------------------------------------------------------------
@pytest.mark.parametrize(("day", "months", "expected"), [
    ("2027-01-31", 1, "2027-02-28"),  # February is short
    ("2028-01-31", 1, "2028-02-29"),  # ... but not in a leap year
    ("2027-01-31", 3, "2027-04-30"),
    ("2027-03-31", -1, "2027-02-28"),
    ("2026-12-15", 1, "2027-01-15"),  # over the year's end
    ("2028-02-29", 12, "2029-02-28"),
    ("2028-02-29", 48, "2032-02-29"),
    ("2027-05-31", 0, "2027-05-31"),
])
def test_adding_months(day, months, expected):
    assert add_months(date.fromisoformat(day), months) == date.fromisoformat(expected)


def test_a_schedule_on_the_31st_comes_back_to_the_31st():
    anchor = date(2027, 1, 31)
    dates = [occurrence(anchor, 1, "months", k).isoformat() for k in range(5)]
    assert dates == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    leap = [occurrence(date(2028, 2, 29), 12, "months", k).isoformat() for k in range(5)]
    assert leap == ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]
    assert occurrence(date(2027, 12, 30), 10, "days", 3) == date(2028, 1, 29)


@pytest.mark.parametrize(("day", "k"), [
    ("2027-01-30", -1), ("2027-01-31", 0), ("2027-02-27", 0), ("2027-02-28", 1),
    ("2027-03-30", 1), ("2027-03-31", 2), ("2028-01-31", 12)])
def test_the_latest_due_date_not_after_a_day(day, k):
    assert latest_step(date(2027, 1, 31), 1, "months", date.fromisoformat(day)) == k


def test_due_now_catches_up_with_one_due_date():
    from service.maintenance import Plan

    p = Plan(1, "C1", "A1", 1, "months", "2027-01-31", "2027-01-31")
    assert due_now(p, date(2027, 1, 30)) is None
    assert due_now(p, date(2027, 1, 31)) == (date(2027, 1, 31), date(2027, 2, 28), 0)
    assert due_now(p, date(2027, 6, 15)) == (date(2027, 5, 31), date(2027, 6, 30), 4)
    weekly = Plan(2, "C1", None, 7, "days", "2027-01-01", "2027-01-15")
    assert due_now(weekly, date(2027, 1, 30)) == (date(2027, 1, 29), date(2027, 2, 5), 2)


# -- runs ---------------------------------------------------------------------------------------
def test_a_due_plan_opens_one_case_on_its_day_and_not_before(desk):
    p = plan(desk, assignee="wang", team="east")
    assert desk.maintenance.run_due(SYSTEM, at("2027-01-30", "23:59")).opened == []
    report = desk.maintenance.run_due(SYSTEM, at("2027-01-31", "00:01"))
    (opened,) = report.opened
    assert (opened.plan_id, opened.due_on, opened.missed) == (p.id, "2027-01-31", 0)
    case = desk.cases.get(opened.case_id)
    assert case.title == "UPS 季度保养" and case.description.startswith("检查电池")
    f = case.fields
    assert (f["work_type"], f["customer_id"], f["asset_id"]) == ("maintenance", "C1", "A1")
    assert (f["assignee"], f["team"]) == ("wang", "east")
    assert (f["customer"], f["asset_serial"], f["asset_model"]) == (
        "华南物业管理有限公司", "SN-4216-01", "NVR-4216")
    assert case.state == "triaged" and not f["duplicate_of"] and not f["recurrence_of"]
    assert desk.maintenance.get(SYSTEM, p.id).next_due == "2027-02-28"
    # the same day again, and the day after: nothing more
    assert desk.maintenance.run_due(SYSTEM, at("2027-01-31", "18:00")).opened == []
    assert desk.maintenance.run_due(SYSTEM, at("2027-02-27")).opened == []
    (feb,) = desk.maintenance.run_due(SYSTEM, at("2027-02-28")).opened
    assert feb.due_on == "2027-02-28"
    assert desk.maintenance.get(SYSTEM, p.id).next_due == "2027-03-31"
    assert [r["due_on"] for r in desk.maintenance.cases_of(SYSTEM, p.id)] == [
        "2027-02-28", "2027-01-31"]
    runs = [e for e in desk.engine.kb.events(f"plan:{p.id}") if e["action"] == "plan:run"]
    assert [json.loads(e["detail"])["case"] for e in runs] == [opened.case_id, feb.case_id]
    assert "maintenance" in [e["action"] for e in desk.engine.kb.events(case.key)]


def test_a_plan_overdue_for_months_opens_one_case_not_a_backlog(desk):
    p = plan(desk)
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-06-15")).opened
    assert (opened.due_on, opened.missed) == ("2027-05-31", 4)
    assert case_count(desk) == 1
    assert desk.maintenance.get(SYSTEM, p.id).next_due == "2027-06-30"


def test_due_dates_are_days_on_the_teams_clock(desk, folder):
    plan(desk, start="2027-03-01")
    shanghai = open_desk(folder, timezone="Asia/Shanghai")
    try:
        # 2027-02-28 17:00 UTC is already 1 March in Shanghai
        assert desk.maintenance.run_due(SYSTEM, at("2027-02-28", "17:00")).opened == []
        assert len(shanghai.maintenance.run_due(SYSTEM, at("2027-02-28", "17:00")).opened) == 1
    finally:
        shanghai.close()


def test_a_plans_user_who_can_no_longer_take_the_work_leaves_the_case_to_the_team(desk):
    plan(desk, assignee="wang", team="east")
    desk.users.update(SYSTEM, "wang", active=False)
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-01-31")).opened
    case = desk.cases.get(opened.case_id)
    assert opened.assignee == "" and not case.fields["assignee"]
    assert case.fields["team"] == "east"


def test_pausing_stops_a_plan_and_resuming_catches_up_once(desk):
    boss = desk.users.get("boss")
    p = plan(desk)
    assert not desk.maintenance.set_active(boss, p.id, False).active
    assert desk.maintenance.run_due(SYSTEM, at("2027-03-15")).opened == []
    assert desk.maintenance.list(SYSTEM, include_paused=False) == []
    desk.maintenance.set_active(boss, p.id, True)
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-03-15")).opened
    assert (opened.due_on, opened.missed) == ("2027-02-28", 1)
    actions = [e["action"] for e in desk.engine.kb.events(f"plan:{p.id}")]
    assert actions == ["plan:add", "plan:pause", "plan:resume", "plan:run"]


def test_editing_a_plan_restarts_its_schedule_from_the_next_due_date(desk):
    boss = desk.users.get("boss")
    p = plan(desk)
    changed = desk.maintenance.edit(boss, p.id, every=14, unit="days", next_due="2027-02-10",
                                    team="east")
    assert (changed.every, changed.unit, changed.anchor, changed.next_due, changed.team) == (
        14, "days", "2027-02-10", "2027-02-10", "east")
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-02-25")).opened
    assert (opened.due_on, opened.missed) == ("2027-02-24", 1)
    assert desk.maintenance.get(SYSTEM, p.id).next_due == "2027-03-10"
    (event,) = [e for e in desk.engine.kb.events(f"plan:{p.id}") if e["action"] == "plan:edit"]
    assert json.loads(event["detail"])["changed"]["every"] == [1, 14]
    assert desk.maintenance.edit(boss, p.id) == desk.maintenance.get(SYSTEM, p.id)


# -- never two cases for one plan and due date ---------------------------------------------------
def race(desks: list[Desk], monkeypatch: pytest.MonkeyPatch, now: datetime) -> list:
    """run_due on each desk at once, each in its own thread; every run has read the due
    plans before any opens its case (a barrier in front of Cases.open)."""
    both_read = threading.Barrier(len(desks), timeout=30)
    for d in desks:
        def open_after_both_read(*args, real=d.cases.open, **kwargs):
            both_read.wait()
            return real(*args, **kwargs)

        monkeypatch.setattr(d.cases, "open", open_after_both_read)
    reports: list = []
    threads = [threading.Thread(target=lambda d=d: reports.append(
        d.maintenance.run_due(SYSTEM, now))) for d in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return reports


def test_two_runs_racing_in_threads_open_exactly_one_case(desk, monkeypatch):
    """The key written in the case's transaction lets only one of two racing runs
    through; the other sees the due date served and opens nothing."""
    p = plan(desk)
    reports = race([desk, desk], monkeypatch, at("2027-01-31"))
    assert sorted((len(r.opened), r.skipped, len(r.errors)) for r in reports) == [
        (0, 1, 0), (1, 0, 0)]
    assert case_count(desk) == 1
    assert len(desk.maintenance.cases_of(SYSTEM, p.id)) == 1


def test_two_desks_on_one_database_race_and_open_one_case_per_plan(desk, folder,
                                                                   monkeypatch):
    """Two Desks, each with its own engine and connections on the one SQLite file, as
    two processes (serve and a cron run-due) have them."""
    plan(desk)
    plan(desk, start="2027-01-15", every=10, unit="days", asset_id="", customer_id="C2")
    other = open_desk(folder)
    try:
        reports = race([desk, other], monkeypatch, at("2027-02-01"))
    finally:
        other.close()
    opened = [o for r in reports for o in r.opened]
    assert sorted(o.due_on for o in opened) == ["2027-01-25", "2027-01-31"]
    assert sum(r.skipped for r in reports) == 2 and not any(r.errors for r in reports)
    assert case_count(desk) == 2


def test_a_run_that_dies_half_way_leaves_nothing_and_the_next_run_opens_the_case(desk):
    """A failure at the last write of the case's transaction (the plan's run event)
    takes back the case, the run's key and the plan's move; the next run does it all."""
    p = plan(desk)

    def die(event: Event) -> None:
        if event.action == "plan:run":
            raise KeyboardInterrupt  # what a kill would cut short

    desk.engine.kb.on_log("test-die", die)
    before = desk.engine.kb.counts()["case"]
    with pytest.raises(KeyboardInterrupt):
        desk.maintenance.run_due(SYSTEM, at("2027-01-31"))
    desk.engine.kb.on_log("test-die", None)
    assert desk.engine.kb.counts()["case"] == before
    assert desk.maintenance.cases_of(SYSTEM, p.id) == []
    assert desk.maintenance.get(SYSTEM, p.id).next_due == "2027-01-31"
    assert len(desk.maintenance.run_due(SYSTEM, at("2027-01-31")).opened) == 1
    assert case_count(desk) == 1


# -- who may plan, and what a plan must say -------------------------------------------------------
@pytest.mark.parametrize("name", ["wang", "li"])
def test_managers_plan_everyone_may_look(desk, name):
    p = plan(desk, team="east")
    who = desk.users.get(name)
    with pytest.raises(PermissionDenied):
        desk.maintenance.add(who, "保养", "检查", 1, "months", "2027-01-01",
                             customer_id="C1", team="east")
    with pytest.raises(PermissionDenied):
        desk.maintenance.set_active(who, p.id, False)
    with pytest.raises(PermissionDenied):
        desk.maintenance.edit(who, p.id, title="x")
    with pytest.raises(PermissionDenied):
        desk.maintenance.run_due(who, at("2027-01-31"))
    assert [q.id for q in desk.maintenance.list(who)] == [p.id]
    assert case_count(desk) == 0 and desk.maintenance.get(who, p.id).active


@pytest.mark.parametrize(("changes", "key"), [
    ({"every": 0}, "plan_every"), ({"every": 121}, "plan_every"),
    ({"unit": "weeks"}, "plan_unit"), ({"start": "2027-02-30"}, "plan_date"),
    ({"asset_id": "", "customer_id": ""}, "plan_whom"),
    ({"asset_id": "A1", "customer_id": "C2"}, "plan_asset_customer"),
    ({"assignee": "li"}, "assignee_role"), ({"assignee": "nobody"}, "assignee_unknown"),
    ({"title": " "}, "plan_what"), ({"work": ""}, "plan_what"), ({"team": " "}, "plan_who"),
])
def test_a_plan_that_cannot_work_is_refused(desk, changes, key):
    args = {"title": "保养", "work": "检查", "every": 1, "unit": "months",
            "start": "2027-01-31", "asset_id": "A1", "team": "east", **changes}
    with pytest.raises(BadInput) as refused:
        desk.maintenance.add(desk.users.get("boss"), **args)
    assert refused.value.key == key
    assert desk.maintenance.list(SYSTEM) == []


def test_unknown_plans_and_records_are_not_found(desk):
    with pytest.raises(NotFound):
        desk.maintenance.get(SYSTEM, 99)
    with pytest.raises(NotFound):
        plan(desk, asset_id="A404", team="east")


# -- maintenance apart from faults --------------------------------------------------------------
def test_the_queue_filters_by_kind_of_work(desk):
    plan(desk, team="east")
    fault = desk.cases.open(SYSTEM, "NVR提示硬盘错误，3号通道查不到录像", channel="phone")
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-01-31")).opened
    boss = desk.users.get("boss")
    ids = {w: [c.id for c in desk.queries.queue(boss, "all", work=w).items]
           for w in ("", "fault", "maintenance")}
    assert ids["maintenance"] == [opened.case_id]
    assert fault.id in ids["fault"] and opened.case_id not in ids["fault"]
    assert {fault.id, opened.case_id} <= set(ids[""])
    assert len(ids[""]) == len(ids["fault"]) + 1
    with pytest.raises(BadInput) as bad:
        desk.queries.queue(boss, "all", work="repair")
    assert bad.value.key == "work_type"


def test_reports_count_maintenance_apart_from_faults(desk):
    plan(desk, team="east")
    desk.cases.open(SYSTEM, "NVR提示硬盘错误，3号通道查不到录像", channel="phone")
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-01-31")).opened
    desk.cases.resolve(desk.users.get("wang"), opened.case_id, "已完成保养")
    today = datetime.now(UTC).date()
    lo, hi = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    boss = desk.users.get("boss")
    data = desk.reports.aggregates(boss, lo, hi)
    assert data["period"]["cases"] == 1
    assert data["volume"]["by_channel"] == {"phone": 1}
    assert data["maintenance"] == {"cases": 1, "done": 1, "open": 0,
                                   "by_state": {"resolved": 1}}
    weeks = data["weekly"]
    assert sum(w["opened"] for w in weeks) == 1 and sum(w["resolved"] for w in weeks) == 0
    assert sum(w["maintenance"] for w in weeks) == 1
    rows = desk.reports.work_report(boss, lo, hi)
    assert sorted(r.work for r in rows) == ["fault", "maintenance"]
    from service.work_report import WorkFilter

    (only,) = desk.reports.work_report(boss, lo, hi, WorkFilter(work="maintenance"))
    assert only.case == opened.case_id
    with pytest.raises(BadInput):
        desk.reports.work_report(boss, lo, hi, WorkFilter(work="repair"))


def test_a_maintenance_case_teaches_the_classifiers_nothing(desk):
    plan(desk, team="east")
    (opened,) = desk.maintenance.run_due(SYSTEM, at("2027-01-31")).opened
    kb = desk.engine.kb
    version = kb.label_version
    desk.cases.resolve(desk.users.get("wang"), opened.case_id, "已完成保养",
                       labels={"category": "storage"}, severity="low")
    desk.cases.close(desk.users.get("wang"), opened.case_id)
    assert kb.label_version == version
    assert desk.cases.get(opened.case_id).labels == {"category": "storage"}
    desk.engine.refresh()
    records, _vectors = labelled(kb, desk.engine._index)
    keys = {r.key for r in records}
    assert f"case:{opened.case_id}" not in keys and "case:C1" in keys


def test_the_background_thread_opens_due_cases_by_itself_once(desk):
    """What `knownfix serve` starts: passes every `interval` seconds; a plan due today
    gets its case from the first pass and no second one from the passes after."""
    plan(desk, start=datetime.now(UTC).astimezone(desk.engine.settings.zone).date().isoformat())
    thread = desk.maintenance.start(interval=0.05)
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while case_count(desk) == 0 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        threading.Event().wait(0.3)  # several more passes
    finally:
        desk.maintenance.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert case_count(desk) == 1
