"""The maintenance plans page (定期维护) through AppTest: a manager adds a plan with the
date picker and the person picker, sees it listed with its next due date, changes,
pauses and resumes it; mistakes read as errors in the user's language; the queue tells
maintenance from faults and filters by it, and the reports count it apart."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.auth import SYSTEM
from tests.ui.conftest import page_path
from tests.ui.test_pages import button, healthy, msg


@pytest.fixture
def records(ui_desk):
    db = ui_desk.engine.kb.db
    db["customers"].insert({"id": "C9", "name": "华南物业管理有限公司"})
    db["assets"].insert({"id": "A9", "customer_id": "C9", "model": "UPS-3000",
                         "serial": "SN-UPS-9"})
    return ui_desk


def plans_page(open_app, lang: str = "zh"):
    at = open_app("manager", lang)
    at.switch_page(page_path("plans")).run()
    healthy(at, "plans page")
    return at


def table(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def add_plan(at, lang: str = "zh", start: date | None = date(2027, 1, 31), who: str = "engineer"):
    at.text_input(key="pa_asset").input("A9")
    at.text_input(key="pa_title").input("UPS 季度保养")
    at.text_area(key="pa_work").input("检查电池、清洁风扇")
    at.number_input(key="pa_every").set_value(3)
    at.selectbox(key="pa_unit").select("months")
    if start:
        at.date_input(key="pa_start").set_value(start)
    if who:
        at.selectbox(key="pa_assignee").select(who)
    return button(at, msg("plans.add_submit", lang)).click().run()


def test_a_manager_adds_a_plan_and_sees_it_with_its_next_due_date(open_app, records):
    at = plans_page(open_app)
    assert msg("plans.none", "zh") in [i.value for i in at.info]
    at = add_plan(at)
    healthy(at, "added")
    assert [s.value for s in at.success] == [msg("plans.added", "zh", id=1)]
    (row,) = table(at)
    engineer = records.users.get("engineer").display_name
    assert row[msg("plans.next_due", "zh")] == "2027年01月31日"
    assert row[msg("plans.every", "zh")] == "每 3 个月"
    assert row[msg("plans.state", "zh")] == msg("plans.active", "zh")
    assert row[msg("plans.for", "zh")] == "华南物业管理有限公司 · UPS-3000 SN-UPS-9"
    assert row[msg("plans.who", "zh")] == engineer
    (plan,) = records.maintenance.list(SYSTEM)
    assert (plan.asset_id, plan.customer_id, plan.assignee) == ("A9", "C9", "engineer")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_mistakes_are_said_in_the_users_language(open_app, records, lang):
    at = add_plan(plans_page(open_app, lang), lang, start=None)
    assert [e.value for e in at.error] == [msg("err.plan_date", lang, value="")]
    at = add_plan(plans_page(open_app, lang), lang, who="")
    assert [e.value for e in at.error] == [msg("err.plan_who", lang)]
    assert records.maintenance.list(SYSTEM) == []


def test_a_plan_is_changed_paused_and_resumed(open_app, records):
    plan = records.maintenance.add(SYSTEM, "UPS 保养", "检查电池", 1, "months", "2027-01-31",
                                   asset_id="A9", team="east")
    at = plans_page(open_app, "en")
    at.number_input(key=f"pe_{plan.id}_every").set_value(6)
    at.date_input(key=f"pe_{plan.id}_due").set_value(date(2027, 3, 31))
    at = button(at, msg("plans.save", "en")).click().run()
    healthy(at, "saved")
    assert [s.value for s in at.success] == [msg("plans.saved", "en", id=plan.id)]
    (row,) = table(at)
    assert row[msg("plans.every", "en")] == "every 6 months"
    assert row[msg("plans.next_due", "en")] == "31 Mar 2027"
    at = button(at, msg("plans.pause", "en")).click().run()
    assert table(at)[0][msg("plans.state", "en")] == msg("plans.paused", "en")
    assert not records.maintenance.get(SYSTEM, plan.id).active
    at = button(at, msg("plans.resume", "en")).click().run()
    healthy(at, "resumed")
    assert records.maintenance.get(SYSTEM, plan.id).active


def test_the_queue_and_the_reports_tell_maintenance_from_faults(open_app, records):
    records.maintenance.add(SYSTEM, "UPS 保养", "检查电池", 1, "months", "2027-01-31",
                            asset_id="A9", team="east")
    (opened,) = records.maintenance.run_due(SYSTEM, datetime(2027, 1, 31, 9, tzinfo=UTC)).opened
    at = open_app("manager", "en")
    at.switch_page(page_path("queue")).run()
    healthy(at, "queue")
    kind = msg("work.kind", "en")
    rows = [r for frame in at.dataframe for r in frame.value.to_dict("records")]
    by_case = {r[msg("case.number", "en")]: r[kind] for r in rows}
    assert by_case[opened.case_id] == msg("work.maintenance", "en")
    assert msg("work.fault", "en") in by_case.values()
    at.selectbox(key="queue_work").select("maintenance").run()
    healthy(at, "filtered")
    shown = {r[msg("case.number", "en")] for frame in at.dataframe
             for r in frame.value.to_dict("records")}
    assert shown == {opened.case_id}

    at.session_state["case_id"] = opened.case_id
    at.switch_page(page_path("case")).run()
    healthy(at, "case")
    facts = at.table[0].value
    kinds = [v for k, v in zip(facts.iloc[:, 0], facts.iloc[:, 1], strict=True) if k == kind]
    assert kinds == [msg("work.maintenance", "en")]

    at.switch_page(page_path("reports")).run()
    healthy(at, "reports")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[msg("rep.maintenance", "en")] == "1"
