"""A strict command line (issue 10): no silent emptiness, one NAME=VALUE form, long text
from stdin or a file, `user update`, and the shared options and error handling declared
in one place."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import KnownFixError
from service.engine import Engine
from settings import SettingsError, load_settings
from tests.helpers import ZH_CSV, small_kb_records
from tests.test_cli import ZH_ARGS, assert_one_line_error

FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy"}
CLI = Path(__file__).resolve().parent.parent / "cli"
NOTICE = "creating a new knowledge base in "


def run(*args, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input,
                              env={**FAST, **(env or {})})


def ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small knowledge base in tmp_path/data (fast encoder and index)."""
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "data"
    engine = Engine(load_settings(str(folder)))
    engine.upsert(small_kb_records())
    engine.close()
    return folder


def words(args: list) -> str:
    """A test id: the command line, shortened."""
    return " ".join(map(str, args))[:40]


def opened(folder: Path, *args: str) -> str:
    out = ok(run("case", "open", *args, "--json", "--data-dir", folder)).stdout
    return json.loads(out)["id"]


# -- no silent emptiness -----------------------------------------------------------------------
READERS = [
    ["case", "list"], ["case", "show", "KF-20261202-1"], ["user", "list"], ["stats"],
    ["search", "硬盘"], ["triage", "硬盘错误"], ["export", "{tmp}/out.csv"], ["report"],
    ["report", "work", "--out", "{tmp}/work.xlsx"],
    ["backup"], ["privacy-report"], ["tune", "--dry-run"], ["reindex"],
    ["intake-mail", "{tmp}/inbox"], ["case", "open", "--text", "硬盘错误"],
]


@pytest.mark.parametrize("args", READERS, ids=words)
def test_a_missing_data_folder_is_an_error_not_an_empty_kb(tmp_path, args):
    missing = tmp_path / "no" / "such" / "data"
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    result = run(*args, "--data-dir", missing)
    assert_one_line_error(result, "no knowledge base in", str(missing), "knownfix demo",
                          "knownfix import", "--data-dir")
    assert not missing.exists(), "nothing was created"


@pytest.mark.parametrize("args", READERS, ids=words)
def test_a_folder_without_a_knowledge_base_is_an_error_too(tmp_path, args):
    (tmp_path / "data").mkdir()
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run(*args, "--data-dir", tmp_path / "data"), "no knowledge base in")
    assert list((tmp_path / "data").iterdir()) == []


def test_the_default_folder_from_another_directory_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./data does not exist here
    assert_one_line_error(run("case", "list"), "no knowledge base in",
                          str(tmp_path / "data"))


@pytest.mark.parametrize("args", [["demo"], ["import", ZH_CSV, *ZH_ARGS]], ids=words)
def test_demo_and_import_create_one_and_say_so_once(tmp_path, args):
    folder = tmp_path / "new"
    env = {"KNOWNFIX_SEVERITY_LEVELS": "三级,二级,一级"}
    first = ok(run(*args, "--data-dir", folder, env=env))
    assert first.stderr.count(NOTICE) == 1 and str(folder) in first.stderr
    assert NOTICE not in first.stdout
    again = ok(run(*args, "--data-dir", folder, env=env))
    assert NOTICE not in again.stderr + again.stdout
    assert ok(run("stats", "--json", "--data-dir", folder)).stdout


def test_a_failed_import_into_a_new_folder_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "new"
    result = run("import", ZH_CSV, "--text", "no such column", "--data-dir", folder)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not folder.exists()
    assert_one_line_error(run("case", "list", "--data-dir", folder), "no knowledge base")


