"""The customer's answers in the app (issue 13): the case page gives an agent a fresh link
to paste into a chat and lists the answers, by link or by phone; the reports page shows
the response rate the service computes."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tests.ui.conftest import OPEN_FAULT, page_path
from tests.ui.test_loop import case_page
from tests.ui.test_pages import button, healthy, msg


@pytest.fixture
def resolved(ui_desk) -> str:
    [case] = [c for c in ui_desk.cases.list() if c.description == OPEN_FAULT]
    ui_desk.cases.resolve(ui_desk.users.get("engineer"), case.id, "打印机改用保留地址",
                          confirm=True)
    return case.id


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_agent_copies_a_link_and_the_answer_shows_on_the_case(open_app, ui_desk, resolved,
                                                                  lang):
    at = case_page(open_app, "agent", resolved, lang)
    assert msg("answer.none", lang) in [c.value for c in at.caption]
    question = msg("answer.question.confirm", lang)
    button(at, msg("answer.copy", lang, question=question)).click().run()
    healthy(at, "link issued")
    [url] = [c.value for c in at.code]
    token = urlsplit(url).path.rsplit("/", 1)[1]
    ui_desk.links.answer(token, worked=True, rating=4, comment="师傅很**专业**")

    at = case_page(open_app, "agent", resolved, lang)
    shown = [plain(m.value) for m in at.markdown]
    lines = [m for m in shown if msg("answer.source.link", lang) in m]
    assert len(lines) == 1 and lines[0].endswith("★★★★"), lines
    assert msg("answer.worked_yes", lang) in lines[0]
    assert any("<strong>专业</strong>" in m.value for m in at.markdown)
    assert msg("answer.customer", lang) in [m.value for m in at.markdown][-1]  # timeline
    assert not at.code  # a link is shown once, to whoever issued it

    # the follow-up call, recorded on the page: kept as given by phone
    at.radio(key="follow_outcome").set_value("solved")
    button(at, msg("follow.submit", lang)).click().run()
    healthy(at, "followed up")
    phone = [plain(m.value) for m in at.markdown
             if msg("answer.source.phone", lang) in plain(m.value)]
    assert len(phone) == 1 and msg("follow.outcome.solved", lang) in phone[0]


def test_the_reports_page_shows_the_response_rate(open_app, ui_desk, resolved):
    _link, url = ui_desk.links.issue(ui_desk.users.get("agent"), resolved, "confirm")
    ui_desk.links.answer(urlsplit(url).path.rsplit("/", 1)[1], worked=True, rating=5)
    at = open_app("manager", script=page_path("reports"))
    healthy(at, "reports")
    today = datetime.now(UTC).date()
    data = ui_desk.reports.summary(ui_desk.users.get("manager"),
                                   (today - timedelta(weeks=12)).isoformat(),
                                   (today + timedelta(days=1)).isoformat())["answers"]
    assert data["response_rate"] == 1.0
    [rate] = [m for m in at.metric if m.label == msg("rep.response_rate", "zh")]
    assert rate.value == "100%"
    assert msg("rep.answers", "zh") in [h.value for h in at.subheader]


def plain(markdown: str) -> str:
    """A line as the browser shows it: the escapes of md_escape undone."""
    return html.unescape(markdown.replace("\\", ""))
