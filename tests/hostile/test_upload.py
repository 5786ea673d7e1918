"""Desk.store_upload (issue 5): uploads are size- and type-limited and always land inside
data/uploads under a fresh name, whatever name the browser sends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errors import BadInput, PermissionDenied
from kb.importer import ColumnMapping
from service.auth import SYSTEM, User
from service.desk import MAX_UPLOAD_BYTES, UPLOAD_SUFFIXES, Desk

CSV = "text,fix\n摄像机离线,重启\n".encode()


@pytest.fixture
def desk(engine) -> Desk:
    return Desk(engine)


def uploads(desk: Desk) -> Path:
    return Path(desk.engine.settings.data_dir).resolve() / "uploads"


def every_file(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


HOSTILE_NAMES = [
    "../../etc/passwd.csv", "../../../../../../tmp/evil.csv", "/etc/cron.d/evil.csv",
    "/tmp/absolute.csv", "..\\..\\windows\\system32\\evil.csv", "C:\\Users\\x\\evil.csv",
    "\\\\server\\share\\evil.csv", "a/b/c/nested.csv", "..csv", "....csv", "x/../../up.csv",
    "evil\x00.csv", "~/.bashrc.csv", "$(rm -rf ~).csv", "`id`.csv", "con.csv", "nul.tsv",
    "-rf .csv", "\n\r\t.csv", "😀 报表 2026.csv", "a" * 5000 + ".csv", ".hidden.jsonl",
    "%2e%2e%2fetc%2fpasswd.csv", "..%c0%af..%c0%afevil.csv", "uploads/../../x.csv",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_stay_inside_uploads(desk: Desk, tmp_path: Path, name: str):
    root = tmp_path  # the data folder is tmp_path/data; nothing else may appear under tmp
    before = every_file(root)
    path = desk.store_upload(SYSTEM, name, CSV)
    assert path.parent == uploads(desk)
    assert path.resolve().parent == uploads(desk)
    assert path.read_bytes() == CSV
    assert path.suffix in UPLOAD_SUFFIXES
    assert len(path.name) < 80 and "\x00" not in path.name and not path.name.startswith(".")
    assert every_file(root) - before == {path}
    assert not Path("/etc/passwd.csv").exists() and not Path("/tmp/evil.csv").exists()


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(max_size=60),
                      st.lists(st.sampled_from(["..", "/", "\\", ".", "\x00", "~", "C:",
                                                "etc", "passwd", ".csv", ".xlsx", ".exe",
                                                "%2f", " "]), max_size=12).map("".join)))
def test_any_name_is_refused_or_stored_inside_uploads(desk: Desk, tmp_path: Path, name):
    before = every_file(tmp_path)
    try:
        path = desk.store_upload(SYSTEM, name, CSV)
    except BadInput as exc:
        assert "unsupported file type" in str(exc) or "not an Excel" in str(exc)
        assert "\n" not in str(exc)
        assert every_file(tmp_path) == before
        return
    assert path.resolve().parent == uploads(desk)
    assert every_file(tmp_path) - before == {path}


def test_same_name_twice_never_overwrites(desk: Desk):
    a = desk.store_upload(SYSTEM, "cases.csv", b"text\nfirst\n")
    b = desk.store_upload(SYSTEM, "cases.csv", b"text\nsecond\n")
    assert a != b
    assert (a.read_bytes(), b.read_bytes()) == (b"text\nfirst\n", b"text\nsecond\n")


def test_too_large_is_refused_and_nothing_written(desk: Desk):
    with pytest.raises(BadInput, match="larger than 50 MB"):
        desk.store_upload(SYSTEM, "big.csv", b"x" * (MAX_UPLOAD_BYTES + 1))
    assert not uploads(desk).exists() or every_file(uploads(desk)) == set()
    assert desk.store_upload(SYSTEM, "edge.csv", b"t\n" + b"x" * (MAX_UPLOAD_BYTES - 2)).is_file()


@pytest.mark.parametrize("name", ["virus.exe", "page.html", "script.py", "shell.sh", "x.php",
                                  "book.xls", "macro.xlsm", "archive.zip", "noext",
                                  "x.csv.exe", "x.csv\x00.exe", "x.csv ", "x.csv/",
                                  "image.svg", ""])
def test_wrong_types_are_refused(desk: Desk, name: str):
    with pytest.raises(BadInput, match="unsupported file type"):
        desk.store_upload(SYSTEM, name, CSV)
    assert not uploads(desk).exists() or every_file(uploads(desk)) == set()


@pytest.mark.parametrize(("name", "data", "message"), [
    ("renamed.xlsx", CSV, "not an Excel"),
    ("renamed.csv", b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(100), "binary"),
    ("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("zip.jsonl", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "binary"),
])
def test_content_that_is_not_the_named_type_is_refused(desk: Desk, name, data, message):
    with pytest.raises(BadInput, match=message):
        desk.store_upload(SYSTEM, name, data)
    assert not uploads(desk).exists() or every_file(uploads(desk)) == set()


def test_utf16_text_with_a_bom_is_accepted(desk: Desk):
    data = "text,fix\r\n摄像机离线,重启\r\n".encode("utf-16")
    path = desk.store_upload(SYSTEM, "excel-unicode.txt", data)
    report = desk.import_file(SYSTEM, path, ColumnMapping(text=["text"], fix="fix"))
    assert report.taken == 1


def test_upload_then_import_is_logged_with_who(desk: Desk):
    path = desk.store_upload(SYSTEM, "history.csv", CSV)
    desk.import_file(SYSTEM, path, ColumnMapping(text=["text"], fix="fix"))
    logged = [(e["actor"], e["action"], e["target"]) for e in desk.engine.kb.events()]
    assert ("system", "upload", f"file:{path.name}") in logged
    assert ("system", "import", f"file:{path.name}") in logged


@pytest.mark.parametrize("role", ["first_line", "engineer"])
def test_only_import_roles_may_upload(desk: Desk, role: str):
    with pytest.raises(PermissionDenied, match=r"kb\.import"):
        desk.store_upload(User(f"u_{role}", role), "x.csv", CSV)
    assert not uploads(desk).exists()
