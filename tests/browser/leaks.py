"""The checker of the language walk (tests/browser/test_language_walk.py): what the
database holds as user data, the catalogue's words, and which texts on screen are
neither.  No browser here, so tests/ui/test_leak_checker.py proves it can fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from kb.store import KnowledgeBase
from settings import SETTINGS, load_settings
from ui.i18n import LANGUAGES, MESSAGES

LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_'’-]*")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")  # runs of Chinese characters
# Case columns a person typed (the rest are codes, times or triage's own output).
TYPED_CASE = ("title", "text", "fix", "project", "customer", "contact", "asset_model",
              "asset_serial", "product", "satisfaction_comment", "team")
TYPED_JSON = ("escalation", "delay", "dispatch", "service_record", "follow_up")
# Fixed English that is no language's text: units and formats the catalogue writes alike.
NEUTRAL = {"KnownFix", "UTC", "MB", "KB", "GB", "CSV", "TSV", "XLSX", "JSONL", "JSON", "Excel",
           "API", "ID", "id", "URL", "e", "g", "s", "ms", "h", "p", "hit", "MRR", "Enter",
           # the date and time pickers' empty-field hints (yyyy/mm/dd, HH:mm): drawn by
           # Streamlit, which lets no one set them (st.date_input / time_input take no
           # placeholder); a notation, not English
           "yyyy", "mm", "dd", "HH"}

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

    def __init__(self, data_dir: Path, lang: str) -> None:
        """`data_dir`: the app's data folder; its knowledge base is read where the
        settings put it (the SQLite file, or PostgreSQL under TEST_STORE=postgresql)."""
        texts: list[str] = []
        settings = load_settings(str(data_dir))
        kb = KnowledgeBase(settings.database, settings.levels)
        try:
            db = kb.db
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
            # customer and equipment records (contacts: their JSON holds the text as is)
            for table, columns in (("customers", ("id", "name", "contacts", "address",
                                                  "contract", "service_level", "note")),
                                   ("assets", ("id", "product", "model", "serial",
                                               "location", "note"))):
                for row in db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
                    texts += [v for v in row if v]
            for row in db.execute("SELECT username, display_name, team FROM users"):
                texts += [v for v in row if v]
            every_name = list(db.execute("SELECT field, value, lang, name FROM display_names"))
            names = {(f, v): n for f, v, lg, n in every_name if lg == lang}
            values = {(f, v) for f, v in db.execute("SELECT DISTINCT field, value FROM labels")}
            levels = {v for (v,) in db.execute("SELECT DISTINCT severity FROM cases "
                                               "UNION SELECT severity FROM articles") if v}
        finally:
            kb.close()
        values |= {("severity", lv) for lv in levels}
        texts += [n for n in names.values()]
        texts += [v for f, v in values if (f, v) not in names]
        self.named_raw = {v for f, v in values if (f, v) in names}
        self.corpus = "\n".join(texts)
        self.words = {w.lower() for w in LATIN.findall(self.corpus)}
        # What Admin shows for the administrator to edit: every stored value with its
        # names in both languages, and the values of the settings (keyword phrases).
        edited = [v for _f, v in values] + [n for *_key, n in every_name] + [
            text for s in SETTINGS for text in _json_strings(getattr(settings, s.name))]
        self.admin_corpus = self.corpus + "\n" + "\n".join(edited)
        self.admin_words = self.words | {w.lower() for w in LATIN.findall(self.admin_corpus)}


def catalogue_words(lang: str) -> set[str]:
    """The ASCII words of the catalogue's texts in `lang` (KnownFix, NVR, UPS, …)."""
    side = 0 if lang == "zh" else 1
    words = {w.lower() for zh_en in MESSAGES.values() for w in LATIN.findall(zh_en[side])}
    return words | {w.lower() for w in NEUTRAL} | {w.lower() for w in LANGUAGES.values()}


def leaks_in(seen: dict[str, list[str]], lang: str, data: UserData,
             admin: bool = False) -> list[str]:
    """The texts (or the parts of them) that are neither the catalogue's nor user data;
    `admin`: the Admin page, where stored values, their names in both languages and the
    settings' values are shown for editing."""
    corpus = data.admin_corpus if admin else data.corpus
    if lang == "en":
        return [run for text in seen["texts"] for run in CJK.findall(text)
                if run not in corpus and run not in LANGUAGES.values()]
    catalogue = catalogue_words("zh")
    allowed, out = catalogue | (data.admin_words if admin else data.words), []
    for text in seen["texts"]:
        if text in data.named_raw and not admin:
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
