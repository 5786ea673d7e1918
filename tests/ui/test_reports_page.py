"""The reports page (AppTest): the per-case work report lists the desk's cases of the
period, its filters narrow it, imported history joins only when ticked, and the page
computes the statistics once per run."""

from __future__ import annotations

import pytest

from service.reports import Reports
from tests.ui.conftest import page_path
from ui.i18n import MESSAGES


def msg(key: str, lang: str = "zh") -> str:
    return MESSAGES[key][0 if lang == "zh" else 1]


def _work_table(at):
    """The work report's table: the first table on the page, with 工单号 first."""
    frame = at.dataframe[0].value
    assert frame.columns[0] == msg("case.number"), list(frame.columns)
    return frame


def test_the_work_report_lists_the_desk_cases_and_filters_them(open_app, ui_desk) -> None:
    at = open_app("manager", script=page_path("reports"))
    assert not at.exception, [e.value for e in at.exception]
    table = _work_table(at)
    desk_cases = [c.id for c in ui_desk.cases.list(limit=100) if c.fields.get("project")]
    assert sorted(table[msg("case.number")]) == sorted(desk_cases) and len(desk_cases) == 2
    # the table names codes in Chinese and shows empty cells as "—"
    assert set(table[msg("intake.channel")]) == {"电话", "邮件"}
    assert "—" in set(table[msg("intake.customer")])
    assert set(table[msg("service.cause")]) == {"权限不足", "—"}

    at.selectbox(key="rep_f_channel").select("email").run()
    table = _work_table(at)
    assert len(table) == 1 and table[msg("service.cause")].iloc[0] == "权限不足"

    at.selectbox(key="rep_f_channel").set_value(None)
    at.selectbox(key="rep_f_state").select("closed").run()
    assert list(_work_table(at)[msg("case.state")]) == [msg("state.closed")]

    at.selectbox(key="rep_f_state").set_value(None).run()
    at.checkbox(key="rep_imported").check().run()
    ids = list(_work_table(at)[msg("case.number")])
    assert len(ids) == 2 + 84 and sum(i.startswith("DEMO-C-") for i in ids) == 84


def test_the_page_computes_the_summary_once(open_app, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    summary = Reports.summary

    def counted(self, *args, **kwargs):
        calls.append(args[1])
        return summary(self, *args, **kwargs)

    monkeypatch.setattr(Reports, "summary", counted)
    at = open_app("manager", script=page_path("reports"))
    assert not at.exception, [e.value for e in at.exception]
    assert len(calls) == 1
