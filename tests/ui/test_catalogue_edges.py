"""What used to reach a Chinese user in English (issue 12): import rejections, setting
names and help, report columns and weeks are said from the catalogue in the user's
language."""

from __future__ import annotations

import re

import pytest

from kb.importer import ColumnMapping, import_file
from kb.store import KnowledgeBase
from settings import SETTINGS
from ui import i18n
from ui.i18n import error_text, fmt_week, setting_text
from ui.widgets import headed

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def speak(monkeypatch):
    def use(lang: str) -> None:
        monkeypatch.setattr(i18n, "lang", lambda: lang)
    return use


def test_rejected_rows_say_why_in_the_users_language(tmp_path, speak):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text,severity\nA1,NVR 不录像,紧急\nA1,摄像机掉线,low\nA3,,low\n",
                    encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "kb.db", ["low", "medium", "high", "critical"])
    try:
        report = import_file(kb, rows, ColumnMapping(text=["text"], id="id",
                                                    severity="severity"))
    finally:
        kb.close()
    assert [r.error.key for r in report.rejected] == ["import_severity", "import_duplicate",
                                                     "import_empty"]
    speak("zh")
    said = [error_text(r.error) for r in report.rejected]
    assert said[0].startswith("未知严重程度“紧急”")
    assert said[1] == "编号 A1 重复（第 1 行已有）。"
    assert not any(re.search(r"[a-z]{4}", s.replace("low, medium, high, critical", ""))
                   for s in said), said
    speak("en")
    assert error_text(report.rejected[2].error) == "The description is empty."


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_setting_has_a_name_and_help_in_both_languages(speak, lang):
    speak(lang)
    for s in SETTINGS:
        name, help_ = setting_text(s.name, s.help)
        assert name != s.name and help_, s.name
        assert bool(CJK.search(name)) == (lang == "zh"), (s.name, name)


def test_a_setting_the_catalogue_lacks_shows_its_own_name_and_help(speak):
    speak("zh")
    assert setting_text("not_a_setting", "its help") == ("not_a_setting", "its help")


def test_weeks_and_report_columns_read_in_the_users_language(speak):
    speak("zh")
    assert fmt_week("2026-W07") == "2026 年第 7 周"
    assert fmt_week("(none)") == "(none)"
    table = headed([{"week": "2026-W07", "opened": 3, "escalated_to_them": None}],
                   week=fmt_week)
    assert list(table.columns) == ["周", "新建", "升级给本人"]
    assert table.iloc[0].tolist() == ["2026 年第 7 周", 3, "—"]
    speak("en")
    assert list(headed([{"median_resolution_hours": 2.5}]).columns) == \
        ["Median hours to resolve"]
