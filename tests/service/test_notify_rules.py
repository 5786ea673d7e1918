"""Notifications (issue 11): which events put which rows in the outbox, for whom, in
which language — through the real service actions — and that a row exists exactly when
its event does (same transaction)."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from errors import BadInput, NotFound, PermissionDenied
from kb.importer import ColumnMapping
from service.auth import SYSTEM, User
from service.desk import Desk
from service.engine import Engine
from service.notify.prefs import DEFAULT_EVENTS
from service.notify.scans import DeadlineScan, FollowUpScan
from settings import load_settings
from tests.helpers import small_kb_records

BASE = "http://kf.example:8501"
DAY = 86400.0


def make_desk(data_dir: Path, **settings) -> Desk:
    settings.setdefault("timezone", "UTC")  # the team's clock, whatever this machine's
    s = load_settings(str(data_dir), model="hash:256", vector_backend="numpy", base_url=BASE,
                      **settings)
    desk = Desk(Engine(s))
    desk.engine.upsert(small_kb_records())
    for name, role, lang, team in (("li", "engineer", "zh", ""), ("bob", "engineer", "en",
                                   "second-line"), ("ann", "first_line", "en", ""),
                                   ("mgr", "manager", "en", "")):
        desk.users.add(SYSTEM, name, "password-123", role, lang=lang, team=team)
    return desk


@pytest.fixture
def desk(data_dir: Path) -> Iterator[Desk]:
    d = make_desk(data_dir)
    yield d
    d.close()


def user(desk: Desk, name: str) -> User:
    return desk.users.get(name)


def rows(desk: Desk, **where) -> list:
    return [r for r in reversed(desk.notify.rows(SYSTEM, limit=1000))
            if all(getattr(r, k) == v for k, v in where.items())]


def open_case(desk: Desk, text: str = "NVR提示硬盘错误，录像回放查不到", by: str = "ann") -> str:
    return desk.cases.open(user(desk, by), text, channel="phone").id


def last_event(desk: Desk, action: str) -> dict:
    return next(iter(desk.engine.kb.db.query(
        "SELECT * FROM events WHERE action = ? ORDER BY id DESC LIMIT 1", [action])))


def test_an_escalation_reaches_the_assignee_on_each_channel_in_their_language(desk):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com", webhook="https://h.example/x")
    desk.notify.set_prefs(SYSTEM, "li", email="li@example.com")
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "li"), case_id, "bob", "needs a specialist")
    event = last_event(desk, "escalate")
    got = rows(desk, recipient="bob")
    assert [(r.channel, r.address) for r in got] == [("email", "bob@example.com"),
                                                     ("webhook", "https://h.example/x")]
    for r in got:
        assert r.event_id == f"e{event['id']}/bob/{r.channel}"
        assert r.lang == "en" and r.state == "pending" and r.attempts == 0
        assert r.payload["subject"].startswith(f"Case {case_id} was escalated to you")
        assert "needs a specialist" in r.payload["lines"][0]
        assert r.payload["link"] == f"{BASE}/case?id={case_id}"
    assert rows(desk, recipient="li") == []  # the escalating user is not told

    desk.cases.escalate(user(desk, "bob"), case_id, "li", "回到一线")
    (zh,) = rows(desk, recipient="li")
    assert zh.lang == "zh" and zh.payload["subject"].startswith(f"工单 {case_id} 已升级给你")
    assert "回到一线" in zh.payload["lines"][0]
    assert zh.payload["link_text"] == "打开工单"


def test_only_the_assignee_is_told_and_nobody_of_their_own_assignment(desk):
    for name in ("bob", "li", "ann"):
        desk.notify.set_prefs(SYSTEM, name, email=f"{name}@example.com")
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "ann"), case_id, "bob", "disk array")
    assert [r.recipient for r in rows(desk)] == ["bob"]  # ann escalated it: not told
    desk.cases.escalate(user(desk, "li"), case_id, "li", "I take it")  # to oneself
    other = open_case(desk, "Camera drops offline, IP conflict")
    desk.cases.start(user(desk, "li"), other)  # takes it: assigns herself
    assert [r.recipient for r in rows(desk)] == ["bob"]


def test_a_dispatch_tells_the_technician_when_and_where_on_their_own_clock(desk):
    desk.users.set_timezone(user(desk, "li"), "Asia/Shanghai")
    desk.notify.set_prefs(SYSTEM, "li", email="li@example.com")
    case_id = open_case(desk)
    desk.cases.dispatch(user(desk, "mgr"), case_id, "li", "2026-12-03T09:00:00Z", "远洋物流仓库",
                        tools=["万用表"], parts=["4TB 硬盘"])
    (row,) = rows(desk, recipient="li")
    assert row.payload["kind"] == "dispatched"
    assert row.payload["subject"] == f"派工：工单 {case_id}，2026-12-03 17:00 (UTC+8)，远洋物流仓库"


def test_times_in_a_notice_are_on_the_teams_clock_for_a_user_without_a_zone(data_dir):
    desk = make_desk(data_dir, timezone="Europe/Berlin")
    try:
        desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
        case_id = open_case(desk)
        desk.cases.dispatch(user(desk, "mgr"), case_id, "bob", "2026-12-03T09:00:00Z", "depot")
        (row,) = rows(desk, recipient="bob")
        assert row.payload["subject"] == \
            f"Dispatch: case {case_id}, 2026-12-03 10:00 (UTC+1), depot"
    finally:
        desk.close()


def test_a_critical_case_goes_to_the_team_channel_and_subscribers_once(data_dir):
    desk = make_desk(data_dir, team_webhook="https://team.example/hook",
                     team_webhook_format="wecom", team_email="oncall@example.com",
                     team_lang="en")
    try:
        desk.notify.set_prefs(SYSTEM, "mgr", email="mgr@example.com",
                              events="critical,overdue")
        desk.notify.set_prefs(SYSTEM, "li", email="li@example.com")  # not subscribed
        case_id = open_case(desk, "全部摄像机离线，NVR无法访问，客户现场停运")
        assert desk.cases.get(case_id).priority == "critical"
        got = rows(desk)
        assert {(r.recipient, r.channel, r.format) for r in got} == {
            ("team", "webhook", "wecom"), ("team", "email", ""), ("mgr", "email", "")}
        assert {r.event_id for r in got} == {f"critical:{case_id}/team/webhook",
                                            f"critical:{case_id}/team/email",
                                            f"critical:{case_id}/mgr/email"}
        assert all(r.payload["subject"].startswith(f"Critical case {case_id}") for r in got)
        # triaged again at the same level: no second notification
        desk.cases.update(SYSTEM, case_id, description="全部摄像机离线，宕机，无法访问")
        assert len(rows(desk)) == 3
        open_case(desk, "客户端安装报错0x8007045D")  # not critical: nothing
        assert len(rows(desk)) == 3
    finally:
        desk.close()


def test_an_article_sent_for_review_reaches_the_reviewers_but_not_its_author(desk):
    for name in ("li", "bob", "mgr", "ann"):
        desk.notify.set_prefs(SYSTEM, name, email=f"{name}@example.com")
    desk.notify.set_prefs(SYSTEM, "bob", events="escalated")  # bob does not review by mail
    ann = user(desk, "ann")
    article_id, _ = desk.knowledge.create(ann, "UPS 电池鼓包", "UPS 有焦糊味", "更换电池组")
    assert rows(desk) == []  # a draft is nobody's business yet
    desk.knowledge.submit(ann, article_id)
    got = rows(desk)
    assert sorted(r.recipient for r in got) == ["li", "mgr"]
    assert all(r.payload["kind"] == "review" for r in got)
    li_row = next(r for r in got if r.recipient == "li")
    assert li_row.payload["subject"] == f"文章 {article_id} 等待审核：UPS 电池鼓包"
    assert li_row.payload["link"] == f"{BASE}/knowledge?id={article_id}"


def test_an_import_tells_the_importing_user(desk, tmp_path):
    desk.notify.set_prefs(SYSTEM, "mgr", email="mgr@example.com")
    path = tmp_path / "history.csv"
    path.write_text("text,fix\n摄像机离线,重启\nNVR 硬盘错误,换盘\n", encoding="utf-8")
    desk.import_file(user(desk, "mgr"), path, ColumnMapping(text=["text"], fix="fix"))
    (row,) = rows(desk)
    assert row.recipient == "mgr"
    assert row.payload["subject"] == "Import finished: history.csv"
    assert row.payload["lines"] == ["2 records imported, 0 rejected."]


def test_only_the_chosen_events_and_only_users_with_an_address(desk):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com", events="assigned")
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")  # escalated: not chosen
    desk.cases.escalate(user(desk, "li"), case_id, "mgr", "y")  # mgr has no address
    assert rows(desk) == []
    desk.notify.set_prefs(SYSTEM, "bob", events="none")
    desk.cases.dispatch(SYSTEM, case_id, "bob", "2026-12-03T09:00:00Z", "site")
    assert rows(desk) == []


# -- the same transaction ---------------------------------------------------------------------
def counts(desk: Desk) -> tuple[int, int]:
    db = desk.engine.kb.db
    return (db.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def test_an_action_rolled_back_leaves_neither_its_event_nor_its_notification(desk):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
    case_id = open_case(desk)
    before = counts(desk)
    with pytest.raises(RuntimeError), desk.engine.kb.transaction():
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "needs a specialist")
        assert counts(desk) == (before[0] + 1, before[1] + 1)  # both written, uncommitted
        raise RuntimeError("the caller's transaction fails after the escalation")
    assert counts(desk) == before
    assert desk.cases.get(case_id).state == "triaged"

    def broken(event) -> None:  # a later hook of the same event fails
        raise RuntimeError("hook failed")

    desk.engine.kb.on_log("zz-broken", broken)
    with pytest.raises(RuntimeError):
        desk.cases.escalate(user(desk, "li"), case_id, "bob", "needs a specialist")
    desk.engine.kb.on_log("zz-broken", None)
    assert counts(desk) == before
    desk.cases.escalate(user(desk, "li"), case_id, "bob", "needs a specialist")
    assert counts(desk) == (before[0] + 1, before[1] + 1)


def test_a_second_desk_on_the_same_knowledge_base_does_not_double_the_rows(desk):
    desk.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
    Desk(desk.engine)  # the CLI and the app may build more than one
    case_id = open_case(desk)
    desk.cases.escalate(user(desk, "li"), case_id, "bob", "x")
    assert len(rows(desk)) == 1


# -- scans: deadlines and follow-ups ------------------------------------------------------------
def unix(iso: str) -> float:
    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


def test_deadlines_notify_once_per_case_and_status(desk):
    desk.notify.set_prefs(SYSTEM, "li", email="li@example.com", webhook="https://h.example/x")
    case_id = open_case(desk)  # priority high or critical: response within hours
    desk.cases.escalate(user(desk, "ann"), case_id, "li", "please")
    first = len(rows(desk))
    case = desk.cases.get(case_id)
    due = case.fields["due_resolution"]  # responded (escalated): the resolution deadline
    scan = DeadlineScan(desk.cases)
    deadline = unix(due)
    assert scan(deadline - 60) == 1  # at risk shortly before
    assert scan(deadline - 30) == 0  # ... once
    assert scan(deadline + 60) == 1  # then overdue
    assert scan(deadline + 3600) == 0
    got = rows(desk)[first:]
    assert [(r.payload["kind"], r.channel) for r in got] == [
        ("at_risk", "email"), ("at_risk", "webhook"), ("overdue", "email"),
        ("overdue", "webhook")]
    assert got[2].event_id == f"overdue:{case_id}:{due}/li/email"
    assert got[2].payload["subject"] == f"工单 {case_id} 已超时：NVR提示硬盘错误，录像回放查不到"
    line = got[2].payload["lines"][0]
    assert f"{due[:10]} {due[11:16]} (UTC)" in line and "解决" in line


def test_a_deadline_with_nobody_assigned_goes_to_the_team(data_dir):
    desk = make_desk(data_dir, team_email="oncall@example.com", team_lang="zh")
    try:
        case_id = open_case(desk, "客户端安装报错0x8007045D")
        due = desk.cases.get(case_id).fields["due_response"]
        deadline = unix(due)
        assert DeadlineScan(desk.cases)(deadline + 1) == 1
        (row,) = rows(desk)
        assert (row.recipient, row.address, row.payload["kind"]) == (
            "team", "oncall@example.com", "overdue")
        assert "响应" in row.payload["lines"][0]
    finally:
        desk.close()


def test_a_follow_up_is_due_after_follow_up_days_unless_one_was_made(desk):
    desk.notify.set_prefs(SYSTEM, "ann", email="ann@example.com")
    ann, li = user(desk, "ann"), user(desk, "li")
    due, done = open_case(desk), open_case(desk, "Camera drops offline, IP conflict")
    for case_id in (due, done):
        desk.cases.resolve(li, case_id, "replaced the disk")
    desk.cases.follow_up(ann, done, "solved", note="客户确认正常")
    scan = FollowUpScan(desk.engine.kb, lambda: desk.engine.settings)
    now = time.time()
    assert scan(now + 6 * DAY) == 0  # follow_up_days is 7
    assert scan(now + 7 * DAY + 60) == 1
    assert scan(now + 8 * DAY) == 0
    (row,) = rows(desk)
    assert (row.recipient, row.payload["kind"]) == ("ann", "follow_up")  # who took it in
    assert row.payload["subject"] == \
        f"Case {due} is due for a follow-up call: NVR提示硬盘错误，录像回放查不到"
    assert "7 days ago" in row.payload["lines"][0]


def test_scans_log_nothing_while_nobody_could_be_told(desk):
    case_id = open_case(desk)
    sender = desk.notify.sender()
    assert sender.run_once(now=time.time() + 30 * DAY).logged == 0
    assert desk.engine.kb.events(f"case:{case_id}")[-1]["action"] != "deadline:overdue"


# -- preferences ---------------------------------------------------------------------------
def test_preferences_are_checked_and_kept(desk):
    ann = user(desk, "ann")
    prefs = desk.notify.set_prefs(ann, "ann", email="ann@example.com",
                                  webhook="https://oapi.dingtalk.com/robot/send?access_token=t",
                                  webhook_format="dingtalk", secret="SECxyz",
                                  events="escalated,overdue")
    assert prefs.to_json() == {"username": "ann", "email": "ann@example.com",
                               "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t",
                               "webhook_format": "dingtalk", "has_secret": True,
                               "events": ["escalated", "overdue"]}
    assert "SECxyz" not in json.dumps(desk.notify.prefs(ann, "ann").to_json())
    assert desk.notify.set_prefs(ann, "ann", email="").email == ""  # '' clears one field
    assert desk.notify.prefs(ann, "ann").webhook_format == "dingtalk"
    assert desk.notify.prefs(SYSTEM, "li").events == DEFAULT_EVENTS  # none stored yet


@pytest.mark.parametrize(("change", "message"), [
    ({"email": "not an address"}, "not an e-mail address: 'not an address'"),
    ({"webhook": "ftp://x.example/h"}, "a webhook must be an http:// or https:// URL"),
    ({"webhook_format": "telegram"}, "unknown webhook format 'telegram' (use generic, wecom"),
    ({"events": "escalated,birthdays"}, "unknown event kind(s): birthdays (use escalated,"),
])
def test_bad_preferences_are_refused_with_a_clear_message(desk, change, message):
    with pytest.raises(BadInput) as refused:
        desk.notify.set_prefs(SYSTEM, "bob", **change)
    assert str(refused.value).startswith(message)
    assert desk.notify.prefs(SYSTEM, "bob").email == ""  # nothing stored


def test_only_an_administrator_sets_someone_else_s_preferences(desk):
    with pytest.raises(PermissionDenied):
        desk.notify.set_prefs(user(desk, "mgr"), "bob", email="bob@example.com")
    with pytest.raises(PermissionDenied):
        desk.notify.prefs(user(desk, "ann"), "bob")
    with pytest.raises(PermissionDenied):
        desk.notify.rows(user(desk, "mgr"))
    with pytest.raises(NotFound):
        desk.notify.set_prefs(SYSTEM, "nobody", email="x@example.com")
