"""The app as a team's daily tool (issue 12), in the real browser: a refresh keeps the
session and a refresh after signing out lands on the sign-in page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.driver import (
    MARKS,
    expect_state,
    msg,
    no_exception,
    open_page,
    settle,
    sign_in,
    sign_out,
)

pytestmark = MARKS
COOKIE = "knownfix_session"


def _session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None)


def test_a_refresh_keeps_the_session_and_sign_out_ends_it(new_page) -> None:
    page = new_page()
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    sign_in(page, "engineer")
    open_page(page, "queue", "zh")
    expect(page.get_by_role("heading", name=msg("queue.header"))).to_be_visible()
    cookie = _session_cookie(page)
    assert cookie, page.context.cookies()

    page.reload(wait_until="domcontentloaded")  # F5
    settle(page)
    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.get_by_role("heading", name=msg("queue.header"))).to_be_visible()
    expect(page.get_by_role("button", name=msg("signin.out"), exact=True)).to_be_visible()
    no_exception(page)

    sign_out(page, "zh")
    page.wait_for_function(f"() => !document.cookie.includes('{COOKIE}=')")
    page.reload(wait_until="domcontentloaded")
    settle(page)
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    expect(page.get_by_role("button", name=msg("signin.out"), exact=True)).to_have_count(0)

    # the old token, sent again by hand (a copied cookie), is refused: revoked on the server
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": page.url}])
    page.reload(wait_until="domcontentloaded")
    settle(page)
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    no_exception(page)


def test_two_people_on_one_case_the_stale_page_is_refused_and_keeps_the_text(
        new_page, kf_server) -> None:
    """An agent and an engineer have the same case open; the engineer resolves it; the
    agent, on the page as it was, types a resolution and sends it: refused, with who
    changed the case, and the agent's text still on screen."""
    agent = new_page()
    sign_in(agent, "agent")
    form = agent.get_by_test_id("stForm")
    form.get_by_label(msg("intake.customer"), exact=True).fill("城西仓库")
    form.get_by_label(msg("intake.description"), exact=True).fill("门禁控制器离线，刷卡无反应")
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    heading = agent.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} (\S+) ·"))
    expect(heading).to_be_visible()
    case_id = re.search(rf"{msg('case.number')} (\S+) ·", heading.inner_text()).group(1)
    settle(agent)
    agent.get_by_role("button", name=msg("case.open_page"), exact=True).click()
    expect(agent).to_have_url(re.compile(r"/case$"))
    settle(agent)

    engineer = new_page()
    sign_in(engineer, "engineer")
    engineer.goto(f"{kf_server.url}/case?id={case_id}", wait_until="domcontentloaded")
    settle(engineer)
    resolve = engineer.get_by_test_id("stForm").filter(
        has=engineer.get_by_role("button", name=msg("action.resolve"), exact=True))
    resolve.get_by_label(msg("resolve.fix"), exact=True).fill("控制器断电重启后恢复在线")
    resolve.get_by_role("button", name=msg("action.resolve"), exact=True).click()
    expect_state(engineer, "resolved")
    settle(engineer)

    typed = "远程重置门禁控制器网络参数，客户确认刷卡恢复"
    mine = agent.get_by_test_id("stForm").filter(
        has=agent.get_by_role("button", name=msg("action.resolve"), exact=True))
    mine.get_by_label(msg("resolve.fix"), exact=True).fill(typed)
    mine.get_by_role("button", name=msg("action.resolve"), exact=True).click()
    refused = agent.get_by_test_id("stAlertContentError")
    expect(refused).to_contain_text(f"{msg('kind.case')} {case_id} 已由 王工 (工程师) 于")
    settle(agent)
    expect(agent.get_by_test_id("stCode").filter(has_text=typed)).to_be_visible()
    expect_state(agent, "resolved")
    no_exception(agent)

    from kb.store import KnowledgeBase
    from settings import load_settings

    s = load_settings(str(kf_server.data_dir))
    kb = KnowledgeBase(s.db_path, s.levels)
    try:
        assert kb.get("case", case_id).fix == "控制器断电重启后恢复在线"
    finally:
        kb.close()


def test_an_escalation_to_a_person_shows_in_their_queue(new_page) -> None:
    """The agent escalates to 王工 picked by name; 王工's 升级给我的 tab lists the case."""
    agent = new_page()
    sign_in(agent, "agent")
    form = agent.get_by_test_id("stForm").filter(
        has=agent.get_by_role("button", name=msg("intake.submit"), exact=True))
    form.get_by_label(msg("intake.customer"), exact=True).fill("城南配送中心")
    form.get_by_label(msg("intake.description"), exact=True).fill(
        "监控客户端登录后全部通道黑屏，重启客户端无效")
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    heading = agent.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} (\S+) ·"))
    expect(heading).to_be_visible()
    case_id = re.search(rf"{msg('case.number')} (\S+) ·", heading.inner_text()).group(1)
    settle(agent)

    expander = agent.get_by_test_id("stExpander").filter(has_text=msg("escalate.header"))
    if not expander.get_by_label(msg("escalate.reason"), exact=True).is_visible():
        expander.get_by_text(msg("escalate.header"), exact=True).click()
    settle(agent)
    who = expander.get_by_role("combobox", name=msg("escalate.to"))
    who.click()
    who.press_sequentially("王工")
    agent.get_by_role("option", name="王工 (工程师)", exact=True).click()
    expander.get_by_label(msg("escalate.reason"), exact=True).fill("画面黑屏，需工程师远程排查")
    expander.get_by_role("button", name=msg("escalate.submit"), exact=True).click()
    expect(agent.get_by_text(msg("escalate.done", to="王工 (工程师)"))).to_be_visible()
    no_exception(agent)

    engineer = new_page()
    sign_in(engineer, "engineer")
    open_page(engineer, "queue", "zh")
    tab = engineer.get_by_role("tab", name=re.compile(rf"^{msg('queue.escalated')} \(\d+\)$"))
    tab.click()
    panel = engineer.get_by_role("tabpanel").filter(visible=True)
    expect(panel.get_by_test_id("stDataFrame")).to_be_visible()
    # the grid draws on a canvas; its cells are in the accessible table inside the canvas
    expect(panel.locator("td[role=gridcell]").filter(
        has_text=re.compile(rf"^{case_id}$"))).to_have_count(1)
    no_exception(engineer)
