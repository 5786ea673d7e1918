"""Faster pages: the case page finds a case by typing (number, customer, text) and pages
through what it finds; long lists turn pages; the reports and coverage pages compute
their figures once per change of the data, not on every rerun."""

from __future__ import annotations

import pytest
import streamlit as st

from service.reports import Reports
from tests.ui.conftest import page_path
from tests.ui.test_pages import healthy, msg
from ui.views.coverage import GAPS_PER_PAGE
from ui.widgets import PER_PAGE


def picks(at) -> list[str]:
    """The numbers of the cases the case page lists, in order."""
    return [b.key.removeprefix("case_pick_") for b in at.button
            if b.key and b.key.startswith("case_pick_")]


def test_typing_part_of_a_number_or_a_chinese_customer_opens_the_case(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    wanted = ui_desk.cases.open(agent, "考勤机联网后上传失败", customer="江南纺织厂")
    at = open_app("agent")
    at.switch_page(page_path("case")).run()
    healthy(at)
    assert picks(at) == []  # nothing opened yet: the newest case
    assert at.subheader[0].value.startswith(f"{msg('case.number', 'zh')} {wanted.id} ")
    at.session_state["case_id"] = ui_desk.cases.list({"closed"})[0].id  # another one
    at.text_input(key="case_q").input(wanted.id[-6:]).run()
    assert wanted.id in picks(at)
    at.text_input(key="case_q").input("江南纺织").run()
    assert picks(at) == [wanted.id]
    at.button(key=f"case_pick_{wanted.id}").click().run()
    healthy(at, "opened")
    assert at.subheader[0].value.startswith(f"{msg('case.number', 'zh')} {wanted.id} ")
    assert at.text_input(key="case_q").value == ""  # empty again for the next search
    assert picks(at) == []  # the case, not the list
    at.text_input(key="case_q").input("没有这样的客户").run()
    assert picks(at) == []
    assert msg("case.found_none", "zh") in [i.value for i in at.info]


def test_the_list_turns_pages_and_a_new_search_starts_on_the_first(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    total = ui_desk.queries.find_cases(agent, "DEMO").total  # the demo history
    assert total > 2 * PER_PAGE
    at = open_app("agent", "en")
    at.switch_page(page_path("case")).run()
    at.text_input(key="case_q").input("DEMO").run()
    first = picks(at)
    assert len(first) == PER_PAGE and at.button(key="case_q_page_prev").disabled
    at.button(key="case_q_page_next").click().run()
    second = picks(at)
    assert len(second) == PER_PAGE and not set(first) & set(second)
    pages = -(-total // PER_PAGE)
    assert msg("page.of", "en", page=2, pages=pages, total=total) in [c.value for c in at.caption]
    at.text_input(key="case_q").input("DEMO-C").run()
    assert at.session_state["case_q_page"] == 0
    assert picks(at) == first


def test_a_page_the_list_shrank_below_falls_back_to_the_last(open_app, ui_desk):
    at = open_app("agent")
    at.switch_page(page_path("case")).run()
    at.text_input(key="case_q").input("DEMO").run()
    at.session_state["case_q_page"] = 10_000
    at.run()
    healthy(at)
    assert picks(at), "the last page, not an empty one"


def test_the_knowledge_list_turns_pages(open_app, ui_desk):
    count = ui_desk.knowledge.count()
    at = open_app("engineer", "en")
    at.switch_page(page_path("knowledge")).run()
    assert len(at.dataframe(key="kn_table").value) == min(count, PER_PAGE)
    if count > PER_PAGE:
        at.button(key="kn_page_next").click().run()
        healthy(at)
        assert len(at.dataframe(key="kn_table").value) == min(count - PER_PAGE, PER_PAGE)


@pytest.fixture
def summaries(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every Reports.summary computed from here on: (start, end) each."""
    st.cache_data.clear()
    calls: list[tuple] = []
    real = Reports.summary

    def counted(self, actor, start, end, *args, **kwargs):
        calls.append((start, end))
        return real(self, actor, start, end, *args, **kwargs)

    monkeypatch.setattr(Reports, "summary", counted)
    return calls


def test_reports_and_coverage_compute_the_summary_once_per_change(open_app, ui_desk,
                                                                   summaries):
    at = open_app("manager")
    at.switch_page(page_path("reports")).run()
    healthy(at, "reports")
    assert len(summaries) == 1  # once per run, the downloads only when clicked
    at.run()
    assert len(summaries) == 1  # a rerun with nothing changed: kept
    at.switch_page(page_path("coverage")).run()
    healthy(at, "coverage")
    assert len(summaries) == 1  # the same period: the same figures
    agent = ui_desk.users.get("agent")
    case = ui_desk.cases.list({"triaged"})[0]
    ui_desk.cases.start(agent, case.id)  # a case changes
    at.run()
    assert len(summaries) == 2
    at.date_input(key="cov_from").set_value(at.date_input(key="cov_to").value).run()
    assert len(summaries) == 3  # another period


def test_coverage_lists_the_gap_clusters_a_page_at_a_time(open_app, ui_desk):
    agent = ui_desk.users.get("agent")
    words = ["锅炉", "电梯", "水泵", "风机", "闸机", "广播", "投影", "冷库", "叉车", "充电桩",
             "光伏", "喷淋", "扶梯", "道闸"]
    for word in words:  # faults the demo KB knows nothing about, each unlike the others
        ui_desk.cases.open(agent, f"{word}{word}{word} {word}故障 {word}停机", channel="phone")
    at = open_app("manager")
    at.switch_page(page_path("coverage")).run()
    healthy(at, "coverage")
    writes = [b for b in at.button if b.key and b.key.startswith("gap-write-")]
    assert len(writes) == GAPS_PER_PAGE
    at.button(key="cov_gaps_page_next").click().run()
    healthy(at, "coverage, page 2")
    more = [b.key for b in at.button if b.key and b.key.startswith("gap-write-")]
    assert more and not set(more) & {b.key for b in writes}
