"""Finding a case on the case page in the real browser (issue 12, faster pages): no long
select box, a search box — part of the number or the customer's Chinese name — and the
case opens from what it finds."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.driver import MARKS, msg, no_exception, open_page, settle, sign_in

pytestmark = MARKS
CUSTOMER = "江南纺织厂"


def _take_in(page: Page) -> str:
    """A new case for CUSTOMER through the intake form; its number."""
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("intake.customer"), exact=True).fill(CUSTOMER)
    form.get_by_label(msg("intake.description"), exact=True).fill("考勤机联网后数据上传失败")
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    heading = page.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} (\S+) ·"))
    expect(heading).to_be_visible()
    settle(page)
    return re.search(rf"{msg('case.number')} (\S+) ·", heading.inner_text()).group(1)


def _search(page: Page, text: str) -> None:
    box = page.get_by_label(msg("case.find"), exact=True)
    box.fill(text)
    box.press("Enter")
    settle(page)


def _open_from_results(page: Page, case_id: str) -> None:
    found = page.get_by_role("button", name=re.compile(rf"^{re.escape(case_id)} · "))
    expect(found).to_have_count(1)
    expect(found).to_contain_text(CUSTOMER)
    found.click()
    settle(page)
    expect(page.get_by_role("heading", name=re.compile(
        rf"^{msg('case.number')} {re.escape(case_id)} ·"))).to_be_visible()
    expect(page.get_by_label(msg("case.find"), exact=True)).to_have_value("")
    no_exception(page)


def test_a_case_is_found_by_part_of_its_number_and_by_its_chinese_customer(new_page):
    page = new_page()
    sign_in(page, "agent")
    case_id = _take_in(page)
    open_page(page, "case", "zh")
    expect(page.get_by_role("combobox", name=msg("case.number"))).to_have_count(0)

    _search(page, case_id.split("-", 1)[-1])  # KF-20261202-7: 20261202-7
    _open_from_results(page, case_id)

    _search(page, CUSTOMER[:2])  # 江南: part of the customer's name
    _open_from_results(page, case_id)
