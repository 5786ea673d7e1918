"""Finding cases page by page (the case page's search box, the queue's tabs) and the
reports' data version the app keeps its figures under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from errors import BadInput, PermissionDenied
from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine

RECEIVED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CASES = [  # (customer, description), received an hour apart, oldest first
    ("张三物业", "NVR提示硬盘错误，查不到录像"),
    ("李四超市", "门禁读卡器刷卡没反应"),
    ("Acme 100%_Ltd", "Printer shows paper jam"),
    ("张三物业", "摄像机夜间画面全黑"),
    ("王五学校", "考勤机数据上传失败"),
]


@pytest.fixture
def desk(engine: Engine) -> Desk:
    d = Desk(engine)
    d.users.add(SYSTEM, "agent", "correct horse", "first_line", team="support")
    d.users.add(SYSTEM, "eng", "correct horse", "engineer", team="support")
    d.users.add(SYSTEM, "boss", "correct horse", "manager")
    agent = d.users.get("agent")
    for n, (customer, text) in enumerate(CASES):
        when = (RECEIVED + timedelta(hours=n)).isoformat()
        d.cases.open(agent, text, customer=customer, channel="phone", received_at=when,
                     team="support")
    return d


def _ids(desk: Desk) -> list[str]:
    """The cases' numbers in CASES' order."""
    return [c.id for c in reversed(desk.cases.list())]


def found(desk: Desk, text: str, offset: int = 0, limit: int = 20) -> tuple[list[str], int]:
    page = desk.queries.find_cases(desk.users.get("agent"), text, offset, limit)
    return [c.id for c in page.items], page.total


def test_part_of_a_case_number_finds_that_case(desk: Desk) -> None:
    ids = _ids(desk)
    assert found(desk, ids[2]) == ([ids[2]], 1)
    tail = ids[2][-4:]  # the running number
    hits, total = found(desk, tail)
    assert ids[2] in hits and total == len(hits)


def test_a_chinese_customer_or_fault_finds_its_cases_newest_first(desk: Desk) -> None:
    ids = _ids(desk)
    assert found(desk, "张三") == ([ids[3], ids[0]], 2)
    assert found(desk, "刷卡") == ([ids[1]], 1)
    assert found(desk, "张三 夜间") == ([ids[3]], 1)  # every word must match
    assert found(desk, "printer") == ([ids[2]], 1)  # Latin letters in any case


def test_like_wildcards_in_the_text_are_taken_literally(desk: Desk) -> None:
    ids = _ids(desk)
    assert found(desk, "100%_") == ([ids[2]], 1)
    assert found(desk, "%") == ([ids[2]], 1)
    assert found(desk, "_") == ([ids[2]], 1)


def test_an_empty_search_pages_through_every_case(desk: Desk) -> None:
    ids = _ids(desk)
    assert found(desk, "", 0, 2) == ([ids[4], ids[3]], 5)
    assert found(desk, "  ", 2, 2) == ([ids[2], ids[1]], 5)
    assert found(desk, "", 4, 2) == ([ids[0]], 5)


def test_an_offset_past_the_end_finds_nothing_but_still_counts(desk: Desk) -> None:
    assert found(desk, "", 50) == ([], 5)
    assert found(desk, "张三", 2) == ([], 2)
    assert found(desk, "没有这种故障") == ([], 0)


@pytest.mark.parametrize(("offset", "limit", "key"), [(-1, 20, "bad_offset"),
                                                      (0, 0, "bad_limit"),
                                                      (0, 201, "bad_limit")])
def test_bad_pages_are_refused(desk: Desk, offset: int, limit: int, key: str) -> None:
    with pytest.raises(BadInput) as err:
        found(desk, "", offset, limit)
    assert err.value.key == key


def test_queue_views_count_every_case_and_read_only_a_page(desk: Desk) -> None:
    ids = _ids(desk)
    agent, eng = desk.users.get("agent"), desk.users.get("eng")
    desk.cases.escalate(agent, ids[0], "eng", "needs a visit")
    opened = desk.queries.queue(agent, "opened", offset=0, limit=2)
    assert opened.total == 5 and len(opened.items) == 2
    assert [c.id for c in desk.queries.queue(eng, "escalated").items] == [ids[0]]
    assert [c.id for c in desk.queries.queue(eng, "mine").items] == [ids[0]]
    assert desk.queries.queue(agent, "mine").total == 0
    assert desk.queries.queue(agent, "team").total == 5  # the intake's team: the agent's
    assert desk.queries.queue(desk.users.get("boss"), "team").total == 0  # no team
    assert desk.queries.queue(agent, "all", states=("escalated",)).total == 1
    assert desk.queries.queue(agent, "all", offset=10).items == []


def test_queue_puts_overdue_then_at_risk_cases_first(desk: Desk) -> None:
    ids, agent = _ids(desk), desk.users.get("agent")
    now = RECEIVED + timedelta(hours=10)
    for n, hours in ((0, 9), (1, 12)):  # the oldest overdue, the next at risk
        desk.engine.kb.update("case", ids[n], {"due_response": (
            RECEIVED + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")}, "test", "due")
    every = desk.queries.queue(agent, "all", now=now)
    assert [c.id for c in every.items] == [ids[0], ids[1], ids[4], ids[3], ids[2]]
    late = desk.queries.queue(agent, "all", deadlines=("overdue", "at_risk"), now=now)
    assert (late.total, [c.id for c in late.items]) == (2, [ids[0], ids[1]])
    with pytest.raises(BadInput):
        desk.queries.queue(agent, "everything")


def test_the_reports_version_moves_with_every_change_a_report_reads(desk: Desk) -> None:
    boss, agent = desk.users.get("boss"), desk.users.get("agent")
    case_id = _ids(desk)[0]
    seen = [desk.reports.data_version(boss)]
    assert desk.reports.data_version(boss) == seen[0]  # nothing changed: the same
    desk.cases.start(agent, case_id)  # a case changes
    seen.append(desk.reports.data_version(boss))
    desk.cases.link_fix(agent, case_id, f"case:{_ids(desk)[1]}", helpful=False)  # a link
    seen.append(desk.reports.data_version(boss))
    assert len(set(seen)) == 3


def test_only_report_readers_get_the_reports_version(desk: Desk) -> None:
    with pytest.raises(PermissionDenied):
        desk.reports.data_version(desk.users.get("agent"))
