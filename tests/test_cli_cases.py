"""`knownfix case` and `knownfix user` through the CLI runner (intake-mail: test_cli_mail.py)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from cli.main import app
from settings import load_settings

runner = CliRunner()




def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for w in words:
        assert w in err


def test_case_loop_open_to_close(kf):
    out = kf("case", "open", "--text", "NVR提示硬盘错误，录像回放查不到", "--title", "硬盘错误",
             "--channel", "phone", "--customer", "远洋物流", "--asset-serial", "SN1",
             "--label", "component=nvr", "--json").stdout
    opened = json.loads(out)
    cid = opened["id"]
    assert re.fullmatch(r"KF-\d{8}-1", cid)
    assert opened["state"] == "triaged"
    assert opened["fields"]["customer"] == "远洋物流"
    assert opened["labels"] == {"component": "nvr"}
    assert opened["triage"]["matches"][0]["key"] in ("case:C1", "case:C2")

    assert "in_progress" in kf("case", "start", cid).stdout
    linked = kf("case", "link", cid, "1").stdout
    assert linked.startswith(f"{cid} used case:C")
    assert "not-helpful article:A1" in kf("case", "link", cid, "article:A1",
                                          "--not-helpful").stdout
    kf("case", "resolve", cid, "--fix", "更换故障硬盘", "--cause", "坏道",
       "--label", "category=storage", "--severity", "high")
    assert "confirmed" in kf("case", "confirm", cid, "--satisfaction", "5").stdout
    closed = kf("case", "close", cid).stdout
    assert "closed" in closed
    assert "draft: article:" in closed  # resolved with a past case: a write-up is drafted

    shown = kf("case", "show", cid).stdout
    for part in ("closed", "远洋物流", "更换故障硬盘", "category=storage", "-- triage",
                 "-- links", "used", "-- timeline", "intake", "resolve", "close"):
        assert part in shown
    data = json.loads(kf("case", "show", cid, "--json").stdout)
    actions = [e["action"] for e in data["events"]]
    assert actions.index("resolve") < actions.index("confirm") < actions.index("close")
    assert {lk["relation"] for lk in data["links"]} >= {"suggested", "used", "not-helpful"}
    assert data["fields"]["satisfaction"] == 5
    assert data["fields"]["service_record"]["cause"] == "坏道"

    listed = kf("case", "list", "--state", "closed").stdout
    assert cid in listed
    assert kf("case", "list", "--state", "open").stdout.strip() == "no cases"


def test_escalate_delay_dispatch_update_reopen_follow_up(kf):
    kf("user", "add", "bob", "--role", "engineer", "--password-stdin", input="bob-password\n")
    cid = json.loads(kf("case", "open", "--text", "Camera drops offline, IP conflict",
                        "--json").stdout)["id"]
    kf("case", "update", cid, "--field", "asset-serial=SN9", "--title", "IP conflict")
    kf("case", "escalate", cid, "--to", "bob", "--reason", "needs a site visit")
    kf("case", "delay", cid, "--code", "B", "--note", "no spare switch")
    kf("case", "dispatch", cid, "--assignee", "bob", "--at", "2026-11-28T09:00",
       "--place", "Warehouse 3", "--tool", "laptop", "--part", "switch")
    assert cid in kf("case", "list", "--assignee", "bob").stdout
    kf("case", "resolve", cid, "--fix", "Static IP outside the DHCP pool")
    kf("case", "follow-up", cid, "--came-back", "--note", "dropped again")
    case = json.loads(kf("case", "show", cid, "--json").stdout)
    assert case["state"] == "in_progress"
    assert case["title"] == "IP conflict"
    assert case["fields"]["asset_serial"] == "SN9"
    assert case["fields"]["escalation"]["to"] == "bob"
    assert case["fields"]["delay"]["code"] == "B"
    assert case["fields"]["dispatch"]["parts"] == ["switch"]
    assert case["fields"]["follow_up"]["came_back"] is True
    assert "reopen" in [e["action"] for e in case["events"]]


def test_follow_up_takes_an_outcome_a_note_and_a_rating(kf):
    cid = json.loads(kf("case", "open", "--text", "NVR 硬盘告警", "--json").stdout)["id"]
    kf("case", "resolve", cid, "--fix", "更换硬盘")
    kf("case", "follow-up", cid, "--outcome", "unhappy", "--note", "上门太晚",
       "--satisfaction", "2")
    case = json.loads(kf("case", "show", cid, "--json").stdout)
    assert case["state"] == "resolved" and case["fields"]["satisfaction"] == 2
    assert (case["fields"]["follow_up"]["outcome"], case["fields"]["follow_up"]["note"]) == \
        ("unhappy", "上门太晚")
    bad = kf("case", "follow-up", cid, "--outcome", "happy", ok=False)
    assert bad.exit_code != 0 and "unknown follow-up outcome 'happy'" in bad.output
    both = kf("case", "follow-up", cid, "--outcome", "solved", "--fixed", ok=False)
    assert both.exit_code != 0 and "one of --outcome" in both.output


def test_an_answer_link_and_an_answer_by_phone_from_the_command_line(kf, tmp_path):
    from service.auth import SYSTEM
    from service.desk import Desk

    cid = json.loads(kf("case", "open", "--text", "NVR 硬盘告警", "--json").stdout)["id"]
    one_line_error(kf("case", "answer-link", cid, ok=False), cid, "no confirm answer")
    kf("case", "resolve", cid, "--fix", "更换硬盘")
    issued = kf("case", "answer-link", cid, "--for", "confirm")
    assert re.fullmatch(r"http://localhost:8600/portal/answer/[\w-]{43}\n", issued.stdout)
    assert "works until" in issued.stderr
    kf("case", "confirm", cid, "--satisfaction", "3", "--comment", "电话确认")
    desk = Desk.open(load_settings(str(tmp_path / "data")))
    try:
        [answer] = desk.links.answers(SYSTEM, cid)
        assert (answer.source, answer.rating, answer.comment) == ("phone", 3, "电话确认")
    finally:
        desk.close()


@pytest.mark.parametrize(("args", "words"), [
    (["case", "close", "{cid}"], ["triaged", "closed"]),
    (["case", "confirm", "{cid}", "--satisfaction", "9"], ["1 to 5"]),
    (["case", "delay", "{cid}", "--code", "D"], ["needs a note"]),
    (["case", "link", "{cid}", "42"], ["no number 42"]),
    (["case", "link", "{cid}", "A1"], ["article:ID"]),
    (["case", "show", "KF-19990101-1"], ["no case"]),
    (["case", "open", "--text", "x", "--channel", "fax"], ["unknown channel"]),
    (["case", "update", "{cid}", "--field", "colour=red"], ["unknown intake field"]),
    (["case", "update", "{cid}"], ["nothing to update"]),
    (["case", "list", "--state", "lost"], ["unknown state"]),
    (["case", "follow-up", "{cid}"], ["--came-back or --fixed"]),
    (["case", "start", "{cid}", "--as", "nobody"], ["unknown user 'nobody'"]),
    (["user", "add", "eve", "--role", "boss", "--password-stdin"], ["unknown role"]),
])
def test_errors_are_one_line(kf, args, words):
    cid = json.loads(kf("case", "open", "--text", "NVR硬盘错误", "--json").stdout)["id"]
    result = kf(*[a.replace("{cid}", cid) for a in args], input="longenough\n", ok=False)
    one_line_error(result, *words)


def test_unknown_user_from_environment(kf, monkeypatch):
    monkeypatch.setenv("KNOWNFIX_USER", "ghost")
    one_line_error(kf("case", "list", ok=False), "unknown user 'ghost'", "KNOWNFIX_USER")


def test_users_and_roles(kf):
    added = kf("user", "add", "alice", "--role", "first_line", "--display-name", "张敏",
               "--team", "east", "--password-stdin", input="s3cret-pass\n").stdout
    assert "alice (first_line)" in added
    kf("user", "add", "bob", "--role", "engineer", input="another-pass\nanother-pass\n")
    users = {u["username"]: u for u in json.loads(kf("user", "list", "--json").stdout)}
    assert users["alice"]["display_name"] == "张敏" and users["bob"]["role"] == "engineer"
    assert "s3cret-pass" not in added

    cid = json.loads(kf("case", "open", "--text", "客户端安装报错0x8007045D", "--as", "alice",
                        "--json").stdout)["id"]
    one_line_error(kf("case", "dispatch", cid, "--assignee", "bob", "--at", "2026-11-28T09:00",
                      "--place", "HQ", "--as", "alice", ok=False), "may not case.dispatch")
    one_line_error(kf("user", "add", "mallory", "--role", "admin", "--password-stdin",
                      "--as", "alice", input="password123\n", ok=False), "may not user.manage")
    one_line_error(kf("user", "add", "short", "--role", "engineer", "--password-stdin",
                      input="abc\n", ok=False), "at least 8")
    kf("case", "start", cid, "--as", "bob")
    events = json.loads(kf("case", "show", cid, "--json").stdout)["events"]
    assert [e["actor"] for e in events if e["action"] in ("intake", "start")] == ["alice", "bob"]


@pytest.mark.parametrize("group", [["case"], ["user"], []])
def test_every_command_has_an_example(group):
    from typer.main import get_command

    root = get_command(app)
    cmd = root
    for name in group:
        cmd = cmd.commands[name]
    for name in list(cmd.commands) if group else ["intake-mail"]:
        result = runner.invoke(app, [*group, name, "--help"])
        assert result.exit_code == 0
        example = result.stdout.partition("Example:")[2]
        assert "knownfix " + " ".join([*group, name]) in example, name


# -- time zones (issue 12) --------------------------------------------------------------------
def test_times_without_a_zone_are_read_in_the_configured_zone(kf, monkeypatch):
    monkeypatch.setenv("KNOWNFIX_TIMEZONE", "Asia/Shanghai")
    opened = json.loads(kf("case", "open", "--text", "NVR提示硬盘错误", "--received-at",
                           "2026-12-01 09:00", "--last-service-at", "2026-05-01",
                           "--json").stdout)
    assert opened["fields"]["received_at"] == "2026-12-01T01:00:00Z"
    assert opened["fields"]["last_service_at"] == "2026-04-30T16:00:00Z"
    zoned = json.loads(kf("case", "open", "--text", "NVR提示硬盘错误", "--received-at",
                          "2026-12-01T09:00:00Z", "--json").stdout)
    assert zoned["fields"]["received_at"] == "2026-12-01T09:00:00Z"
    kf("user", "add", "bob", "--role", "engineer", "--password-stdin", input="password-123\n")
    kf("case", "dispatch", opened["id"], "--assignee", "bob", "--at", "2026-12-03",
       "--place", "3号仓库")
    shown = json.loads(kf("case", "show", opened["id"], "--json").stdout)
    assert shown["fields"]["dispatch"]["planned_at"] == "2026-12-02T16:00:00Z"


@pytest.mark.parametrize("args", [
    ["case", "open", "--text", "NVR提示硬盘错误", "--received-at", "2026-12-01 9 Uhr"],
    ["case", "open", "--text", "NVR提示硬盘错误", "--last-service-at", "01/05/2026"],
    ["report", "--from", "2026-12-01 09:00:00 CST"],
])
def test_a_bad_time_is_one_line(kf, args):
    one_line_error(kf(*args, ok=False), "2026")


def test_a_users_zone_is_set_on_the_command_line(kf, monkeypatch):
    kf("user", "add", "alice", "--role", "first_line", "--timezone", "Asia/Taipei",
       "--password-stdin", input="password-123\n")
    listed = json.loads(kf("user", "list", "--json").stdout)
    assert {u["username"]: u["timezone"] for u in listed}["alice"] == "Asia/Taipei"
    kf("user", "update", "alice", "--timezone", "Europe/London")
    assert "Europe/London" in kf("user", "list").stdout
    kf("user", "update", "alice", "--timezone", "")
    assert json.loads(kf("user", "list", "--json").stdout)[0]["timezone"] == ""
    one_line_error(kf("user", "update", "alice", "--timezone", "Moon/Base", ok=False),
                   "Moon/Base", "IANA")
    monkeypatch.setenv("KNOWNFIX_TIMEZONE", "Mars/Olympus")
    one_line_error(kf("user", "list", ok=False), "Mars/Olympus")