@pytest.mark.parametrize("args", [
    ["case", "list"], ["stats"], ["demo"], ["import", ZH_CSV, *ZH_ARGS], ["settings"],
    ["restore", "{tmp}/kb.zip", "--yes"], ["serve"],
], ids=words)
def test_a_data_folder_that_is_a_file_is_one_line(tmp_path, args):
    afile = tmp_path / "data.txt"
    afile.write_text("not a folder", encoding="utf-8")
    (tmp_path / "kb.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run(*args, "--data-dir", afile), str(afile), "not a folder")
    assert afile.read_text(encoding="utf-8") == "not a folder"


def test_settings_of_a_missing_folder_say_where_they_come_from(tmp_path):
    result = ok(run("settings", "--data-dir", tmp_path / "nope"))
    assert "top_k = 5" in result.stdout
    assert "no data folder" in result.stderr and str(tmp_path / "nope") in result.stderr


def test_a_command_that_ends_early_still_saves_its_work(kb):
    """The engine is closed, so what it indexed is saved, however a command ends: an
    interrupt (Ctrl-C) included."""
    import sqlite3

    from cli.edge import engine_for
    from kb.records import Record

    with pytest.raises(KeyboardInterrupt), engine_for(str(kb)) as engine:
        engine.upsert([Record("case", "LATE", text="UPS冒烟焦糊味", state="closed")])
        raise KeyboardInterrupt
    manifest = json.loads((kb / "index" / "manifest.json").read_text(encoding="utf-8"))
    with sqlite3.connect(kb / "knownfix.db") as db:
        (seq,) = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
    assert manifest["seq"] == int(seq) and manifest["count"] == len(small_kb_records()) + 1


# -- NAME=VALUE, one form ------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "words"), [
    (["search", "硬盘", "--label", "category"], ["--label category=VALUE"]),
    (["search", "硬盘", "--label", "=storage"], ["--label NAME=VALUE"]),
    (["triage", "硬盘错误", "--field", "product"], ["--field product=VALUE"]),
    (["case", "open", "--text", "硬盘错误", "--label", "category"],
     ["--label category=VALUE"]),
    (["import", ZH_CSV, "--text", "故障表述", "--label", "category"],
     ["--label category=COLUMN"]),
    (["import", ZH_CSV, "--text", "故障表述", "--severity", "严重程度", "--severity-map", "高"],
     ["--severity-map 高=LEVEL"]),
])
def test_a_bare_name_is_an_error_that_shows_the_form(kb, args, words):
    assert_one_line_error(run(*args, "--data-dir", kb), *words)


def test_the_label_filter_still_filters(kb):
    rows = json.loads(ok(run("search", "硬盘 disk", "--label", "category=storage", "--json",
                             "--data-dir", kb)).stdout)
    assert rows and {r["labels"]["category"] for r in rows} == {"storage"}


