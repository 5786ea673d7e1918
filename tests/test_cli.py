"""The `knownfix` command line through typer's runner: success paths, and every bad input
giving one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from settings import SETTINGS
from tests.helpers import ZH_CSV, ZH_LEVELS

FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_SEVERITY_LEVELS": ZH_LEVELS}
ZH_ARGS = ["--text", "故障表述", "--fix", "处理记录", "--label", "category=类别",
           "--severity", "严重程度", "--id", "工单号"]


def run(*args, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env={**FAST, **(env or {})})


def assert_ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None


def assert_one_line_error(result, *words: str) -> None:
    """One error line on stderr (a command that creates a knowledge base says so before
    it), a non-zero exit, no traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith("creating a new knowledge base in ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


@pytest.fixture
def data(tmp_path) -> str:
    """A data folder holding fixtures/cases_zh.csv, imported through the CLI."""
    folder = tmp_path / "data"
    assert_ok(run("import", ZH_CSV, *ZH_ARGS, "--data-dir", folder))
    return str(folder)


def command_paths(group=None, prefix: tuple = ()) -> list[tuple]:
    """Every leaf command, as the words that invoke it (command groups walked)."""
    group = group or typer.main.get_command(app)
    paths = []
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):  # a command group
            paths += command_paths(cmd, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = run(*path, "--help")
    assert_ok(result)
    assert "Example" in result.stdout


def test_core_commands_exist():
    assert {("import",), ("search",), ("triage",), ("reindex",), ("export",), ("evaluate",),
            ("stats",)} <= set(command_paths())


# -- success ------------------------------------------------------------------------------

def test_import(tmp_path):
    folder = tmp_path / "data"
    result = run("import", ZH_CSV, *ZH_ARGS, "--data-dir", folder)
    assert_ok(result)
    assert "imported 8 cases, rejected 0 rows" in result.stdout
    stats = json.loads(run("stats", "--json", "--data-dir", folder).stdout)
    assert stats["records"]["case"] == 8
    assert stats["records"]["labelled"] == 8 and stats["records"]["with_fix"] == 7
    assert stats["index"]["count"] == 8 and stats["index"]["up_to_date"]


def test_import_reports_rejected_rows_and_writes_them(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("工单号,故障表述,严重程度\nT-1,摄像机离线,三级\nT-2,,三级\nT-3,硬盘错误,紧急\n",
                   encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = run("import", src, "--text", "故障表述", "--severity", "严重程度", "--id", "工单号",
                 "--rejects", rejects, "--data-dir", tmp_path / "data")
    assert_ok(result)
    assert "imported 1 cases, rejected 2 rows" in result.stdout
    err = result.stderr.splitlines()
    assert any(line.startswith("row 2: empty description") for line in err)
    assert any(line.startswith("row 3: unknown severity '紧急'") for line in err)
    with rejects.open(encoding="utf-8-sig", newline="") as fh:
        assert [r["工单号"] for r in csv.DictReader(fh)] == ["T-2", "T-3"]


def test_import_gbk_articles(tmp_path):
    src = tmp_path / "articles.csv"
    src.write_bytes("标题,现象,方法\n客户端安装报错0x8007045D,安装中断,复制安装包到本地\n"
                    .encode("gbk"))
    result = run("import", src, "--kind", "article", "--title", "标题", "--text", "现象",
                 "--fix", "方法", "--data-dir", tmp_path / "data")
    assert_ok(result)
    assert "imported 1 articles" in result.stdout and "gb18030" in result.stdout
    found = json.loads(run("search", "0x8007045D", "--json", "--data-dir",
                           tmp_path / "data").stdout)
    assert found[0]["key"] == "article:articles-1"
    assert "0x8007045d" in found[0]["matched"]


def test_search(data):
    result = run("search", "授权到期 E-1043", "--json", "--data-dir", data)
    assert_ok(result)
    rows = json.loads(result.stdout)
    assert rows[0]["key"] == "case:SR-2403"
    assert "e-1043" in rows[0]["matched"]
    plain = run("search", "授权到期 E-1043", "--data-dir", data)
    assert_ok(plain)
    assert plain.stdout.startswith("1. [") and "case:SR-2403" in plain.stdout.splitlines()[0]


def test_search_with_a_label_filter(data):
    rows = json.loads(run("search", "NVR 摄像机", "--label", "category=存储", "--json",
                          "--data-dir", data).stdout)
    assert rows and all(r["labels"]["category"] == "存储" for r in rows)


def test_triage_json(data):
    result = run("triage", "NVR报警灯常亮，提示硬盘错误，录像查不到", "--json", "--data-dir", data)
    assert_ok(result)
    out = json.loads(result.stdout)
    assert {"labels", "severity", "severity_reason", "matches", "escalation"} <= set(out)
    assert out["matches"][0]["key"] == "case:SR-2401"
    assert out["labels"]["category"]["value"] == "存储"
    assert out["severity"] in ZH_LEVELS.split(",")
    assert isinstance(out["escalation"]["escalate"], bool)


def test_triage_plain_with_fields(data):
    result = run("triage", "全部用户无法登录", "--field", "product=VMS-Server",
                 "--field", "category=软件", "--data-dir", data)
    assert_ok(result)
    out = result.stdout
    assert "category: 软件 (100%)" in out
    assert "severity: 一级" in out
    assert "escalate: yes" in out and "severity 一级 is at or above 一级" in out


def test_export(data, tmp_path):
    out = tmp_path / "kb.csv"
    result = run("export", out, "--data-dir", data)
    assert_ok(result)
    assert "wrote 8 records" in result.stdout
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"] for r in rows} == {f"SR-240{n}" for n in range(1, 9)}


def test_reindex(data):
    result = run("reindex", "--data-dir", data)
    assert_ok(result)
    assert "indexed 8 records with hash:256" in result.stdout
    assert json.loads(run("search", "UPS冒烟", "--json", "--data-dir", data).stdout)[0][
        "key"] == "case:SR-2404"


def test_settings_lists_every_setting_with_its_value(tmp_path):
    result = run("settings", "--data-dir", tmp_path, env={"KNOWNFIX_TOP_K": "9"})
    assert_ok(result)
    for s in SETTINGS:
        assert f"{s.name} = " in result.stdout
    assert "top_k = 9" in result.stdout


# -- bad input: one line, non-zero exit, no traceback ---------------------------------------

@pytest.mark.parametrize(("args", "words"), [
    (["import", "{tmp}/nope.csv", "--text", "故障表述"], ["no such file", "nope.csv"]),
    (["import", ZH_CSV, "--text", "描述"], ["描述"]),
    (["import", ZH_CSV, "--text", "故障表述", "--label", "cause=原因"], ["原因"]),
    (["import", ZH_CSV, "--fix", "处理记录"], ["--text"]),
    (["import", ZH_CSV, "--text", "故障表述", "--kind", "ticket"], ["ticket"]),
    (["import", ZH_CSV, "--text", "故障表述", "--label", "=类别"], ["=类别"]),
    (["import", ZH_CSV, "--text", "故障表述", "--encoding", "klingon"], ["klingon"]),
    (["import", "{tmp}/notes.pdf", "--text", "x"], ["unsupported"]),
    (["triage", "   "], ["empty"]),
    (["triage", ""], ["empty"]),
    (["triage", "硬盘错误", "--field", "colour=red"], ["colour"]),
    (["triage", "硬盘错误", "--field", "=red"], ["=red"]),
    (["search", "  "], ["empty"]),
    (["search", "硬盘", "--label", "cause=disk"], ["cause"]),
    (["search", "硬盘", "--kind", "ticket", "--label", "=x"], ["=x"]),
    (["export", "{tmp}/no/such/folder/kb.csv"], ["no/such/folder"]),
    (["evaluate", "--train", "{tmp}/nope.csv", "--test", ZH_CSV, "--text", "故障表述"],
     ["nope.csv"]),
])
def test_bad_input_is_one_clear_line(data, tmp_path, args, words):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run(*args, "--data-dir", data), *words)


def test_bad_setting_is_one_clear_line(data):
    assert_one_line_error(run("search", "硬盘", "--data-dir", data,
                              env={"KNOWNFIX_TOP_K": "many"}), "top_k")
    assert_one_line_error(run("settings", "--data-dir", data,
                              env={"KNOWNFIX_VECTOR_BACKEND": "annoy"}), "vector_backend")


def test_serve_with_a_bad_setting_stops_before_starting_the_server(data, monkeypatch):
    from ui import resources

    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(data))  # serve sets it; restored after
    resources.reset()
    assert_one_line_error(run("serve", "--data-dir", data, env={"KNOWNFIX_TOP_K": "many"}),
                          "top_k")
    resources.reset()


@pytest.mark.parametrize("command", [["search", "硬盘"], ["triage", "硬盘错误"], ["stats"],
                                     ["import", str(ZH_CSV), *ZH_ARGS]])
def test_model_mismatch_is_one_clear_line_until_reindex(data, command):
    other = {"KNOWNFIX_MODEL": "hash:128"}
    result = run(*command, "--data-dir", data, env=other)
    assert_one_line_error(result, "hash:256", "hash:128", "knownfix reindex")
    assert_ok(run("reindex", "--data-dir", data, env=other))
    assert_ok(run(*command, "--data-dir", data, env=other))


def test_demo_loads_once_into_an_empty_kb(tmp_path):
    first = run("demo", "--data-dir", tmp_path / "data")
    assert_ok(first)
    assert "loaded 30 demo articles" in first.stdout
    assert "loaded 84 demo cases" in first.stdout
    assert "demo sign-ins: agent, engineer, manager, admin" in first.stdout
    again = run("demo", "--data-dir", tmp_path / "data")
    assert_ok(again)
    assert "demo not loaded" in again.stdout and "demo sign-ins" not in again.stdout
    stats = json.loads(run("stats", "--data-dir", tmp_path / "data").stdout)
    assert (stats["records"]["case"], stats["records"]["article"]) == (84, 30)
    # FAST uses a three-level Chinese scale: the demo's low..critical land on it counted
    # from the top (critical -> its most severe level), and 'low' has no place on it
    with sqlite3.connect(tmp_path / "data" / "knownfix.db") as db:
        got = dict(db.execute("SELECT severity, COUNT(*) FROM cases GROUP BY severity"))
    levels = ZH_LEVELS.split(",")
    assert got == {None: 20, levels[0]: 34, levels[1]: 20, levels[2]: 10}, (got, levels)
