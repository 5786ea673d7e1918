"""Notifications (issue 11): delivery to a real webhook receiver on loopback — every
format's payload and signature as the receiver checks them, retries with back-off, dead
rows, leases, and two senders at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.auth import SYSTEM
from service.desk import Desk
from service.notify.outbox import Outbox, backoff_delay, stamp
from tests.service.test_notify_rules import BASE, make_desk, open_case, rows, user

SECRET = "SEC0123456789abcdef"


@pytest.fixture
def desk(data_dir: Path) -> Iterator[Desk]:
    d = make_desk(data_dir, notify_backoff=10.0, notify_backoff_max=25.0,
                  notify_max_attempts=3)
    yield d
    d.close()


def escalate_to_bob(desk: Desk) -> str:
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "li"), case_id, "bob", "needs a specialist")
    return case_id


def hmac_b64(key: str, data: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha256).digest()
                            ).decode()


# -- every format, as its receiver sees it ------------------------------------------------------
def check_generic(got, row, case_id) -> None:
    body = got.json
    assert body["event_id"] == row.event_id and body["kind"] == "escalated"
    assert body["subject"].startswith(f"Case {case_id} was escalated to you")
    assert body["link"] == f"{BASE}/case?id={case_id}" and body["lang"] == "en"
    assert body["facts"]["Priority"] in ("high", "critical", "medium", "low")
    ts = got.headers["x-knownfix-timestamp"]
    assert abs(int(ts) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), ts.encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(got.headers["x-knownfix-signature"],
                               "sha256=" + expected.hexdigest())


def check_wecom(got, row, case_id) -> None:
    body = got.json
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith(f"**Case {case_id} was escalated to you")
    assert f"[Open the case]({BASE}/case?id={case_id})" in content
    assert len(content.encode()) <= 4096 and got.query == {}


def check_dingtalk(got, row, case_id) -> None:
    body = got.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith(f"Case {case_id} was escalated")
    assert f"({BASE}/case?id={case_id})" in body["markdown"]["text"]
    ts = got.query["timestamp"]  # milliseconds
    assert abs(int(ts) / 1000 - time.time()) < 60
    assert got.query["access_token"] == "tok"  # the robot's own parameter is kept
    # parse_qs decoded the sign: it matches only if it was URL-encoded when sent
    assert got.query["sign"] == hmac_b64(SECRET, f"{ts}\n{SECRET}")


def check_feishu(got, row, case_id) -> None:
    body = got.json
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["en_us"]
    assert post["title"].startswith(f"Case {case_id} was escalated to you")
    links = [el for line in post["content"] for el in line if el["tag"] == "a"]
    assert links == [{"tag": "a", "text": "Open the case", "href": f"{BASE}/case?id={case_id}"}]
    ts = body["timestamp"]  # seconds, a string
    assert abs(int(ts) - time.time()) < 60
    key = f"{ts}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def check_slack(got, row, case_id) -> None:
    body = got.json
    assert body["text"].startswith(f"Case {case_id} was escalated to you")
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith(f"*Case {case_id} was escalated to you")
    assert context["elements"][0]["text"] == f"<{BASE}/case?id={case_id}|Open the case>"


def check_teams(got, row, case_id) -> None:
    body = got.json
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"].startswith(f"Case {case_id} was escalated to you")
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the case",
                                "url": f"{BASE}/case?id={case_id}"}]
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert any(f["title"] == "Priority" for f in facts)


CHECKS = {"generic": check_generic, "wecom": check_wecom, "dingtalk": check_dingtalk,
          "feishu": check_feishu, "slack": check_slack, "teams": check_teams}


@pytest.mark.parametrize("fmt", list(CHECKS))
def test_each_webhook_format_arrives_as_its_receiver_expects(desk, receiver, fmt):
    path = f"/{fmt}"
    url = receiver.url(path) + ("?access_token=tok" if fmt == "dingtalk" else "")
    desk.notify.set_prefs(SYSTEM, "bob", webhook=url, webhook_format=fmt, secret=SECRET)
    case_id = escalate_to_bob(desk)
    report = desk.notify.sender(scans=False).run_once()
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    (got,) = receiver.on(path)
    (row,) = rows(desk)
    assert row.state == "sent" and row.sent_at and row.attempts == 1
    assert got.event_id == row.event_id  # the id a receiver dedupes by, on every format
    assert got.headers["content-type"].startswith("application/json")
    CHECKS[fmt](got, row, case_id)


def test_a_chinese_recipient_gets_chinese_in_the_chat_robot(desk, receiver):
    desk.notify.set_prefs(SYSTEM, "li", webhook=receiver.url("/wecom"), webhook_format="wecom")
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "bob"), case_id, "li", "需要现场处理")
    desk.notify.sender(scans=False).run_once()
    content = receiver.on("/wecom")[0].json["markdown"]["content"]
    assert f"工单 {case_id} 已升级给你" in content and "需要现场处理" in content
    assert f"[打开工单]({BASE}/case?id={case_id})" in content


def test_an_unsigned_generic_webhook_has_no_signature(desk, receiver):
    desk.notify.set_prefs(SYSTEM, "bob", webhook=receiver.url())
    escalate_to_bob(desk)
    desk.notify.sender(scans=False).run_once()
    (got,) = receiver.received
    assert "x-knownfix-signature" not in got.headers and got.event_id


def test_a_robot_error_code_in_a_200_answer_is_a_failure(desk, receiver):
    receiver.answers["/wecom"] = [(200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}')]
    desk.notify.set_prefs(SYSTEM, "bob", webhook=receiver.url("/wecom"), webhook_format="wecom")
    escalate_to_bob(desk)
    report = desk.notify.sender(scans=False).run_once()
    assert (report.sent, report.retrying) == (0, 1)
    (row,) = rows(desk)
    assert row.state == "pending" and "93000" in row.last_error and "invalid webhook url" \
        in row.last_error


# -- retries, back-off, dead rows -----------------------------------------------------------
def test_a_failed_delivery_is_retried_with_back_off_until_it_succeeds(desk, receiver):
    receiver.answers["/hook"] = [500, 503, 200]
    desk.notify.set_prefs(SYSTEM, "bob", webhook=receiver.url())
    escalate_to_bob(desk)
    sender = desk.notify.sender(scans=False)
    t0 = time.time()
    assert sender.run_once(now=t0).retrying == 1
    (row,) = rows(desk)
    assert (row.state, row.attempts) == ("pending", 1) and "500" in row.last_error
    assert row.next_attempt_at == stamp(t0 + 10)  # notify_backoff
    assert row.claimed_by is None
    assert sender.run_once(now=t0 + 9).retrying == 0  # not due yet: not tried
    assert len(receiver.received) == 1
    assert sender.run_once(now=t0 + 11).retrying == 1  # 503
    assert rows(desk)[0].next_attempt_at == stamp(t0 + 11 + 20)  # twice as long
    assert sender.run_once(now=t0 + 30).sent == 0
    assert sender.run_once(now=t0 + 32).sent == 1
    (row,) = rows(desk)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert len({r.event_id for r in receiver.received}) == 1  # three tries, one event id
    assert len(receiver.received) == 3


def test_a_row_goes_dead_after_max_attempts_is_listed_and_can_be_retried(desk, receiver):
    receiver.answers["/hook"] = [503, 503, 503, 200]
    desk.notify.set_prefs(SYSTEM, "bob", webhook=receiver.url())
    escalate_to_bob(desk)
    sender = desk.notify.sender(scans=False)
    now = time.time()
    states = []
    for _ in range(3):
        sender.run_once(now=now)
        states.append(rows(desk)[0].state)
        now += 30  # past the longest back-off (notify_backoff_max 25)
    assert states == ["pending", "pending", "dead"]
    (dead,) = desk.notify.rows(SYSTEM, state="dead")
    assert dead.attempts == 3 and "503" in dead.last_error
    assert desk.notify.counts(SYSTEM) == {"pending": 0, "sent": 0, "dead": 1}
    assert sender.run_once(now=now + 3600).sent == 0  # dead stays dead
    assert desk.notify.retry(SYSTEM) == 1
    assert sender.run_once().sent == 1
    assert desk.notify.counts(SYSTEM) == {"pending": 0, "sent": 1, "dead": 0}


@pytest.mark.parametrize(("status", "state"), [(404, "dead"), (400, "dead"), (429, "pending"),
                                               (500, "pending")])
def test_a_client_error_is_dead_at_once_but_throttling_is_retried(desk, receiver, status,
                                                                  state):
    receiver.answers["/hook"] = [status]
    desk.notify.set_prefs(SYSTEM, "bob", webhook=receiver.url())
    escalate_to_bob(desk)
    desk.notify.sender(scans=False).run_once()
    (row,) = rows(desk)
    assert (row.state, row.attempts) == (state, 1) and str(status) in row.last_error


def test_an_unreachable_webhook_is_retried(desk, receiver):
    url = receiver.url()
    receiver.close()
    desk.notify.set_prefs(SYSTEM, "bob", webhook=url)
    escalate_to_bob(desk)
    desk.notify.sender(scans=False).run_once()
    (row,) = rows(desk)
    assert row.state == "pending" and "Connection refused" in row.last_error
    assert "/hook" not in row.last_error  # the path (a robot's token) is not shown


@pytest.mark.parametrize(("attempts", "wait"), [(1, 10), (2, 20), (3, 40), (4, 80), (9, 100)])
def test_the_back_off_doubles_up_to_its_cap(attempts, wait):
    assert backoff_delay(attempts, 10, 100) == wait


# -- leases and concurrent senders ----------------------------------------------------------
def test_a_lease_keeps_other_senders_off_until_it_runs_out(desk):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
    escalate_to_bob(desk)
    outbox, now = Outbox(desk.engine.kb), time.time()
    (taken,) = outbox.claim("A", 10, lease=60, now=now)
    assert taken.claimed_by == "A" and taken.attempts == 1
    assert outbox.claim("B", 10, lease=60, now=now + 59) == []  # A's lease holds
    (again,) = outbox.claim("B", 10, lease=60, now=now + 61)  # A died: B takes it
    assert again.claimed_by == "B" and again.attempts == 2


def test_two_senders_at_once_never_send_one_row_twice(data_dir, receiver):
    desk = make_desk(data_dir)
    try:
        desk.notify.set_prefs(SYSTEM, "mgr", webhook=receiver.url())
        kb = desk.engine.kb
        with kb.transaction():  # 300 import events, each with its notification
            for n in range(300):
                kb.log("mgr", "import", f"file:batch-{n}.csv", {"taken": n, "rejected": 0})
        receiver.delay = 0.002
        senders = [desk.notify.sender(name=f"S{i}", scans=False) for i in range(2)]
        start, reports = threading.Barrier(2), {}

        def run(sender) -> None:
            start.wait()
            reports[sender.name] = sender.run_once()

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        ids = Counter(r.event_id for r in receiver.received)
        assert len(ids) == 300 and max(ids.values()) == 1  # every row once, none twice
        assert sum(r.sent for r in reports.values()) == 300
        assert all(r.sent > 0 for r in reports.values()), reports  # both really worked
        assert desk.notify.counts(SYSTEM) == {"pending": 0, "sent": 300, "dead": 0}
    finally:
        desk.close()


def test_a_failing_scan_or_a_broken_channel_does_not_stop_the_others(desk, receiver):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com", webhook=receiver.url())
    escalate_to_bob(desk)

    def channels(channel, fmt, settings):
        if channel == "email":
            raise RuntimeError("a bug in the mail channel")
        from service.notify.channels import make_channel

        return make_channel(channel, fmt, settings)

    def bad_scan(now: float) -> int:
        raise ValueError("a damaged case row")

    from service.notify.sender import Sender

    sender = Sender(desk.engine.kb, lambda: desk.engine.settings, [bad_scan], "S", channels)
    report = sender.run_once()
    assert report.errors == ["scan: ValueError: a damaged case row"]
    assert (report.sent, report.retrying) == (1, 1)  # the webhook went; the mail waits
    mail = next(r for r in rows(desk) if r.channel == "email")
    assert mail.state == "pending" and "a bug in the mail channel" in mail.last_error

    thread = sender.start(interval=0.05)  # as in serve: passes go on until stop()
    time.sleep(0.3)
    sender.stop()
    thread.join(5)
    assert not thread.is_alive()