# -- long text from stdin or a file -------------------------------------------------------------
def long_text(size: int = 128 * 1024) -> str:
    """A fault description of at least `size` bytes of UTF-8."""
    line = "NVR提示硬盘错误，3号通道录像回放查不到，已重启两次仍报警。Disk error on channel 3.\n"
    return line * -(-size // len(line.encode("utf-8")))


@pytest.mark.parametrize("how", ["stdin", "file"])
def test_case_open_takes_a_128_kb_description(kb, tmp_path, how):
    text = long_text()
    assert len(text.encode("utf-8")) >= 128 * 1024
    source = tmp_path / "desc.txt"
    source.write_text(text, encoding="utf-8")
    args = ["--text", "-"] if how == "stdin" else ["--text-file", source]
    result = ok(run("case", "open", *args, "--json", "--data-dir", kb,
                    input=text if how == "stdin" else None))
    case = json.loads(result.stdout)
    assert case["description"] == text.strip()
    assert case["triage"]["matches"], "triaged like any other case"


@pytest.mark.parametrize("command", ["triage", "search"])
def test_triage_and_search_read_stdin_and_files(kb, tmp_path, command):
    source = tmp_path / "q.txt"
    source.write_text("NVR beeps with HDD error\n", encoding="utf-8")
    from_file = ok(run(command, "--text-file", source, "--json", "--data-dir", kb)).stdout
    from_stdin = ok(run(command, "-", "--json", "--data-dir", kb,
                        input="NVR beeps with HDD error\n")).stdout
    literal = ok(run(command, "NVR beeps with HDD error", "--json", "--data-dir", kb)).stdout
    results = [json.loads(out) for out in (from_file, from_stdin, literal)]
    if command == "triage":  # the same text, so the same known fixes
        assert {r["text"] for r in results} == {"NVR beeps with HDD error"}
        results = [[m["key"] for m in r["matches"]] for r in results]
    assert results[0] == results[1] == results[2]
    big = long_text()
    assert ok(run(command, "-", "--json", "--data-dir", kb, input=big)).stdout


@pytest.mark.parametrize(("args", "words"), [
    (["triage"], ["give the fault description", "--text-file"]),
    (["triage", "x", "--text-file", "{tmp}/q.txt"], ["not both"]),
    (["triage", "--text-file", "{tmp}/missing.txt"], ["missing.txt"]),
    (["triage", "--text-file", "{tmp}/bad.txt"], ["bad.txt", "UTF-8"]),
    (["triage", "--text-file", "{tmp}"], ["not a file"]),
    (["case", "open"], ["give the text (--text)", "--text-file"]),
    (["triage", "-"], ["empty"]),
])
def test_bad_text_input_is_one_line(kb, tmp_path, args, words):
    (tmp_path / "q.txt").write_text("硬盘错误", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa not utf-8 \x81")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(run(*args, "--data-dir", kb, input=""), *words)


# -- the workflow from the command line ------------------------------------------------------
def test_start_on_a_resolved_case_says_reopen(kb):
    cid = opened(kb, "--text", "NVR提示硬盘错误")
    ok(run("case", "resolve", cid, "--fix", "更换硬盘", "--data-dir", kb))
    assert_one_line_error(run("case", "start", cid, "--data-dir", kb), "reopen")
    ok(run("case", "reopen", cid, "--reason", "又坏了", "--data-dir", kb))
    assert "in_progress" in ok(run("case", "show", cid, "--data-dir", kb)).stdout


def test_escalation_and_dispatch_need_real_users(kb):
    ok(run("user", "add", "bob", "--role", "engineer", "--display-name", "Bob Li",
           "--password-stdin", "--data-dir", kb, input="bob-password\n"))
    cid = opened(kb, "--text", "Camera drops offline")
    assert_one_line_error(run("case", "escalate", cid, "--to", "Bob Li", "--reason", "site",
                              "--data-dir", kb), "display name", "'bob'")
    assert_one_line_error(run("case", "dispatch", cid, "--assignee", "alice", "--at",
                              "2026-12-03T09:00", "--place", "HQ", "--data-dir", kb),
                          "no user 'alice'", "bob")
    ok(run("case", "escalate", cid, "--to", "bob", "--reason", "site", "--data-dir", kb))


def test_user_add_refuses_an_existing_name_and_user_update_changes_it(kb):
    ok(run("user", "add", "admin1", "--role", "admin", "--display-name", "Admin",
           "--team", "ops", "--password-stdin", "--data-dir", kb, input="admin-pass\n"))
    assert_one_line_error(run("user", "add", "admin1", "--role", "first_line",
                              "--password-stdin", "--data-dir", kb, input="other-pass\n"),
                          "exists", "knownfix user update admin1")
    users = json.loads(ok(run("user", "list", "--json", "--data-dir", kb)).stdout)
    assert [(u["role"], u["display_name"], u["team"]) for u in users] == [
        ("admin", "Admin", "ops")]
    ok(run("user", "add", "li", "--role", "first_line", "--password-stdin", "--data-dir", kb,
           input="li-password\n"))
    changed = ok(run("user", "update", "li", "--role", "engineer", "--display-name", "李工",
                     "--team", "east", "--lang", "en", "--data-dir", kb)).stdout
    assert "li" in changed and "engineer" in changed
    ok(run("user", "update", "li", "--inactive", "--data-dir", kb))
    active = ok(run("user", "list", "--data-dir", kb)).stdout
    every = ok(run("user", "list", "--all", "--data-dir", kb)).stdout
    assert "李工" not in active and re.search(r"li\s+engineer.*disabled", every)
    assert_one_line_error(run("case", "list", "--as", "li", "--data-dir", kb), "'li'",
                          "disabled")
    ok(run("user", "update", "li", "--active", "--data-dir", kb))
    ok(run("case", "list", "--as", "li", "--data-dir", kb))


@pytest.mark.parametrize(("args", "words"), [
    (["user", "update", "ghost", "--team", "x"], ["no user 'ghost'"]),
    (["user", "update", "admin1"], ["nothing to change"]),
    (["user", "update", "admin1", "--role", "boss"], ["unknown role"]),
    (["user", "update", "admin1", "--inactive"], ["last active admin"]),
    (["user", "add", "li na", "--role", "engineer", "--password-stdin"], ["no spaces"]),
])
def test_bad_user_changes_are_one_line(kb, args, words):
    ok(run("user", "add", "admin1", "--role", "admin", "--password-stdin", "--data-dir", kb,
           input="admin-pass\n"))
    assert_one_line_error(run(*args, "--data-dir", kb, input="long-password\n"), *words)


def test_times_ahead_need_allow_future(kb):
    assert_one_line_error(run("case", "open", "--text", "硬盘错误", "--received-at",
                              "2031-01-01T08:00", "--data-dir", kb), "future")
    cid = opened(kb, "--text", "硬盘错误", "--received-at", "2031-01-01T08:00",
                 "--allow-future")
    assert cid.startswith("KF-20310101-")
    assert_one_line_error(run("case", "update", cid, "--field", "last_service_at=2032-01-01",
                              "--data-dir", kb), "future")
    ok(run("case", "update", cid, "--field", "last_service_at=2032-01-01", "--allow-future",
           "--data-dir", kb))


def test_a_bad_project_code_is_one_line(kb):
    assert_one_line_error(run("case", "open", "--text", "硬盘错误", "--project", "K F",
                              "--data-dir", kb), "project code")
    assert_one_line_error(run("case", "show", "KF-2026-1", "--data-dir", kb),
                          "PROJECT-YYYYMMDD-N")


# -- declared once -------------------------------------------------------------------------------
def cli_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CLI.glob("*.py"))}


