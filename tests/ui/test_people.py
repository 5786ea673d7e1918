"""People, not strings (issue 12): escalation and dispatch pick from the users the service
accepts, by display name; "my cases" is assigned to me, escalated to me and taken in by
me, each a tab with its count; forms a role cannot use are not shown, and the actions
it may not take say which roles may."""

from __future__ import annotations

from datetime import date, time

import pytest

from errors import PermissionDenied
from service.auth import SYSTEM
from tests.ui.conftest import page_path
from tests.ui.test_concurrency import case_page, open_case_id
from tests.ui.test_pages import button, healthy, msg
from ui import i18n


def tab_labels(at) -> list[str]:
    return [tab.label for tab in at.tabs]


def test_escalation_picks_a_person_by_display_name(open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    at = case_page(open_app, "agent", case_id)
    picker = at.selectbox(key=f"esc_to_{case_id}")
    names = {u.username: u.display_name for u in ui_desk.users.all()}
    assert set(picker.options) == {names[u] for u in ("engineer", "manager", "admin")}
    assert names["agent"] not in picker.options  # first line hands work on
    picker.select("engineer")
    at.text_input(key=f"esc_reason_{case_id}").input("需要上门")
    button(at, msg("escalate.submit", "zh")).click().run()
    healthy(at)
    assert msg("escalate.done", "zh", to=names["engineer"]) in [s.value for s in at.success]
    assert ui_desk.cases.get(case_id).fields["escalation"]["to"] == "engineer"


def test_my_cases_are_three_tabs_with_counts(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    mine = [ui_desk.cases.open(agent, f"第{n}路摄像机黑屏，重启后仍无画面", channel="phone")
            for n in range(3)]
    ui_desk.cases.escalate(agent, mine[0].id, "engineer", "需要上门")
    at = open_app("agent", "en")
    at.switch_page(page_path("queue")).run()
    healthy(at)
    labels = tab_labels(at)
    opened = next(label for label in labels if label.startswith(msg("queue.opened", "en")))
    # the template's open case, and these three (one escalated, still open)
    assert opened == f"{msg('queue.opened', 'en')} (4)"
    assert f"{msg('queue.mine', 'en')} (0)" in labels

    at = open_app("engineer", "en")
    at.switch_page(page_path("queue")).run()
    labels = tab_labels(at)
    assert f"{msg('queue.escalated', 'en')} (1)" in labels
    assert f"{msg('queue.mine', 'en')} (1)" in labels
    assert f"{msg('queue.opened', 'en')} (0)" in labels
    shown = [d.value for d in at.dataframe]
    assert any(mine[0].id in list(frame[msg("case.number", "en")]) for frame in shown)


def test_an_agent_gets_no_dispatch_or_service_record_form_but_is_told_who_may(
        open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    at = case_page(open_app, "agent", case_id, "zh")
    assert not [e for e in at.expander if e.label in (msg("dispatch.header", "zh"),
                                                      msg("service.header", "zh"))]
    barred = {b.label: b for b in at.button if b.key and b.key.startswith("barred_")}
    roles = "、".join(msg(f"role.{r}", "zh") for r in ("engineer", "manager", "admin"))
    assert set(barred) == {
        msg("case.barred", "zh", action=msg("workflow.dispatch", "zh"), roles=roles),
        msg("case.barred", "zh", action=msg("workflow.service_record", "zh"), roles=roles)}
    assert all(b.disabled for b in barred.values())

    at = case_page(open_app, "engineer", case_id, "zh")
    assert not [b for b in at.button if b.key and b.key.startswith("barred_")]


def test_dispatch_picks_a_person_and_a_date_and_time(open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    at = case_page(open_app, "manager", case_id, "en")
    at.selectbox(key="dispatch_who").select("engineer")
    at.date_input(key="dispatch_when_date").set_value(date(2026, 12, 3))
    at.time_input(key="dispatch_when_time").set_value(time(14, 30))
    at.text_input(key="dispatch_place").input("华东物流 3 号仓")
    button(at, msg("action.dispatch", "en")).click().run()
    healthy(at)
    plan = ui_desk.cases.get(case_id).fields["dispatch"]
    assert (plan["assignee"], plan["planned_at"]) == ("engineer", "2026-12-03T14:30:00Z")


@pytest.mark.parametrize(("lang", "expected"), [("zh", "agent（一线客服）无权执行此操作（派工）。"),
                                                ("en", "agent (First line) may not dispatch.")])
def test_a_refusal_names_the_permission_in_words(ui_desk, monkeypatch, lang, expected):
    with pytest.raises(PermissionDenied) as refused:
        ui_desk.cases.dispatch(ui_desk.users.get("agent"), open_case_id(ui_desk), "engineer",
                               "", "")
    monkeypatch.setattr(i18n, "lang", lambda: lang)
    assert i18n.error_text(refused.value) == expected


def test_the_candidates_are_whom_the_service_accepts(ui_desk):
    for work in ("escalate", "dispatch"):
        for u in ui_desk.users.candidates(work):
            assert ui_desk.users.assignee(u.username, work) == u
    ui_desk.users.update(SYSTEM, "manager", active=False)
    assert "manager" not in [u.username for u in ui_desk.users.candidates("escalate")]
