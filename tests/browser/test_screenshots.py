"""Every page of the real app, in Chinese and in English, opened in the browser with real
content (a triage result, a search with results, the demo KB's reports) and saved as a
full-page PNG.  The test fails when a page does not draw, shows a traceback or is still
busy.

The PNGs go to a temporary folder, so `make test` leaves the work tree alone; to refresh
docs/screenshots/, run `make screenshots` (SCREENSHOT_DIR=docs/screenshots).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server
from tests.browser.driver import (
    MARKS,
    full_page_png,
    msg,
    no_exception,
    open_page,
    set_language,
    settle,
    sign_in,
    sign_out,
)

# The language walk (test_language_walk.py) draws every page in both languages and fails
# on a traceback or a stray word; this module only makes the README's pictures, so it
# runs when asked for: `make screenshots` (SCREENSHOT_DIR set).
pytestmark = [*MARKS, pytest.mark.skipif(not os.environ.get("SCREENSHOT_DIR"),
                                         reason="makes docs/screenshots: `make screenshots`")]

PAGES = ("signin", "intake", "queue", "case", "search", "knowledge", "coverage", "reports",
         "customers", "plans", "admin", "portal")
INTAKE = {
    "zh": {"customer": "华东某连锁超市 3 号店", "product": "NVR-4216",
           "description": "NVR硬盘状态显示异常，前面板报警灯亮，部分通道查不到近期录像"},
    "en": {"customer": "Harbour Street Pharmacy", "product": "NVR-4216",
           "description": "The recorder in the back office keeps beeping and says HDD Error; "
                          "staff cannot find any footage from yesterday."},
}
SEARCH = {"zh": "NVR 硬盘错误 查不到录像", "en": "RAID array degraded R123-78"}

# Recent work for the queue, coverage and reports pages: (weeks ago, description, what
# happened).  None of it is about NVR disks, so the e2e test's ranking is not touched.
ACTIVITY = [
    (1, "仓库摄像机每天掉线好几次，过几分钟又自己恢复", "used confirm close"),
    (1, "Cameras on the PoE switch reboot one after another once it gets dark",
     "used confirm close"),
    (2, "客户端登录提示HTTP 401未授权，账号密码确认无误", "used close"),
    (2, "刷卡显示认证成功但门锁不动作", "not-helpful escalate close"),
    (3, "电梯厅对讲分机没有声音，呼叫能接通", "escalate"),
    (3, "The lift lobby intercom connects but there is no audio either way", "escalate"),
    (4, "停车场道闸不抬杆，车牌已经识别成功", "delay"),
    (4, "Car park barrier does not lift although the number plate was read", ""),
    (5, "VMS提示授权过期E-1043，新加的摄像机加不进去", "used close"),
    (6, "机房UPS有焦糊味，面板告警", "escalate close"),
]


@pytest.fixture(scope="module")
def recent_activity(kf_server: Server) -> int:
    """Work ten cases through the service layer (the app's own Desk on the server's data
    folder): fixes used and not helpful, escalations, a delay, confirmations, closures."""
    from datetime import UTC, datetime, timedelta

    from service.desk import Desk
    from settings import load_settings

    desk = Desk.open(load_settings(str(kf_server.data_dir)))
    try:
        agent, engineer = desk.users.get("agent"), desk.users.get("engineer")
        cases = desk.cases
        now = datetime.now(UTC)
        for n, (weeks, text, story) in enumerate(ACTIVITY):
            when = (now - timedelta(weeks=weeks, hours=3 * n)).isoformat()
            case = cases.open(agent, text, channel=("phone", "email", "web")[n % 3],
                              customer=f"Demo customer {n + 1}", received_at=when)
            top = case.triage.matches[0].key if case.triage and case.triage.matches else None
            steps = story.split()
            if top and "used" in steps:
                cases.link_fix(agent, case.id, top, True)
            if top and "not-helpful" in steps:
                cases.link_fix(agent, case.id, top, False)
            if "escalate" in steps:
                cases.escalate(agent, case.id, "engineer", "no known fix worked")
            if "delay" in steps:
                cases.set_delay(agent, case.id, "B", "spare barrier arm on order")
            if "close" in steps:
                cases.resolve(engineer, case.id, "Fixed on site; see the steps in the record.",
                              cause="see the record")
                if "confirm" in steps:
                    cases.confirm(agent, case.id, 5 - n % 2, "")
                cases.close(agent, case.id)
        return len(ACTIVITY)
    finally:
        desk.close()


def _heading(page: Page, key: str, lang: str):
    return page.get_by_role("heading", name=msg(key, lang))


def _shoot(page: Page, out: Path, lang: str, name: str, shots: list[Path]) -> None:
    settle(page)
    no_exception(page)
    assert page.get_by_test_id("stSpinner").count() == 0
    shots.append(full_page_png(page, out / f"{lang}-{name}.png"))


def _pages_as_manager(page: Page, out: Path, lang: str, shots: list[Path]) -> None:
    # Intake with a triage result.
    expect(_heading(page, "intake.header", lang)).to_be_visible()
    form = page.get_by_test_id("stForm")
    for field in ("customer", "product", "description"):
        form.get_by_label(msg(f"intake.{field}", lang), exact=True).fill(INTAKE[lang][field])
    form.get_by_role("button", name=msg("intake.submit", lang), exact=True).click()
    expect(_heading(page, "triage.fixes", lang)).to_be_visible()
    expect(page.get_by_role("button", name=msg("fix.used", lang), exact=True).first
           ).to_be_visible()
    _shoot(page, out, lang, "intake", shots)

    # Queue: every case, open ones first.
    open_page(page, "queue", lang)
    expect(_heading(page, "queue.header", lang)).to_be_visible()
    every = page.get_by_role("tab", name=re.compile(rf"^{re.escape(msg('queue.all', lang))} "
                                                    r"\(\d+\)$"))
    every.click()
    expect(every).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel").get_by_test_id("stDataFrame")).to_be_visible()
    _shoot(page, out, lang, "queue", shots)

    # Case: the case just taken, with its triage, walk-through and next steps.
    open_page(page, "case", lang)
    expect(_heading(page, "case.timeline", lang)).to_be_visible()
    _shoot(page, out, lang, "case", shots)

    # Search with a query.
    open_page(page, "search", lang)
    box = page.get_by_label(msg("search.query", lang), exact=True)
    box.fill(SEARCH[lang])
    box.press("Enter")
    expect(page.get_by_text(re.compile(rf"^{msg('search.score', lang)} \d")).first
           ).to_be_visible()
    _shoot(page, out, lang, "search", shots)

    open_page(page, "knowledge", lang)
    expect(_heading(page, "kn.header", lang)).to_be_visible()
    expect(page.get_by_role("tab", name=msg("kn.review", lang))).to_be_visible()
    # Open the first draft waiting for review (drafted from a case closed above).
    page.get_by_test_id("stExpander").first.locator("summary").click()
    expect(page.get_by_role("button", name=msg("kn.archive", lang)).first).to_be_visible()
    _shoot(page, out, lang, "knowledge", shots)

    open_page(page, "coverage", lang)
    expect(_heading(page, "cov.header", lang)).to_be_visible()
    expect(_heading(page, "cov.never_used", lang)).to_be_visible()
    _shoot(page, out, lang, "coverage", shots)

    open_page(page, "reports", lang)
    expect(_heading(page, "rep.header", lang)).to_be_visible()
    expect(_heading(page, "rep.download", lang)).to_be_visible()
    _shoot(page, out, lang, "reports", shots)

    open_page(page, "customers", lang)
    expect(_heading(page, "cust.header", lang)).to_be_visible()
    _shoot(page, out, lang, "customers", shots)

    open_page(page, "plans", lang)
    expect(_heading(page, "plans.header", lang)).to_be_visible()
    _shoot(page, out, lang, "plans", shots)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_draws_and_is_saved(new_page, kf_server: Server, recent_activity: int,
                                       tmp_path: Path, lang: str) -> None:
    out = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    shots: list[Path] = []
    page = new_page()
    expect(_heading(page, "signin.header", "zh")).to_be_visible()
    set_language(page, lang)
    expect(_heading(page, "signin.header", lang)).to_be_visible()
    _shoot(page, out, lang, "signin", shots)

    sign_in(page, "manager", lang)
    set_language(page, lang)  # the user's own saved language wins at sign-in
    _pages_as_manager(page, out, lang, shots)
    sign_out(page, lang)

    sign_in(page, "admin", lang)
    set_language(page, lang)
    expect(_heading(page, "admin.header", lang)).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    _shoot(page, out, lang, "admin", shots)

    # the customer request page, served with the API, in the page's own language
    page.goto(f"{kf_server.api_url}/portal/?lang={lang}", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=msg("portal.title", lang))).to_be_visible()
    page.screenshot(path=str(out / f"{lang}-portal.png"), full_page=True)
    shots.append(out / f"{lang}-portal.png")

    assert [p.stem for p in shots] == [f"{lang}-{name}" for name in PAGES]
    for path in shots:
        assert path.stat().st_size > 10_000, path  # a blank page compresses to far less
    assert not kf_server.blocked, kf_server.blocked