def test_the_common_options_are_declared_once():
    sources = cli_sources()
    for option in ('"--data-dir"', '"--as"', '"--json"'):
        where = [name for name, text in sources.items() for _ in re.finditer(option, text)]
        assert len(where) == 1, f"{option} is declared in {where}"


def test_errors_become_one_line_in_one_place():
    """SettingsError is a KnownFixError, so one except clause catches both; only the edge
    (cli/edge.py) catches our errors to print them, elsewhere a handler only adds context
    and raises again."""
    assert issubclass(SettingsError, KnownFixError)
    printing = []
    for name, text in cli_sources().items():
        assert "except SettingsError" not in text and "SettingsError)" not in text, name
        handlers = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ExceptHandler)
                    and n.type is not None and "KnownFixError" in ast.unparse(n.type)]
        printing += [f"{name}:{h.lineno}" for h in handlers if not reraises(h)]
    assert [where.split(":")[0] for where in printing] == ["edge.py"], printing


def reraises(handler: ast.ExceptHandler) -> bool:
    """Whether an except clause raises the error again (bare `raise`) or one of ours
    (`raise SomeError(...)`), rather than ending the command itself."""
    for node in (n for b in handler.body for n in ast.walk(b)):
        if isinstance(node, ast.Raise) and (
                node.exc is None or (isinstance(node.exc, ast.Call)
                                     and getattr(node.exc.func, "id", "").endswith("Error"))):
            return True
    return False


def test_one_name_value_parser():
    sources = cli_sources()
    assert not [n for n, text in sources.items() if ".partition(\"=\")" in text
                and n != "options.py"]
    importer = (CLI.parent / "kb" / "importer.py").read_text(encoding="utf-8")
    assert "def parse_label_options" not in importer
    assert "def parse_severity_map" not in importer
