"""The customer request page (在线提交工单, issue 13) in the real browser, served by
`knownfix serve --api-port` as `make run` serves it: a customer writes in Chinese, is
shown the article for customers that answers it, says it solved it — a deflection is
counted and no case opened; another customer's request is not answered, is filed, and
they see its status page; neither can reach an internal article or another's case."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.driver import MARKS, msg

pytestmark = MARKS

ANSWERED = "DEMO-A-13"  # 夜间画面全黑或发暗——日夜模式与红外检查
INTERNAL = "DEMO-A-01"


@pytest.fixture(scope="module")
def published(kf_server) -> Iterator[str]:
    """One demo article (validated, as imported ones are) made external by an engineer."""
    from service.desk import Desk
    from settings import load_settings

    desk = Desk.open(load_settings(str(kf_server.data_dir)))
    try:
        desk.knowledge.edit(desk.users.get("engineer"), ANSWERED, audience="external")
    finally:
        desk.close()
    yield ANSWERED


def counts(kf_server) -> tuple[int, int]:
    with sqlite3.connect(kf_server.data_dir / "knownfix.db") as db:
        return (db.execute("SELECT COUNT(*) FROM cases").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM deflections").fetchone()[0])


def fill(page: Page, description: str, name: str, phone: str) -> None:
    page.get_by_label(msg("portal.f.description")).fill(description)
    page.get_by_label(msg("portal.f.name")).fill(name)
    page.get_by_label(msg("portal.f.phone")).fill(phone)
    page.get_by_label(msg("portal.f.product")).fill("网络摄像机")


def test_an_article_answers_one_customer_and_another_gets_a_case(customer_page, kf_server,
                                                                  published) -> None:
    portal = kf_server.api_url + "/portal/"
    cases, deflections = counts(kf_server)

    # one customer: the article for customers answers the fault, while typing and after
    page = customer_page()
    page.goto(portal)
    expect(page.get_by_role("heading", name=msg("portal.title"))).to_be_visible()
    fill(page, "摄像机晚上画面全黑，白天图像正常，红外灯好像不亮", "王女士", "13800001111")
    live = page.locator("#suggestions")
    expect(live.get_by_role("heading", name=msg("portal.maybe"))).to_be_visible()
    expect(live).to_contain_text("夜间画面全黑")
    page.get_by_role("button", name=msg("portal.submit")).click()
    expect(page.get_by_role("heading", name=msg("portal.answers"))).to_be_visible()
    card = page.locator(".card").filter(has_text="夜间画面全黑")
    card.get_by_role("button", name=msg("portal.it_solved")).click()
    expect(page.get_by_text(msg("portal.solved_text"))).to_be_visible()
    assert counts(kf_server) == (cases, deflections + 1)

    # another customer: nothing for customers answers it, so it is filed
    page = customer_page()
    page.goto(portal)
    fill(page, "门禁读卡器刷卡没有任何反应，指示灯也不亮", "李先生", "13900002222")
    page.get_by_role("button", name=msg("portal.submit")).click()
    not_solved = page.get_by_role("button", name=msg("portal.not_solved"))
    status = page.get_by_role("heading", name=msg("portal.status"))
    expect(not_solved.or_(status)).to_be_visible()
    if not_solved.is_visible():  # shown an article that does not fit: file it anyway
        not_solved.click()
    expect(status).to_be_visible()
    expect(page.get_by_text(msg("portal.state.received"))).to_be_visible()
    number = re.search(r"[A-Z][A-Z0-9]*-\d{8}-\d+", page.locator(".ok").inner_text())[0]
    assert counts(kf_server) == (cases + 1, deflections + 1)
    link = page.url.split("?")[0]
    assert re.fullmatch(r".*/portal/status/[A-Za-z0-9_-]{40,}", link)
    for private in ("李先生", "13900002222"):
        expect(page.locator("body")).not_to_contain_text(private)

    # what neither customer may reach: the same "not found" page, whatever is asked
    for path in (f"article/{INTERNAL}", f"status/{number}", "status/" + link[-43:][::-1],
                 "status/" + "A" * 43):
        answer = page.goto(portal + path)
        assert answer is not None and answer.status == 404, path
        expect(page.get_by_role("heading", name=msg("portal.missing"))).to_be_visible()
    assert page.goto(portal + f"article/{published}").status == 200
    assert page.goto(link).status == 200
    assert not kf_server.blocked
