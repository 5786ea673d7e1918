"""A notification's link (BASE_URL/case?id=CASE, service/notify/messages.py) opens that
case on the case page, and the search box is the user's again after that."""

from __future__ import annotations

from tests.ui.conftest import page_path
from tests.ui.test_pages import healthy, msg


def test_a_notification_link_opens_its_case(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    first = ui_desk.cases.open(agent, "NVR提示硬盘错误，回放为空", channel="phone")
    ui_desk.cases.open(agent, "摄像机离线，IP冲突", channel="phone")  # the newest
    at = open_app("agent")
    at.query_params["id"] = first.id
    at.switch_page(page_path("case")).run()
    healthy(at)
    assert at.session_state["case_id"] == first.id
    assert at.subheader[0].value.startswith(f"{msg('case.number', 'zh')} {first.id} ")
    assert "id" not in at.query_params  # taken once: the search box decides from now on
