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
without a display name.  Each leak is reported with its page and its text.
"""

from __future__ import annotations

import json
import re
import sqlite3
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
from ui.i18n import LANGUAGES, MESSAGES

pytestmark = MARKS

ROLES = ("agent", "engineer", "manager", "admin")
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_'’-]*")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
# Case columns a person typed (the rest are codes, times or triage's own output).
TYPED_CASE = ("title", "text", "fix", "project", "customer", "contact", "asset_model",
              "asset_serial", "product", "satisfaction_comment", "team")
TYPED_JSON = ("escalation", "delay", "dispatch", "service_record", "follow_up")
# Fixed English that is no language's text: units and formats the catalogue writes alike.
NEUTRAL = {"KnownFix", "UTC", "MB", "KB", "GB", "CSV", "TSV", "XLSX", "JSONL", "JSON", "Excel",
           "API", "ID", "id", "URL", "e", "g", "s", "ms", "h", "p", "hit", "MRR", "Enter"}

# Gathers the texts on screen, in two lists: {texts, headers}.  Texts: text nodes (a
# table drawn on a canvas keeps an accessible copy of its visible cells in the page),
# placeholders of empty inputs and the value a select box shows; never what a user typed
# into a text box.  Left out: icon names (Material Symbols ligatures such as
# "expand_more") and what sits off screen until focused (Streamlit's skip link).
# Headers: a table's column headers, which are never user data.
VISIBLE_TEXT = """() => {
  const shown = el => !!el && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const icon = el => getComputedStyle(el).fontFamily.includes('Material');
  const offscreen = el => { const r = el.getBoundingClientRect();
                            return r.right <= 0 || r.bottom <= 0 || r.width <= 1; };
  const texts = [], headers = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    const el = n.parentElement;
    if (!text || !el || el.closest('script, style, noscript, textarea')) continue;
    const grid = el.closest('[data-testid="stDataFrame"]');
    if (grid) {
      if (!shown(grid)) continue;
      texts.push(text);
      if (el.closest('th, [role="columnheader"]')) headers.push(text);
    } else if (shown(el) && !icon(el) && !offscreen(el)) {
      texts.push(text);
    }
  }
  for (const input of document.querySelectorAll('input, textarea')) {
    if (!shown(input)) continue;
    if (input.placeholder && !input.value) texts.push(input.placeholder.trim());
    if (input.getAttribute('role') === 'combobox' && input.value) texts.push(input.value.trim());
  }
  return {texts, headers};
}"""


def _json_strings(value: object) -> list[str]:
    """The string values (not keys) inside parsed JSON."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


class UserData:
    """What the database holds that people wrote or named, for one language."""

    def __init__(self, db_path: Path, lang: str) -> None:
        texts: list[str] = []
        with sqlite3.connect(db_path) as db:
            for table, columns in (("cases", TYPED_CASE), ("articles", ("title", "text", "fix",
                                                                         "author"))):
                for row in db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
                    texts += [v for v in row if isinstance(v, str)]
            for row in db.execute(f"SELECT {', '.join(TYPED_JSON)} FROM cases"):
                for raw in filter(None, row):
                    try:
                        texts += _json_strings(json.loads(raw))
                    except ValueError:
                        texts.append(raw)
            for row in db.execute("SELECT title, text, fix FROM article_versions"):
                texts += [v for v in row if v]
            for table in ("cases", "articles"):
                texts += [rid for (rid,) in db.execute(f"SELECT id FROM {table}")]
            for row in db.execute("SELECT username, display_name, team FROM users"):
                texts += [v for v in row if v]
            names = {(f, v): n for f, v, n in db.execute(
                "SELECT field, value, name FROM display_names WHERE lang = ?", [lang])}
            values = {(f, v) for f, v in db.execute("SELECT DISTINCT field, value FROM labels")}
            levels = {v for (v,) in db.execute("SELECT DISTINCT severity FROM cases "
                                               "UNION SELECT severity FROM articles") if v}
        values |= {("severity", lv) for lv in levels}
        texts += [n for n in names.values()]
        texts += [v for f, v in values if (f, v) not in names]
        self.named_raw = {v for f, v in values if (f, v) in names}
        self.corpus = "\n".join(texts)
        self.words = {w.lower() for w in LATIN.findall(self.corpus)}


def catalogue_words(lang: str) -> set[str]:
    """The ASCII words of the catalogue's texts in `lang` (KnownFix, NVR, UPS, …)."""
    side = 0 if lang == "zh" else 1
    words = {w.lower() for zh_en in MESSAGES.values() for w in LATIN.findall(zh_en[side])}
    return words | {w.lower() for w in NEUTRAL} | {w.lower() for w in LANGUAGES.values()}


def leaks_in(seen: dict[str, list[str]], lang: str, data: UserData) -> list[str]:
    """The texts (or the parts of them) that are neither the catalogue's nor user data."""
    if lang == "en":
        return [run for text in seen["texts"] for run in CJK.findall(text)
                if run not in data.corpus and run not in LANGUAGES.values()]
    catalogue = catalogue_words("zh")
    allowed, out = catalogue | data.words, []
    for text in seen["texts"]:
        if text in data.named_raw:
            out.append(text)
            continue
        out += [w for w in LATIN.findall(text) if w.lower() not in allowed
                and not _cut_short(w, text, allowed)]
    out += [w for text in seen["headers"] for w in LATIN.findall(text)
            if w.lower() not in catalogue]
    return out


def _cut_short(word: str, text: str, allowed: set[str]) -> bool:
    """A word shortened with … at the end of a text (a title cut to fit)."""
    return text.endswith(word + "…") and any(a.startswith(word.lower()) for a in allowed)


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
    data = UserData(kf_server.data_dir / "knownfix.db", lang)
    leaks = {where: sorted(set(leaks_in(texts, lang, data))) for where, texts in seen.items()}
    leaks = {where: found for where, found in leaks.items() if found}
    report = "\n".join(f"{where}: {', '.join(repr(x) for x in found)}"
                       for where, found in leaks.items())
    dump = tmp_path / f"walk-{lang}.json"  # everything read, page by page
    dump.write_text(json.dumps(seen, ensure_ascii=False, indent=1), encoding="utf-8")
    assert not leaks, f"text not from the {lang} catalogue nor user data (all read: {dump}):" \
                      f"\n{report}"
    assert len(seen) >= 20  # every role's pages were read
