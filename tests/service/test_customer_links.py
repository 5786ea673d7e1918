"""Confirmation and satisfaction by link (issue 13): the link mailed on resolve and after
close, kept only as a hash; one answer per link, also when two come at once; what each
answer does to the case; answers an agent records by phone; and the report's figures."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from errors import BadInput, InvalidTransition, LinkGone, NotFound
from service.auth import CUSTOMER, SYSTEM, User
from service.customer_links import case_lang
from service.desk import Desk
from service.engine import Engine
from settings import load_settings
from tests.helpers import small_kb_records

PORTAL = "https://help.example.com"
MAIL = "zhang@example.com"


def make_desk(data_dir: Path, **settings) -> Desk:
    s = load_settings(str(data_dir), model="hash:256", vector_backend="numpy",
                      portal_url=PORTAL, **settings)
    desk = Desk(Engine(s))
    desk.engine.upsert(small_kb_records())
    for name, role in (("ann", "first_line"), ("li", "engineer"), ("mgr", "manager")):
        desk.users.add(SYSTEM, name, "password-123", role, display_name=f"{name}-工程师")
    return desk


@pytest.fixture
def desk(data_dir: Path) -> Iterator[Desk]:
    d = make_desk(data_dir)
    yield d
    d.close()


def user(desk: Desk, name: str) -> User:
    return desk.users.get(name)


def resolved(desk: Desk, contact: str = f"张经理 {MAIL}", channel: str = "phone",
             text: str = "NVR提示硬盘错误，录像回放查不到") -> str:
    """A case opened by ann, taken and resolved by li: its number."""
    case_id = desk.cases.open(user(desk, "ann"), text, channel=channel, contact=contact,
                              product="NVR-4216").id
    desk.cases.start(user(desk, "li"), case_id)
    desk.cases.resolve(user(desk, "li"), case_id, "更换硬盘并初始化，录像恢复")
    return case_id


def mails(desk: Desk, case_id: str) -> list:
    return [r for r in reversed(desk.notify.rows(SYSTEM, limit=1000))
            if r.recipient == f"customer:{case_id}"]


def token_of(row) -> str:
    return urlsplit(row.payload["link"]).path.rsplit("/", 1)[1]


def table(desk: Desk, name: str) -> list[dict]:
    return list(desk.engine.kb.db.query(f"SELECT * FROM {name} ORDER BY id"))


# -- sending ----------------------------------------------------------------------------------
def test_resolving_mails_the_customer_a_confirm_link_kept_only_as_its_hash(desk):
    case_id = resolved(desk)
    (row,) = mails(desk, case_id)
    assert (row.channel, row.address, row.lang, row.state) == ("email", MAIL, "zh", "pending")
    assert row.payload["subject"] == f"工单 {case_id} 已处理完毕，请您确认"
    assert "NVR-4216" in row.payload["lines"][0]
    assert row.payload["link"].startswith(f"{PORTAL}/portal/answer/")
    assert "li-工程师" not in json.dumps(row.payload, ensure_ascii=False)  # no engineer
    token = token_of(row)
    assert len(token) >= 43
    (link,) = table(desk, "customer_links")
    assert link["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(link) and token not in json.dumps(table(desk, "events"))
    assert (link["purpose"], link["via"], link["case_id"]) == ("confirm", "mail", case_id)
    sent_at = datetime.fromisoformat(link["send_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert expires - sent_at == timedelta(days=14)  # the answer_link_days setting

    desk.notify.outbox.sent(row.id)  # once delivered, the link is nowhere in the database
    assert desk.notify.outbox.rows()[0].payload["link"] == ""
    dump = "\n".join(desk.engine.kb.db.conn.iterdump())
    assert token not in dump


def test_no_address_no_mail_and_the_customer_record_gives_one(desk):
    bare = resolved(desk, contact="王女士 138-0000-0000")
    assert mails(desk, bare) == [] and table(desk, "customer_links") == []
    db = desk.engine.kb.db
    with desk.engine.kb.transaction():
        db["customers"].insert({"id": "CU-1", "name": "远洋物流", "contacts": json.dumps(
            [{"name": "刘", "phone": "139"}, {"name": "周", "email": "it@ocean.example"}])})
    case_id = desk.cases.open(user(desk, "ann"), "门禁读卡器刷卡没反应", channel="phone").id
    db.execute("UPDATE cases SET customer_id = 'CU-1' WHERE id = ?", [case_id])
    desk.cases.start(user(desk, "li"), case_id)
    desk.cases.resolve(user(desk, "li"), case_id, "更换读卡器")
    assert [r.address for r in mails(desk, case_id)] == ["it@ocean.example"]


def test_closing_queues_the_follow_up_link_for_follow_up_days_later(desk):
    case_id = resolved(desk)
    desk.cases.close(user(desk, "li"), case_id)  # no confirmation wanted now: dropped
    (follow,) = mails(desk, case_id)
    assert follow.payload["subject"] == f"工单 {case_id} 服务回访"
    due = datetime.fromisoformat(follow.next_attempt_at.replace("Z", "+00:00"))
    assert abs(due - datetime.now(UTC) - timedelta(days=7)) < timedelta(minutes=1)
    assert desk.notify.outbox.claim("test", 10, 60) == []  # not due before then
    later = desk.notify.outbox.claim("test", 10, 60, now=time.time() + 7 * 86400 + 60)
    assert [r.id for r in later] == [follow.id]


def test_no_follow_up_link_when_follow_up_days_is_0(data_dir):
    desk = make_desk(data_dir, follow_up_days=0)
    try:
        case_id = resolved(desk)
        desk.cases.close(user(desk, "li"), case_id)
        assert mails(desk, case_id) == []
    finally:
        desk.close()


# -- answering ----------------------------------------------------------------------------------
def test_the_customer_confirms_and_rates_by_link_once(desk):
    case_id = resolved(desk)
    token = token_of(mails(desk, case_id)[0])
    shown = desk.links.shown(token)
    assert (shown.case_id, shown.product, shown.rated) == (case_id, "NVR-4216", False)
    assert shown.fix == "更换硬盘并初始化，录像恢复"
    given = desk.links.answer(token, worked=True, rating=4, comment="很及时")
    assert (given.source, given.worked, given.rating, given.actor) == ("link", True, 4,
                                                                        CUSTOMER.username)
    case = desk.cases.get(case_id)
    assert case.state == "confirmed"
    assert (case.fields["satisfaction"], case.fields["satisfaction_comment"]) == (4, "很及时")
    confirm = [e for e in desk.engine.kb.events(f"case:{case_id}") if e["action"] == "confirm"]
    assert [(e["actor"], json.loads(e["detail"])["source"]) for e in confirm] == [
        ("customer", "link")]
    for again in (lambda: desk.links.shown(token),
                  lambda: desk.links.answer(token, worked=True, rating=1)):
        with pytest.raises(LinkGone) as used:
            again()
        assert used.value.key == "link_used"
    assert desk.cases.get(case_id).fields["satisfaction"] == 4


def test_did_not_work_reopens_the_case_with_the_customers_words(desk):
    case_id = resolved(desk)
    token = token_of(mails(desk, case_id)[0])
    with pytest.raises(BadInput) as words:
        desk.links.answer(token, worked=False)
    assert words.value.key == "answer_words"
    desk.links.answer(token, worked=False, rating=2, comment="还是查不到3号通道的录像")
    case = desk.cases.get(case_id)
    assert case.state == "in_progress" and not case.fields["satisfaction"]
    reopen = [json.loads(e["detail"]) for e in desk.engine.kb.events(f"case:{case_id}")
              if e["action"] == "reopen"]
    assert reopen == [{"from": "resolved", "to": "in_progress",
                       "reason": "还是查不到3号通道的录像", "source": "link"}]
    (answer,) = desk.links.answers(user(desk, "ann"), case_id)
    assert (answer.worked, answer.rating) == (False, 2)
    desk.cases.resolve(user(desk, "li"), case_id, "更换3号通道的摄像机线缆")
    first, again = mails(desk, case_id)  # resolved again: a new link
    assert token_of(first) == token and token_of(again) != token


@pytest.mark.parametrize(("form", "key"), [
    ({}, "answer_worked"),
    ({"worked": True}, "answer_rating"),
    ({"worked": True, "rating": 6}, "satisfaction_range"),
    ({"worked": True, "rating": 5, "comment": "好" * 2001}, "answer_long"),
])
def test_a_confirmation_that_cannot_be_taken_changes_nothing(desk, form, key):
    case_id = resolved(desk)
    token = token_of(mails(desk, case_id)[0])
    with pytest.raises(BadInput) as bad:
        desk.links.answer(token, **form)
    assert bad.value.key == key
    assert desk.cases.get(case_id).state == "resolved"
    assert table(desk, "customer_answers") == []
    desk.links.answer(token, worked=True, rating=5)  # the link still works


def test_an_expired_or_unknown_link_is_refused(desk):
    case_id = resolved(desk)
    token = token_of(mails(desk, case_id)[0])
    past = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    desk.engine.kb.db.execute("UPDATE customer_links SET expires_at = ?", [past])
    for attempt in (lambda: desk.links.shown(token),
                    lambda: desk.links.answer(token, worked=True, rating=5)):
        with pytest.raises(LinkGone) as gone:
            attempt()
        assert gone.value.key == "link_expired"
    for wrong in ("", token[:-1], token + "x", "x" * 5000, "../" + token):
        with pytest.raises(NotFound) as unknown:
            desk.links.shown(wrong)
        assert unknown.value.key == "link_unknown"
    assert desk.cases.get(case_id).state == "resolved"


def test_two_answers_at_once_one_is_taken(desk):
    case_id = resolved(desk)
    token = token_of(mails(desk, case_id)[0])
    start, results = threading.Barrier(2), []

    def answer(rating: int) -> None:
        start.wait()
        try:
            results.append(desk.links.answer(token, worked=True, rating=rating).rating)
        except LinkGone as exc:
            results.append(exc.key)

    threads = [threading.Thread(target=answer, args=(r,)) for r in (2, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count("link_used") == 1, results
    rating = next(r for r in results if r != "link_used")
    assert desk.cases.get(case_id).fields["satisfaction"] == rating
    assert len(table(desk, "customer_answers")) == 1


def test_the_database_itself_refuses_a_second_answer_to_a_link(desk):
    import sqlite3

    case_id = resolved(desk)
    desk.links.answer(token_of(mails(desk, case_id)[0]), worked=True, rating=3)
    (first,) = table(desk, "customer_answers")
    with pytest.raises(sqlite3.IntegrityError):
        desk.engine.kb.db.execute(
            "INSERT INTO customer_answers (case_id, purpose, source, link_id, at) "
            "VALUES (?, 'confirm', 'link', ?, 'now')", [case_id, first["link_id"]])


@pytest.mark.parametrize(("outcome", "state"), [("solved", "closed"), ("unhappy", "closed"),
                                                ("came_back", "in_progress")])
def test_follow_up_outcomes_by_link(desk, outcome, state):
    case_id = resolved(desk)
    desk.cases.close(user(desk, "li"), case_id)  # not rated at confirmation
    token = token_of(mails(desk, case_id)[-1])
    assert desk.links.shown(token).link.purpose == "follow_up"
    with pytest.raises(BadInput):
        desk.links.answer(token, outcome="unreachable")  # the agent's finding, not theirs
    given = desk.links.answer(token, outcome=outcome, rating=3, comment="运行正常")
    case = desk.cases.get(case_id)
    assert case.state == state
    assert case.fields["follow_up"]["outcome"] == outcome
    assert case.fields["follow_up"]["by"] == "customer"
    assert case.fields["satisfaction"] == 3 and given.rating == 3
    events = [(e["action"], json.loads(e["detail"]).get("source"))
              for e in desk.engine.kb.events(f"case:{case_id}") if e["actor"] == "customer"]
    assert events == [("follow_up", "link")] + ([("reopen", "link")] if state != "closed"
                                                else [])


def test_a_follow_up_keeps_the_rating_given_at_confirmation(desk):
    case_id = resolved(desk)
    desk.links.answer(token_of(mails(desk, case_id)[0]), worked=True, rating=5)
    desk.cases.close(user(desk, "li"), case_id)
    token = token_of(mails(desk, case_id)[-1])
    assert desk.links.shown(token).rated
    given = desk.links.answer(token, outcome="solved", rating=1)
    assert given.rating is None and desk.cases.get(case_id).fields["satisfaction"] == 5


# -- by phone and by an agent's link ---------------------------------------------------------------
def test_answers_recorded_by_an_agent_are_marked_phone_and_end_the_links(desk):
    case_id = resolved(desk)
    confirm_mail = mails(desk, case_id)[0]
    token = token_of(confirm_mail)
    desk.cases.confirm(user(desk, "ann"), case_id, 2, "电话里说还行")
    (answer,) = desk.links.answers(user(desk, "ann"), case_id)
    assert (answer.source, answer.link_id, answer.rating, answer.comment, answer.actor) == (
        "phone", None, 2, "电话里说还行", "ann")
    with pytest.raises(LinkGone):
        desk.links.shown(token)
    assert mails(desk, case_id) == []  # never tried: dropped, the question is answered
    desk.cases.close(user(desk, "li"), case_id)
    follow = token_of(mails(desk, case_id)[0])
    desk.cases.follow_up(user(desk, "ann"), case_id, "unreachable", "无人接听")
    assert [(a.purpose, a.source, a.outcome) for a in desk.links.answers(
        user(desk, "ann"), case_id)] == [("confirm", "phone", None),
                                         ("follow_up", "phone", "unreachable")]
    with pytest.raises(LinkGone):
        desk.links.shown(follow)


def test_an_agent_issues_a_fresh_link_to_paste_into_a_chat(desk):
    case_id = desk.cases.open(user(desk, "ann"), "球机不能转动", channel="phone").id
    with pytest.raises(InvalidTransition) as early:
        desk.links.issue(user(desk, "ann"), case_id, "confirm")
    assert early.value.key == "link_not_now"
    with pytest.raises(BadInput):
        desk.links.issue(user(desk, "ann"), case_id, "survey")
    desk.cases.start(user(desk, "li"), case_id)
    desk.cases.resolve(user(desk, "li"), case_id, "重新上电并校准云台")
    link, url = desk.links.issue(user(desk, "ann"), case_id, "confirm")
    assert (link.via, link.created_by) == ("copy", "ann")
    assert url.startswith(f"{PORTAL}/portal/answer/") and mails(desk, case_id) == []
    other, second = desk.links.issue(user(desk, "ann"), case_id, "confirm")
    assert other.id != link.id and second != url
    desk.links.answer(urlsplit(second).path.rsplit("/", 1)[1], worked=True, rating=5)
    with pytest.raises(LinkGone):  # the question is answered: the first link ends too
        desk.links.shown(urlsplit(url).path.rsplit("/", 1)[1])


def test_the_language_of_a_case(desk):
    assert case_lang({}) == "zh" and case_lang({"lang": "en"}) == "en"
    assert case_lang({"lang": "fr"}) == "zh"


# -- the report ----------------------------------------------------------------------------------
def test_the_report_counts_what_was_recorded(desk):
    by_link = resolved(desk, channel="email")  # answered by link: 4
    by_phone = resolved(desk)  # answered by phone: 2
    quiet = resolved(desk)  # sent, not answered
    no_mail = resolved(desk, contact="陈主任")  # no address: nothing sent; rated by phone 5
    early = resolved(desk)  # answered by phone before its mail went: never sent; rated 1
    token = token_of(mails(desk, by_link)[0])
    for case_id in (by_link, by_phone, quiet):
        for row in mails(desk, case_id):
            desk.notify.outbox.sent(row.id)  # what the sender does
    desk.links.answer(token, worked=True, rating=4)
    desk.cases.confirm(user(desk, "ann"), by_phone, 2)
    desk.cases.confirm(user(desk, "ann"), no_mail, 5)
    desk.cases.confirm(user(desk, "ann"), early, 1)
    assert mails(desk, early) == []
    today = datetime.now(UTC).date()
    summary = desk.reports.summary(user(desk, "mgr"), today.isoformat(),
                                   (today + timedelta(days=1)).isoformat())
    data = summary["answers"]
    assert (data["sent"], data["answered"], data["response_rate"]) == (3, 2, 0.6667)
    assert data["by_question"] == [
        {"question": "confirm", "sent": 3, "answered": 2, "by_link": 1, "by_phone": 1,
         "response_rate": 0.6667},
        {"question": "follow_up", "sent": 0, "answered": 0, "by_link": 0, "by_phone": 0,
         "response_rate": None}]
    assert data["satisfaction_by_source"] == [
        {"source": "link", "rated": 1, "mean": 4.0},
        {"source": "phone", "rated": 3, "mean": 2.67}]
    assert data["satisfaction_by_engineer"] == [{"assignee": "li", "rated": 4, "mean": 3.0}]
    assert data["satisfaction_by_channel"] == [{"channel": "email", "rated": 1, "mean": 4.0},
                                               {"channel": "phone", "rated": 3, "mean": 2.67}]
    # every rated case once, with the rating it holds: the summary's own figures agree
    assert (summary["satisfaction"]["n"], summary["satisfaction"]["mean"]) == (4, 3.0)
    assert all(sum(r["rated"] for r in rows) == 4
               for rows in data["satisfaction_by_label"].values())
    assert quiet not in {a.case_id for c in (by_link, by_phone, quiet)
                         for a in desk.links.answers(user(desk, "mgr"), c)}
