"""Time zones in the real browser (issue 12): a user on Beijing time picks the received
day at intake; the case page shows the received time on their clock, and the page names
the zone once."""

from __future__ import annotations

import re
import sqlite3
import subprocess

from playwright.sync_api import expect

from tests.browser.conftest import ROOT, _env, _knownfix
from tests.browser.driver import DEMO_PASSWORD, MARKS, msg, no_exception, settle, sign_in

pytestmark = MARKS
USER = "tz_agent"


def test_a_cases_received_time_shows_in_the_users_zone(new_page, kf_server) -> None:
    added = subprocess.run(
        [*_knownfix(), "user", "add", USER, "--role", "first_line", "--display-name",
         "北京坐席", "--timezone", "Asia/Shanghai", "--password-stdin"],
        input=DEMO_PASSWORD + "\n", cwd=ROOT, env=_env(kf_server.data_dir),
        capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr[-2000:]

    page = new_page()
    sign_in(page, USER)
    form = page.get_by_test_id("stForm")
    day = form.get_by_label(f"{msg('case.received')} · {msg('when.date')}", exact=True)
    day.get_by_role("spinbutton").first.click()  # year, month, day: typed in turn
    page.keyboard.type("20261201")
    page.keyboard.press("Tab")  # no time picked: 09:00 on the user's clock
    form.get_by_label(msg("intake.description"), exact=True).fill("门禁控制器离线，刷卡无反应")
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    heading = page.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} (\S+) ·"))
    expect(heading).to_be_visible()
    case_id = re.search(rf"{msg('case.number')} (\S+) ·", heading.inner_text()).group(1)
    settle(page)

    with sqlite3.connect(f"file:{kf_server.data_dir / 'knownfix.db'}?mode=ro", uri=True) as db:
        [(stored,)] = db.execute("SELECT received_at FROM cases WHERE id = ?", [case_id])
    assert stored == "2026-12-01T01:00:00Z"  # 09:00 in Shanghai, stored in UTC

    page.get_by_role("button", name=msg("case.open_page"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/case$"))
    settle(page)
    facts = page.get_by_test_id("stTable")
    expect(facts.get_by_role("row").filter(has_text=msg("case.received"))).to_contain_text(
        "2026年12月01日 09:00")
    named = "时间均为 北京时间（Asia/Shanghai，UTC+8）"
    expect(page.get_by_text(named, exact=True)).to_have_count(1)  # once on the page
    expect(page.get_by_test_id("stSidebar").get_by_text(named, exact=True)).to_be_visible()
    no_exception(page)
