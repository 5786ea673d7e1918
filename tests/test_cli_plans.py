"""`knownfix plans ...` through the CLI runner: add, list, edit, pause, resume and
run-due (twice: the second opens nothing), with one-line errors for mistakes."""

from __future__ import annotations

import csv
import json

import pytest

from kb.store import KnowledgeBase
from settings import load_settings
from tests.test_cli_cases import one_line_error


@pytest.fixture
def run(kf):
    kb = KnowledgeBase(load_settings().db_path)
    kb.db["customers"].insert({"id": "C1", "name": "远洋物流"})
    kb.db["assets"].insert({"id": "A1", "customer_id": "C1", "model": "UPS-3000",
                            "serial": "SN-1"})
    kb.close()
    kf("user", "add", "wang", "--role", "engineer", input="password-123\npassword-123\n")
    kf("user", "add", "boss", "--role", "manager", input="password-123\npassword-123\n")
    return kf


def test_plans_from_add_to_run_due(run, tmp_path):
    out = run("plans", "add", "--asset", "A1", "--every", "1", "--unit", "months",
              "--start", "2027-01-31", "--title", "UPS 月度保养", "--work", "检查电池",
              "--assignee", "wang", "--as", "boss").stdout
    assert out.split()[:8] == ["1", "active", "next", "2027-01-31", "every", "1", "months",
                                "asset"]
    listed = json.loads(run("plans", "list", "--json").stdout)
    assert [(p["id"], p["customer_id"], p["assignee"]) for p in listed] == [(1, "C1", "wang")]

    assert run("plans", "run-due", "--now", "2027-01-30 23:00").stdout.strip() == \
        "opened 0 maintenance case(s)"
    due = json.loads(run("plans", "run-due", "--now", "2027-03-15 09:00", "--json").stdout)
    (opened,) = due["opened"]
    assert (opened["due_on"], opened["missed"]) == ("2027-02-28", 1)
    shown = json.loads(run("case", "show", opened["case_id"], "--json").stdout)
    assert shown["fields"]["work_type"] == "maintenance"
    assert shown["fields"]["assignee"] == "wang"
    again = run("plans", "run-due", "--now", "2027-03-15 10:00").stdout
    assert again.strip() == "opened 0 maintenance case(s)"
    run("case", "open", "--text", "NVR提示硬盘错误", "--channel", "phone")
    out = tmp_path / "work.csv"
    for work, n in (("maintenance", 1), ("fault", 1), ("", 2)):
        run("report", "work", "--work", work, "--format", "csv", "--out", str(out))
        rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))[1:]
        assert len(rows) == n, work
    assert rows[0][-1] in ("定期维护", "故障报修")

    assert "every 3 months" in run("plans", "edit", "1", "--every", "3", "--as", "boss").stdout
    assert " paused " in run("plans", "pause", "1").stdout
    assert run("plans", "list", "--active").stdout.strip() == "no maintenance plans"
    assert " active " in run("plans", "resume", "1").stdout


@pytest.mark.parametrize(("args", "words"), [
    (["plans", "add", "--asset", "A1", "--every", "1", "--start", "2027-01-31", "--title",
      "t", "--work", "w", "--team", "east", "--as", "wang"],
     ["wang (engineer) may not plan.manage"]),
    (["plans", "add", "--asset", "A1", "--every", "1", "--unit", "weeks", "--start",
      "2027-01-31", "--title", "t", "--work", "w", "--team", "east"], ["unknown unit 'weeks'"]),
    (["plans", "add", "--asset", "A404", "--every", "1", "--start", "2027-01-31", "--title",
      "t", "--work", "w", "--team", "east"], ["no asset with id 'A404'"]),
    (["plans", "add", "--asset", "A1", "--every", "1", "--start", "31/01/2027", "--title",
      "t", "--work", "w", "--team", "east"], ["start is not a date"]),
    (["plans", "pause", "7"], ["no maintenance plan 7"]),
    (["plans", "run-due", "--as", "wang"], ["may not plan.manage"]),
])
def test_mistakes_are_one_line(run, args, words):
    one_line_error(run(*args, ok=False), *words)


def test_help_has_an_example():
    from typer.testing import CliRunner

    from cli.main import app

    for command in ("add", "list", "edit", "pause", "resume", "run-due"):
        out = CliRunner().invoke(app, ["plans", command, "--help"]).stdout
        assert "knownfix plans" in out, command
