"""One catalogue, no leaks (issue 12): every role signs in, in Chinese and in English,
opens every page it has, every tab and every expander on it, and the walk reads all the
text on screen (table cells and headers, placeholders and the values shown in select
boxes included; what a user typed into a text box is not read).

A text fails the walk when it is neither in that language's catalogue nor user data:
- in Chinese, a run of ASCII letters that no Chinese catalogue text, no record, user
  or name in the database holds, or a whole text that is a label value which has a
  Chinese display name (the raw "storage" where 存储 belongs);
- in English, a run of CJK characters that no record, user or name in the database holds.

User data comes from the server's database, read when the walk runs: records' titles,
texts, fixes and intake fields, the people, the follow-up texts people typed, label values
without a display name (tests/browser/leaks.py).  Each leak is reported with its page
and its text; everything read is written to walk-LANG.json in the test's temporary folder.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server
from tests.browser.driver import (
    MARKS,
    msg,
    no_exception,
    set_language,
    settle,
    sign_in,
    sign_out,
)
from tests.browser.leaks import VISIBLE_TEXT, UserData, leaks_in

pytestmark = MARKS

ROLES = ("agent", "engineer", "manager", "admin")
ADMIN = "admin: home"  # the admin's home is the Admin page
GRID_MS = 300  # a table in a tab that was hidden draws its cells once the tab shows


class Walk:
    """The page being walked and what it has shown, by page."""

    def __init__(self, page: Page, lang: str) -> None:
        self.page, self.lang = page, lang
        self.seen: dict[str, dict[str, list[str]]] = defaultdict(
            lambda: {"texts": [], "headers": []})

    def read(self, where: str, quiet: bool = True) -> None:
        """Read what is on screen; `quiet`: once the app has settled (a tab or an
        expander opens in the browser alone, without a rerun)."""
        if quiet:
            settle(self.page)
        no_exception(self.page)
        for part, found in self.page.evaluate(VISIBLE_TEXT).items():
            self.seen[where][part] += found

    def everything_on(self, where: str) -> None:
        """Read the page, then each tab in turn with its expanders opened."""
        self.read(where)
        self._expand(where)
        tabs = self.page.get_by_role("tab")
        for i in range(tabs.count()):
            tab = tabs.nth(i)
            if not tab.is_visible():
                continue
            tab.click()
            self.page.wait_for_timeout(GRID_MS)
            self.read(f"{where} › {tab.inner_text().strip()}", quiet=False)
            self._expand(f"{where} › {tab.inner_text().strip()}")

    def _expand(self, where: str) -> None:
        closed = self.page.locator('[data-testid="stExpander"] details:not([open]) > summary')
        opened = 0
        for i in range(closed.count()):
            summary = closed.nth(i)
            if summary.is_visible():
                summary.click()
                opened += 1
        if opened:
            self.read(f"{where} (expanded)", quiet=False)


def _visit(page: Page, n: int) -> str:
    """Follow the sidebar's n-th page link; the page's name (its URL path, "" the home)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link").nth(n).click()
    settle(page)
    return urlparse(page.url).path.strip("/") or "home"


def _triage_at_intake(page: Page, lang: str) -> None:
    """Take a fault at intake, so the walk reads a triage result and its reasons."""
    form = page.get_by_test_id("stForm").first
    text = {"zh": "NVR硬盘状态异常，前面板报警灯亮，部分通道查不到近期录像",
            "en": "The recorder keeps beeping with an HDD error; no footage from yesterday."}
    form.get_by_label(msg("intake.description", lang), exact=True).fill(text[lang])
    form.get_by_role("button", name=msg("intake.submit", lang), exact=True).click()
    expect(page.get_by_role("heading", name=msg("triage.fixes", lang))).to_be_visible()


def _walk(new_page, lang: str) -> dict[str, dict[str, list[str]]]:
    page = new_page()
    set_language(page, lang)
    walk = Walk(page, lang)
    walk.read("signin")
    for role in ROLES:
        sign_in(page, role, lang)
        set_language(page, lang)  # the user's own saved language wins at sign-in
        for n in range(page.get_by_test_id("stSidebarNav").get_by_role("link").count()):
            name = _visit(page, n)
            if role == "agent" and page.get_by_role(
                    "heading", name=msg("intake.header", lang)).is_visible():
                _triage_at_intake(page, lang)
            walk.everything_on(f"{role}: {name}")
        sign_out(page, lang)
    return walk.seen


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_speaks_one_language(new_page, kf_server: Server, tmp_path: Path,
                                        lang: str) -> None:
    seen = _walk(new_page, lang)
    data = UserData(kf_server.data_dir, lang)
    leaks = {where: sorted(set(leaks_in(texts, lang, data, admin=where.startswith(ADMIN))))
             for where, texts in seen.items()}
    leaks = {where: found for where, found in leaks.items() if found}
    report = "\n".join(f"{where}: {', '.join(repr(x) for x in found)}"
                       for where, found in leaks.items())
    dump = tmp_path / f"walk-{lang}.json"  # everything read, page by page
    dump.write_text(json.dumps(seen, ensure_ascii=False, indent=1), encoding="utf-8")
    assert not leaks, f"text not from the {lang} catalogue nor user data (all read: {dump}):" \
                      f"\n{report}"
    assert len(seen) >= 20  # every role's pages were read
