"""The work report (工作报表) in the real browser: a manager downloads the per-case Excel
from the reports page, and it holds every case of the period, none of the imported
demo history."""

from __future__ import annotations

import re
from datetime import datetime

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.driver import MARKS, msg, no_exception, open_page, settle, sign_in

pytestmark = MARKS
CASES = (("城南中学", "DS-2CD3T47 枪机", "教学楼三层摄像机夜视画面发白，红外灯不亮"),
         ("滨江花园物业", "NVR-4216", "NVR 报警灯常亮，提示硬盘错误，回放查不到录像"))


def _open_case(page, before: list[str], customer: str, product: str, fault: str) -> str:
    """Open a case through the intake form; its number once the page shows it (a number
    not in `before`: the previous case's heading stays until the new one is drawn)."""
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("intake.customer"), exact=True).fill(customer)
    form.get_by_label(msg("intake.product"), exact=True).fill(product)
    form.get_by_label(msg("intake.description"), exact=True).fill(fault)
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    heading = page.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} \S+ ·"))
    expect(heading).to_be_visible()
    for old in before:
        expect(heading).not_to_contain_text(f"{old} ·")
    settle(page)
    return re.search(rf"{msg('case.number')} (\S+) ·", heading.inner_text()).group(1)


def _desk_cases(data_dir) -> set[str]:
    """Every case opened through the desk in this server's KB (all of them today)."""
    from kb.store import KnowledgeBase
    from settings import load_settings

    s = load_settings(str(data_dir))
    kb = KnowledgeBase(s.db_path, s.levels)
    try:
        return {r[0] for r in kb.db.execute(
            "SELECT id FROM cases WHERE COALESCE(project, '') != ''")}
    finally:
        kb.close()


def test_a_manager_downloads_the_work_report_with_every_case(new_page, kf_server,
                                                             tmp_path) -> None:
    agent = new_page()
    sign_in(agent, "agent")
    opened: list[str] = []
    for case in CASES:
        opened.append(_open_case(agent, opened, *case))

    manager = new_page()
    sign_in(manager, "manager")
    open_page(manager, "reports", "zh")
    expect(manager.get_by_role("heading", name=msg("rep.work"))).to_be_visible()
    # the per-case table is on the page, with the cases just opened
    table = manager.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    with manager.expect_download() as info:
        manager.get_by_role("button", name=msg("rep.work_xlsx"), exact=True).click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "work.xlsx"
    download.save_as(path)
    no_exception(manager)

    book = load_workbook(path)
    sheet = book[msg("work.sheet")]
    header = [c.value for c in sheet[1]]
    assert header[0] == msg("case.number") and sheet.freeze_panes == "B2"
    rows = [dict(zip(header, r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)]
    ids = {r[msg("case.number")] for r in rows}
    assert ids == _desk_cases(kf_server.data_dir)  # every case of the period, no demo
    assert set(opened) <= ids
    mine = {r[msg("case.number")]: r for r in rows if r[msg("case.number")] in opened}
    for case_id, (customer, product, _) in zip(opened, CASES, strict=True):
        assert (mine[case_id][msg("intake.customer")],
                mine[case_id][msg("intake.product")]) == (customer, product)
        assert isinstance(mine[case_id][f"{msg('case.received')} (UTC)"], datetime)
    assert msg("rep.sheet_weekly") in book.sheetnames
