"""Pages that stay true (issue 12): every case and article form acts on the version its
page was drawn from (Desk.versions, as the HTTP API's If-Match); an action on a stale page
is refused with who changed the record and when, and the typed text stays on screen;
after every action the page shows the record as stored."""

from __future__ import annotations

import pytest

from service.auth import SYSTEM
from tests.ui.conftest import OPEN_FAULT, page_path
from tests.ui.test_pages import button, healthy, msg


def open_case_id(ui_desk) -> str:
    [case] = [c for c in ui_desk.cases.list() if c.description == OPEN_FAULT]
    return case.id


def case_page(open_app, user: str, case_id: str, lang: str = "zh"):
    at = open_app(user, lang)
    at.session_state["case_id"] = case_id
    at.switch_page(page_path("case")).run()
    healthy(at, f"{user} on the case page")
    return at


def metric(at, key: str, lang: str) -> str:
    [found] = [m.value for m in at.metric if m.label == msg(key, lang)]
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_resolution_typed_on_a_stale_page_is_refused_and_kept(open_app, ui_desk, lang):
    case_id = open_case_id(ui_desk)
    agent = case_page(open_app, "agent", case_id, lang)  # the agent's page, drawn now
    engineer = case_page(open_app, "engineer", case_id, lang)
    engineer.text_area(key="resolve_fix").input("交换机端口改为固定IP段，打印机改用保留地址")
    button(engineer, msg("action.resolve", lang)).click().run()
    healthy(engineer, "engineer resolved")
    assert metric(engineer, "case.state", lang) == msg("state.resolved", lang)

    typed = "重启摄像机后恢复，已告知客户观察"
    agent.text_area(key="resolve_fix").input(typed)
    button(agent, msg("action.resolve", lang)).click().run()
    assert not agent.exception
    [error] = [e.value for e in agent.error]
    assert error.startswith(msg("stale.changed", lang, kind=msg("kind.case", lang),
                                id=case_id, by="@@", at="", action="").split("@@")[0])
    engineer_name = ui_desk.users.get("engineer").display_name
    assert engineer_name in error and msg("event.resolve", lang) in error
    # nothing of the agent's was written; the page shows the case as stored ...
    stored = ui_desk.cases.get(case_id)
    assert stored.fix.startswith("交换机端口") and typed not in stored.fix
    assert metric(agent, "case.state", lang) == msg("state.resolved", lang)
    # ... and what the agent typed is still on screen
    assert typed in [c.value for c in agent.code]


def test_an_escalation_shows_the_case_as_stored(open_app, ui_desk):
    """Was: "已升级给 …" above the old state and assignee."""
    case_id = open_case_id(ui_desk)
    at = case_page(open_app, "agent", case_id)
    assert metric(at, "case.state", "zh") == msg("state.triaged", "zh")
    at.selectbox(key=f"esc_to_{case_id}").select("engineer")
    at.text_input(key=f"esc_reason_{case_id}").input("需要上门检查交换机")
    button(at, msg("escalate.submit", "zh")).click().run()
    healthy(at, "escalated")
    assert metric(at, "case.state", "zh") == msg("state.escalated", "zh")
    assert ui_desk.users.get("engineer").display_name in metric(at, "case.assignee", "zh")
    assert [s.value for s in at.success if s.value.startswith("已升级给")]
    assert ui_desk.cases.get(case_id).fields["assignee"] == "engineer"


def test_a_second_escalation_on_a_stale_page_is_refused(open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    first, second = (case_page(open_app, u, case_id) for u in ("agent", "engineer"))
    first.selectbox(key=f"esc_to_{case_id}").select("engineer")
    first.text_input(key=f"esc_reason_{case_id}").input("需要上门")
    button(first, msg("escalate.submit", "zh")).click().run()
    healthy(first)
    second.selectbox(key=f"esc_to_{case_id}").select("manager")
    second.text_input(key=f"esc_reason_{case_id}").input("请主管协调备件")
    button(second, msg("escalate.submit", "zh")).click().run()
    [error] = [e.value for e in second.error]
    assert error.startswith(f"工单 {case_id} 已由")
    assert ui_desk.cases.get(case_id).fields["assignee"] == "engineer"
    assert "请主管协调备件" in [c.value for c in second.code]
    # the refused page now shows the stored case; sending again is a deliberate choice
    assert metric(second, "case.state", "zh") == msg("state.escalated", "zh")
    button(second, msg("escalate.submit", "zh")).click().run()
    healthy(second, "escalated again, knowingly")
    assert ui_desk.cases.get(case_id).fields["assignee"] == "manager"


def test_linking_a_fix_on_a_stale_page_is_refused(open_app, ui_desk):
    case_id = open_case_id(ui_desk)
    at = case_page(open_app, "agent", case_id)
    ui_desk.cases.start(SYSTEM, case_id)  # someone else takes the case meanwhile
    used = next(b for b in at.button if b.label == msg("fix.used", "zh"))
    used.click().run()
    [error] = [e.value for e in at.error]
    assert error.startswith(f"工单 {case_id} 已由")
    assert not [lk for lk in ui_desk.engine.kb.links(case_id) if lk["relation"] == "used"]
    [used] = [b for b in at.button if b.key == used.key]
    used.click().run()  # on the page as it is now: it goes through
    healthy(at, "linked")
    assert [lk for lk in ui_desk.engine.kb.links(case_id) if lk["relation"] == "used"]
    assert msg("fix.linked", "zh") in [s.value for s in at.success]


def test_an_article_edited_meanwhile_refuses_a_stale_review(open_app, ui_desk):
    engineer, manager = ui_desk.users.get("engineer"), ui_desk.users.get("manager")
    article_id, _ = ui_desk.knowledge.create(engineer, "门禁读卡器无响应", "刷卡没有反应",
                                             "1. 检查读卡器供电")
    ui_desk.knowledge.submit(engineer, article_id)
    at = open_app("engineer", "en")
    at.switch_page(page_path("knowledge")).run()
    healthy(at)
    ui_desk.knowledge.edit(manager, article_id, resolution="1. 检查读卡器供电\n2. 更换读卡器")
    at.button(key=f"val-{article_id}").click().run()
    [error] = [e.value for e in at.error]
    assert error.startswith(f"Article {article_id} was changed by "
                            f"{manager.display_name} at ")
    assert ui_desk.knowledge.get(article_id).state == "not_validated"
    at.button(key=f"val-{article_id}").click().run()  # having seen the change
    healthy(at, "validated")
    assert ui_desk.knowledge.get(article_id).state == "validated"
    assert [s.value for s in at.success] == [
        msg("kn.done", "en", id=article_id, action=msg("kn.validate", "en"))]
