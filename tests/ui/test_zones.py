"""Time zones in the app (issue 12): every time on the user's clock (their own zone, else
the `timezone` setting), the zone named once on the page, pickers read on that clock, and
the zone chosen by the user in the sidebar or by an administrator."""

from __future__ import annotations

from datetime import date, time

import pytest

from service.auth import SYSTEM
from tests.ui.conftest import page_path
from tests.ui.test_concurrency import case_page
from tests.ui.test_pages import button, healthy, msg, page_text

RECEIVED = "2026-12-01T01:00:00Z"  # 09:00 in Shanghai, 02:00 in Berlin


@pytest.fixture
def received_case(ui_desk) -> str:
    agent = ui_desk.users.get("agent")
    return ui_desk.cases.open(agent, "门禁控制器离线，刷卡无反应", channel="phone",
                              received_at=RECEIVED).id


def received(at, lang: str) -> str:
    """The case page's received time, from its table of facts."""
    [facts] = [tb.value for tb in at.table]
    values = dict(zip(facts.iloc[:, 0], facts.iloc[:, 1], strict=True))
    return values[msg("case.received", lang)]


def caption(at) -> list[str]:
    return [c.value for c in at.sidebar.caption if c.value.startswith(("时间均为", "Times in"))]


@pytest.mark.parametrize(("zone", "lang", "shown", "named"), [
    ("Asia/Shanghai", "zh", "2026年12月01日 09:00", "时间均为 北京时间（Asia/Shanghai，UTC+8）"),
    ("Asia/Shanghai", "en", "01 Dec 2026 09:00", "Times in China time (Asia/Shanghai, UTC+8)"),
    ("Europe/Berlin", "en", "01 Dec 2026 02:00", "Times in Berlin time (Europe/Berlin, UTC+1)"),
    ("", "zh", "2026年12月01日 01:00", "时间均为协调世界时（UTC）"),  # the setting's (UTC here)
])
def test_the_case_shows_its_received_time_in_the_users_zone(open_app, ui_desk, received_case,
                                                             zone, lang, shown, named):
    ui_desk.users.update(SYSTEM, "agent", timezone=zone)
    at = case_page(open_app, "agent", received_case, lang)
    assert received(at, lang) == shown
    assert caption(at) == [named]  # once, on the page; not after every time
    assert page_text(at).count(named) == 1


def test_the_setting_is_the_zone_of_users_with_none_of_their_own(open_app, ui_desk,
                                                                received_case, monkeypatch):
    from ui import resources

    monkeypatch.setenv("KNOWNFIX_TIMEZONE", "Asia/Tokyo")
    resources.reset()  # the app loads its Desk again, with the setting
    try:
        assert resources.desk().engine.settings.zone_name == "Asia/Tokyo"
        at = case_page(open_app, "agent", received_case, "zh")
        assert received(at, "zh") == "2026年12月01日 10:00"
        assert caption(at) == ["时间均为 东京时间（Asia/Tokyo，UTC+9）"]
    finally:
        resources.desk().close()
        resources.reset()


def test_intake_reads_the_picked_time_on_the_users_clock(open_app, ui_desk):
    ui_desk.users.update(SYSTEM, "agent", timezone="Asia/Shanghai")
    at = open_app("agent", "zh")
    at.switch_page(page_path("intake")).run()
    at.date_input(key="in_received_date").set_value(date(2026, 12, 1))
    at.time_input(key="in_received_time").set_value(time(9, 0))
    at.date_input(key="in_last_service_date").set_value(date(2026, 5, 1))  # no time: 09:00
    at.text_area(key="in_description").input("监控平台登录后黑屏，重启服务无效")
    button(at, msg("intake.submit", "zh")).click().run()
    healthy(at, "intake")
    case = ui_desk.cases.get(at.session_state["intake_case"])
    assert case.fields["received_at"] == "2026-12-01T01:00:00Z"
    assert case.fields["last_service_at"] == "2026-05-01T01:00:00Z"


def test_intake_with_no_received_time_takes_now(open_app, ui_desk):
    at = open_app("agent", "zh")
    at.switch_page(page_path("intake")).run()
    at.text_area(key="in_description").input("监控平台登录后黑屏，重启服务无效")
    button(at, msg("intake.submit", "zh")).click().run()
    healthy(at, "intake")
    case = ui_desk.cases.get(at.session_state["intake_case"])
    assert case.id.split("-")[1] == case.fields["received_at"][:10].replace("-", "")


def test_a_user_chooses_their_zone_in_the_sidebar(open_app, ui_desk, received_case):
    at = case_page(open_app, "agent", received_case, "zh")
    picker = at.sidebar.selectbox(key="tz_choice")
    assert picker.options[1:4] == ["北京时间 (Asia/Shanghai, UTC+8)",
                                   "香港时间 (Asia/Hong_Kong, UTC+8)",
                                   "台北时间 (Asia/Taipei, UTC+8)"]
    picker.select("Asia/Tokyo").run()
    healthy(at, "zone chosen")
    assert ui_desk.users.get("agent").timezone == "Asia/Tokyo"
    assert received(at, "zh") == "2026年12月01日 10:00"
    assert caption(at) == ["时间均为 东京时间（Asia/Tokyo，UTC+9）"]
    at.sidebar.selectbox(key="tz_choice").select("").run()  # back to the setting's
    assert ui_desk.users.get("agent").timezone == ""


def test_the_admin_sets_a_users_zone(open_app, ui_desk):
    at = open_app("admin", "en")
    at.switch_page(page_path("admin")).run()
    healthy(at, "admin")
    at.selectbox(key="uz_name").select("engineer")
    at.selectbox(key="uz_timezone").select("America/Los_Angeles")
    button(at, msg("tz.set_user", "en")).click().run()
    healthy(at, "zone set")
    assert ui_desk.users.get("engineer").timezone == "America/Los_Angeles"
    users = at.run().dataframe[0].value
    row = users[users[msg("signin.user", "en")] == "engineer"].iloc[0]
    assert row[msg("tz.label", "en")].startswith("Los Angeles time (America/Los_Angeles")
