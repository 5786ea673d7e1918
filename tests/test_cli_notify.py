"""`knownfix notify ...` through the CLI runner: preferences, a test notification
delivered by `notify run --once` to a loopback receiver, the outbox list, retry, and
one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_cases import one_line_error


@pytest.fixture
def users(kf):
    kf("user", "add", "li", "--role", "engineer", input="password-123\npassword-123\n")
    return kf


def test_preferences_a_test_message_and_its_delivery(users, receiver, monkeypatch):
    run = users
    monkeypatch.setenv("KNOWNFIX_WEBHOOK_SECRET", "SECabc")
    out = run("notify", "prefs", "li", "--webhook", receiver.url("/ding?access_token=t"),
             "--format", "dingtalk", "--secret", "--events", "escalated,overdue").stdout
    assert "webhook http://127.0.0.1" in out and "(dingtalk, signed)" in out
    assert "events: escalated, overdue" in out
    shown = json.loads(run("notify", "prefs", "li", "--json").stdout)
    assert shown["has_secret"] is True and "SECabc" not in json.dumps(shown)

    assert "queued 1 test notification(s) for li" in run("notify", "test", "li").stdout
    assert run("notify", "run", "--once").stdout.strip() == "sent 1, retrying 0, dead 0"
    (got,) = receiver.on("/ding")
    assert got.json["markdown"]["title"] == "KnownFix 测试通知"  # li's language: zh
    assert got.query["sign"] and got.query["timestamp"]
    listed = run("notify", "list").stdout
    assert listed.splitlines()[0] == "pending 0, sent 1, dead 0"
    assert "KnownFix 测试通知" in listed


def test_a_dead_notification_is_listed_with_its_error_and_retried(users, receiver):
    run = users
    receiver.answers["/gone"] = [410, 200]
    run("notify", "prefs", "li", "--webhook", receiver.url("/gone"))
    run("notify", "test", "li")
    assert run("notify", "run", "--once").stdout.strip() == "sent 0, retrying 0, dead 1"
    dead = run("notify", "list", "--state", "dead").stdout
    assert "last error: webhook answered 410" in dead
    rows = json.loads(run("notify", "list", "--json").stdout)["rows"]
    assert [r["state"] for r in rows] == ["dead"]
    assert "1 notification(s) queued again" in run("notify", "retry", str(rows[0]["id"])).stdout
    assert run("notify", "run", "--once").stdout.strip() == "sent 1, retrying 0, dead 0"


@pytest.mark.parametrize(("args", "words"), [
    (["notify", "prefs", "li", "--email", "li(at)example.com"], ["not an e-mail address"]),
    (["notify", "prefs", "li", "--events", "birthdays"], ["unknown event kind(s): birthdays"]),
    (["notify", "prefs", "li", "--format", "icq"], ["unknown webhook format 'icq'"]),
    (["notify", "prefs", "nobody", "--email", "x@example.com"], ["no user 'nobody'"]),
    (["notify", "list", "--state", "lost"], ["unknown outbox state 'lost'"]),
    (["notify", "test", "li"], ["li has no e-mail address or webhook"]),
    (["notify", "list", "--as", "li"], ["li (engineer) may not notify.manage"]),
])
def test_mistakes_are_one_line(users, args, words):
    one_line_error(users(*args, ok=False), *words)


def test_a_user_sets_their_own_preferences(users):
    out = users("notify", "prefs", "li", "--email", "li@example.com", "--as", "li").stdout
    assert out.startswith("li: e-mail li@example.com; webhook -")


def test_help_has_an_example():
    from typer.testing import CliRunner

    from cli.main import app

    for command in ("run", "prefs", "list", "retry", "test"):
        out = CliRunner().invoke(app, ["notify", command, "--help"]).stdout
        assert "Example: knownfix notify" in out, command
