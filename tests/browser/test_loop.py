"""The loop closed (issue 12), in the real browser: a follow-up call with a note shows on
the case page; the full-page article editor previews, saves, lists the versions and
shows the diff; two people editing one article — the stale save is refused and keeps
what was typed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.driver import MARKS, msg, no_exception, settle, sign_in

pytestmark = MARKS


@pytest.fixture
def desk(kf_server):
    """The served data folder's Desk, to set the scene (as test_e2e does)."""
    from service.desk import Desk
    from settings import load_settings

    d = Desk.open(load_settings(str(kf_server.data_dir)))
    yield d
    d.close()


@pytest.fixture
def article(desk) -> Iterator[str]:
    engineer = desk.users.get("engineer")
    article_id, _ = desk.knowledge.create(engineer, "闭环测试 读卡器无响应",
                                          "刷卡没有反应，指示灯不亮", "1. 检查读卡器供电",
                                          cause="供电不足")
    yield article_id
    desk.knowledge.archive(engineer, article_id, "browser test")  # out of the others' way


def open_editor(page: Page, url: str, article_id: str) -> None:
    page.goto(f"{url}/knowledge?article={article_id}&edit=1", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=msg("kn.editor", id=article_id))).to_be_visible()
    settle(page)


def resolution_box(page: Page):
    return page.get_by_label(msg("kn.resolution"), exact=True)


def test_a_follow_up_with_a_note_shows_on_the_case_page(new_page, kf_server, desk) -> None:
    agent_user, engineer = desk.users.get("agent"), desk.users.get("engineer")
    case = desk.cases.open(agent_user, "闭环测试：会议室投影仪无信号，切换输入源无效",
                           customer="城南小学", channel="phone")
    desk.cases.resolve(engineer, case.id, "更换HDMI线后恢复", confirm=True)

    page = new_page()
    sign_in(page, "agent")
    page.goto(f"{kf_server.url}/case?id={case.id}", wait_until="domcontentloaded")
    settle(page)
    form = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name=msg("follow.submit"), exact=True))
    form.get_by_text(msg("follow.outcome.unhappy"), exact=True).click()
    note = "投影正常，但客户反映上门比约定晚了半天"
    form.get_by_label(msg("follow.note"), exact=True).fill(note)
    form.get_by_role("button", name=msg("follow.submit"), exact=True).click()
    shown = page.get_by_test_id("stMarkdown").filter(
        has_text=re.compile(rf"^{msg('follow.header')}:\s*{msg('follow.outcome.unhappy')}"))
    expect(shown.first).to_be_visible()
    expect(shown.first).to_contain_text("李娜")
    expect(page.get_by_test_id("stMarkdown").filter(has_text=note).first).to_be_visible()
    settle(page)
    no_exception(page)
    stored = desk.cases.get(case.id).fields["follow_up"]
    assert (stored["outcome"], stored["note"], stored["by"]) == ("unhappy", note, "agent")


def test_the_full_page_editor_previews_saves_lists_versions_and_diffs(
        new_page, kf_server, article) -> None:
    page = new_page()
    sign_in(page, "engineer")
    open_editor(page, kf_server.url, article)
    added = "2. 更换读卡器并重新绑定控制器"
    box = resolution_box(page)
    box.fill(f"1. 检查读卡器供电\n\n**{added}**")
    box.press("Control+Enter")  # the text area's value goes to the app: the preview
    expect(page.get_by_test_id("stMain").locator("strong", has_text=added)).to_be_visible()
    settle(page)
    page.get_by_role("button", name=msg("kn.save"), exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_have_text(
        msg("kn.saved", id=article))
    settle(page)
    rows = page.get_by_test_id("stTable").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text(msg("event.edit"))
    expect(rows.nth(1)).to_contain_text("王工")
    diff = page.get_by_test_id("stCode").filter(has_text=f"+**{added}**")
    expect(diff).to_be_visible()
    expect(diff).to_contain_text(f"--- {msg('kn.version_n', n=1)}")
    no_exception(page)


def test_two_people_editing_one_article_the_stale_save_is_refused_and_kept(
        new_page, kf_server, desk, article) -> None:
    engineer = new_page()
    sign_in(engineer, "engineer")
    open_editor(engineer, kf_server.url, article)
    manager = new_page()
    sign_in(manager, "manager")
    open_editor(manager, kf_server.url, article)

    resolution_box(manager).fill("1. 检查读卡器供电\n2. 主管补充：检查门禁控制器485总线")
    manager.get_by_role("button", name=msg("kn.save"), exact=True).click()
    expect(manager.get_by_test_id("stAlertContentSuccess")).to_have_text(
        msg("kn.saved", id=article))
    settle(manager)

    typed = "1. 检查读卡器供电\n2. 工程师补充：更换读卡器"
    resolution_box(engineer).fill(typed)
    engineer.get_by_role("button", name=msg("kn.save"), exact=True).click()
    refused = engineer.get_by_test_id("stAlertContentError")
    expect(refused).to_contain_text(f"{msg('kind.article')} {article} 已由 陈主管 (主管) 于")
    settle(engineer)
    expect(engineer.get_by_test_id("stCode").filter(has_text="工程师补充：更换读卡器")
           .first).to_be_visible()
    expect(resolution_box(engineer)).to_have_value(typed)
    no_exception(engineer)
    assert "主管补充" in desk.knowledge.get(article).resolution
    assert "工程师补充" not in desk.knowledge.get(article).resolution
