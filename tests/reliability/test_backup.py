"""Backup and restore: taken while another process writes, a backup restores into a
working knowledge base (its index consistent with its database, search answering, every
batch and case whole); a damaged backup is refused with one clear BadInput; restore
refuses while another process has the database open.  On PostgreSQL too: a backup taken
while others write holds one moment of the database, restore refuses while another
KnownFix is connected, and a backup from either store restores onto either store."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import BadInput, NewerSchema
from kb.records import Record
from kb.store import SCHEMA_VERSION, KnowledgeBase
from service.auth import SYSTEM
from service.backup import backup, check, restore
from service.engine import Engine
from tests.reliability.checks import case_counts, check_database, check_index
from tests.reliability.conftest import (
    FAST,
    PYTHON,
    WORKERS,
    child_env,
    fast_settings,
    seed,
)


def _restore_and_check(zip_path: Path, target: Path) -> dict:
    """Restore into a new data folder and check it the way the kill loop does."""
    report = restore(zip_path, fast_settings(target))
    assert report["kept"] is None
    assert check_database(target / "knownfix.db") == []
    engine = Engine(fast_settings(target))
    try:
        assert engine.integrity is None, engine.integrity  # index and database agree
        assert check_index(engine) == []
        hits = engine.search("NVR beeps with HDD error and playback is empty")
        assert "case:C2" in [h.hit.key for h in hits]
        counts = engine.kb.counts()
        assert (counts["case"], counts["article"], counts["events"]) == \
            (report["cases"], report["articles"], report["events"])
    finally:
        engine.close()
    return report


@pytest.mark.reliability
def test_backup_taken_while_another_process_writes_restores_to_a_working_kb(
        seeded: Path, tmp_path: Path, report) -> None:
    work = seeded.parent / "work"
    go, stop, result = work / "go", work / "stop", work / "writer.json"
    writer = subprocess.Popen(
        [PYTHON, str(WORKERS), "run", "mixed", str(seeded), "--seed", "7", "--seconds", "300",
         "--result", str(result), "--go", str(go), "--stop", str(stop)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not Path(f"{result}.ready").exists():
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.05)
    go.write_text("go", encoding="utf-8")
    engine = Engine(fast_settings(seeded))
    zips = []
    try:
        for n in range(3):
            seen, until = engine.kb.seq, time.monotonic() + 120
            while engine.kb.seq == seen:  # each backup after the writer wrote more
                assert time.monotonic() < until, "the writer wrote nothing"
                time.sleep(0.05)
            zips.append(backup(engine, SYSTEM, tmp_path / f"backup-{n}.zip"))
    finally:
        stop.write_text("stop", encoding="utf-8")
        _out, err = writer.communicate(timeout=300)
        engine.close()
    assert writer.returncode == 0, err[-3000:]
    assert "database is locked" not in err
    done = json.loads(result.read_text(encoding="utf-8"))["ops"]
    reports = [_restore_and_check(z, tmp_path / f"restored-{n}" / "data")
               for n, z in enumerate(zips)]
    seqs = [r["seq"] for r in reports]
    assert seqs == sorted(set(seqs)), seqs  # three moments of the writer's work
    final = case_counts(seeded / "knownfix.db")
    report(f"3 backups during writes ({done}): database changes {seqs}; each restored, "
           f"checked and searchable; the live KB went on to {final['cases']} cases, "
           f"{final['articles']} articles")


@pytest.fixture
def good_backup(seeded: Path, tmp_path: Path) -> Path:
    engine = Engine(fast_settings(seeded))
    try:
        return backup(engine, SYSTEM, tmp_path / "good.zip")
    finally:
        engine.close()


def _rezip(src: Path, dst: Path, change) -> Path:
    """Copy a backup, letting `change(name, data)` alter or drop (None) each member."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dst


def _break_pages(db: bytes) -> bytes:
    """Scramble the b-tree header of every page after the first: a database that opens
    but whose tables cannot be read."""
    size = int.from_bytes(db[16:18], "big")
    out = bytearray(db)
    for page in range(size, len(db), size):
        out[page:page + 8] = bytes(b ^ 0x5A for b in out[page:page + 8])
    return bytes(out)


def _damaged(good: Path, tmp: Path) -> dict[str, Path]:
    raw = good.read_bytes()
    out = {}
    out["empty"] = tmp / "empty.zip"
    out["empty"].write_bytes(b"")
    out["random bytes"] = tmp / "random.zip"
    out["random bytes"].write_bytes(bytes(range(256)) * 64)
    out["truncated"] = tmp / "truncated.zip"
    out["truncated"].write_bytes(raw[: len(raw) // 2])
    # flip bytes in the middle of the stored (compressed) database: the CRC no longer fits
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("knownfix.db")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    mid = start + info.compress_size // 2
    out["bad checksum"] = tmp / "crc.zip"
    out["bad checksum"].write_bytes(raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 16])
                                    + raw[mid + 16:])
    out["damaged database"] = _rezip(good, tmp / "db.zip", lambda n, d: _break_pages(d)
                                     if n == "knownfix.db" else d)
    out["not a database"] = _rezip(good, tmp / "notdb.zip", lambda n, d: b"hello " * 500
                                   if n == "knownfix.db" else d)
    other = tmp / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    out["another program's database"] = _rezip(
        good, tmp / "other.zip", lambda n, d: other.read_bytes() if n == "knownfix.db" else d)
    out["no backup.json"] = _rezip(good, tmp / "nometa.zip",
                                   lambda n, d: None if n == "backup.json" else d)
    out["index files missing"] = _rezip(good, tmp / "noindex.zip", lambda n, d: None
                                        if n.startswith("index/") and n != "index/manifest.json"
                                        else d)
    out["unreadable index manifest"] = _rezip(good, tmp / "manifest.zip", lambda n, d: b"{"
                                              if n == "index/manifest.json" else d)
    return out


@pytest.mark.reliability
def test_a_damaged_backup_is_a_clear_bad_input(good_backup: Path, seeded: Path,
                                               tmp_path: Path) -> None:
    assert check(good_backup)["integrity"] == "ok"
    before = case_counts(seeded / "knownfix.db")
    for what, path in _damaged(good_backup, tmp_path).items():
        with pytest.raises(BadInput) as err:
            check(path)
        message = str(err.value)
        assert path.name in message and "\n" not in message, (what, message)
        with pytest.raises(BadInput):  # and restore changes nothing
            restore(path, fast_settings(seeded))
        assert case_counts(seeded / "knownfix.db") == before, what
        assert not list(seeded.glob("before-restore-*")), what
        result = CliRunner().invoke(app, ["check-backup", str(path)], env=FAST)
        assert result.exit_code == 1, (what, result.output)
        assert result.stderr.strip().startswith("error: ") and \
            len(result.stderr.strip().splitlines()) == 1, (what, result.stderr)


@pytest.mark.reliability
def test_restore_refuses_while_another_process_has_the_database_open(
        good_backup: Path, seeded: Path) -> None:
    holder = subprocess.Popen([PYTHON, str(WORKERS), "hold", str(seeded)], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
        with pytest.raises(BadInput, match=f"in use by process.*{holder.pid}.*stop the app"):
            restore(good_backup, fast_settings(seeded))
    finally:
        holder.kill()
        holder.communicate()
    report = restore(good_backup, fast_settings(seeded))
    kept = Path(report["kept"])
    assert (kept / "knownfix.db").is_file() and (kept / "index").is_dir()
    assert check_database(seeded / "knownfix.db") == []


def _store_env(store: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a command on `store`: on PostgreSQL a new database of the
    tests' own server as KNOWNFIX_DATABASE_URL."""
    if store == "sqlite":
        return dict(FAST)
    return {**FAST, "KNOWNFIX_DATABASE_URL": request.getfixturevalue("pg_cluster").new_database()}


@pytest.mark.parametrize(("source", "dest"), [
    ("sqlite", "sqlite"), ("postgresql", "sqlite"), ("sqlite", "postgresql")])
def test_cli_backup_check_and_restore(source: str, dest: str, tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    """A backup taken on either store is checked and restores onto either store (from
    PostgreSQL onto PostgreSQL: test_restore_on_postgresql_refuses_while_…)."""
    env = _store_env(source, request)
    seeded = tmp_path / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        seed(seeded)
    runner = CliRunner()
    zip_path = tmp_path / "cli.zip"
    done = runner.invoke(app, ["backup", "--out", str(zip_path), "--data-dir", str(seeded)],
                         env=env)
    assert done.exit_code == 0, done.output
    assert "integrity ok" in done.stdout and zip_path.is_file()
    checked = runner.invoke(app, ["check-backup", str(zip_path), "--json"], env=FAST)
    assert checked.exit_code == 0 and json.loads(checked.stdout)["cases"] == 8
    env = _store_env(dest, request)
    target = tmp_path / "new" / "data"
    restored = runner.invoke(app, ["restore", str(zip_path), "--data-dir", str(target)],
                             env=env)
    assert restored.exit_code == 0, restored.output
    assert "8 cases" in restored.stdout and restored.stderr == ""
    asked = runner.invoke(app, ["restore", str(zip_path), "--data-dir", str(target)],
                          env=env, input="n\n")
    assert asked.exit_code == 1 and "nothing was changed" in asked.stderr
    again = runner.invoke(app, ["restore", str(zip_path), "--data-dir", str(target), "--yes"],
                          env=env)
    assert again.exit_code == 0 and "before-restore-" in again.stdout
    kept = Path(again.stdout.split("are in ")[1].split()[0])
    assert check_database(kept / "knownfix.db") == [] and (kept / "index").is_dir()
    found = runner.invoke(app, ["search", "NVR HDD error", "--data-dir", str(target)],
                          env=env)
    assert found.exit_code == 0 and "case:C2" in found.stdout
    shutil.rmtree(target.parent)


@pytest.fixture
def on_postgresql(pg_cluster, tmp_path: Path) -> Path:
    """A data folder whose knowledge base is a new database on the tests' PostgreSQL
    (the small labelled KB, its index saved); its settings: `fast_settings(...)` with
    the database_url written beside it."""
    data = tmp_path / "pg-data"
    url = pg_cluster.new_database()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOWNFIX_DATABASE_URL", url)
        seed(data)
    (data / "url").write_text(url, encoding="utf-8")
    return data


def pg_settings(data: Path):
    return fast_settings(data).with_(database_url=(data / "url").read_text(encoding="utf-8"))


@pytest.mark.reliability
def test_a_backup_on_postgresql_holds_one_moment_while_others_write(
        on_postgresql: Path, tmp_path: Path) -> None:
    """Each writer transaction upserts a batch of 10 cases: a backup holds whole batches,
    each case with its 'created' event, and never an index newer than its database."""
    settings = pg_settings(on_postgresql)
    stop, written = threading.Event(), []

    def write() -> None:
        kb = KnowledgeBase(settings.database)
        try:
            while not stop.is_set():
                n = len(written)
                kb.upsert([Record("case", f"W{n}-{i}", text=f"写入批次 {n} 第 {i} 条",
                                  extra={"batch": n}, state="closed") for i in range(10)])
                written.append(n)
        finally:
            kb.close()

    writer = threading.Thread(target=write)
    writer.start()
    engine = Engine(settings, background=False)
    zips = []
    try:
        for n in range(3):
            seen = len(written)
            while len(written) == seen:
                time.sleep(0.01)
            zips.append(backup(engine, SYSTEM, tmp_path / f"pg-{n}.zip"))
    finally:
        stop.set()
        writer.join()
        engine.close()
    for z in zips:
        report = check(z)
        with zipfile.ZipFile(z) as zf:
            zf.extract("knownfix.db", tmp_path / z.stem)
        conn = sqlite3.connect(tmp_path / z.stem / "knownfix.db")
        try:
            sizes = {n for (n,) in conn.execute(
                "SELECT COUNT(*) FROM cases WHERE id LIKE 'W%' "
                "GROUP BY json_extract(extra, '$.batch')")}
            created = conn.execute("SELECT COUNT(*) FROM events WHERE action = 'created' "
                                   "AND target LIKE 'case:W%'").fetchone()[0]
            cases = conn.execute("SELECT COUNT(*) FROM cases WHERE id LIKE 'W%'").fetchone()[0]
        finally:
            conn.close()
        assert sizes == {10} and created == cases > 0, (z.name, sizes, created, cases)
        assert report["cases"] == cases + 8
    seqs = [check(z)["seq"] for z in zips]
    assert seqs == sorted(set(seqs)), seqs  # three moments of the writer's work


@pytest.mark.reliability
def test_restore_on_postgresql_refuses_while_another_knownfix_is_connected(
        on_postgresql: Path, tmp_path: Path) -> None:
    settings = pg_settings(on_postgresql)
    engine = Engine(settings, background=False)
    try:
        engine.upsert([Record("case", "LATE-1", text="备份之后才受理的工单", state="closed")])
        good = backup(engine, SYSTEM, tmp_path / "pg.zip")
        engine.upsert([Record("case", "LATE-2", text="恢复时会被替换", state="closed")])
        with pytest.raises(BadInput, match=r"in use by 1 other KnownFix connection.*stop "
                           r"every app server"):
            restore(good, settings)
        assert engine.kb.get("case", "LATE-2")  # nothing was replaced
    finally:
        engine.close()
    # a second server's own index, saved while LATE-2 was in the database
    other = Engine(fast_settings(tmp_path / "server-b").with_(
        database_url=settings.database_url), background=False)
    assert "case:LATE-2" in other._index
    other.close()
    report = restore(good, settings)
    kept = Path(report["kept"])
    assert check_database(kept / "knownfix.db") == [] and (kept / "index").is_dir()
    old = sqlite3.connect(kept / "knownfix.db")
    assert old.execute("SELECT COUNT(*) FROM cases WHERE id = 'LATE-2'").fetchone()[0] == 1
    old.close()
    engine = Engine(settings, background=False)
    try:
        assert engine.integrity is None, engine.integrity  # the backup's index fits
        assert not engine.kb.get_many(["case:LATE-2"]) and engine.kb.get("case", "LATE-1")
        assert "case:C2" in [h.hit.key for h in engine.search("NVR HDD error")]
    finally:
        engine.close()
    # the other server's index describes the replaced database: rebuilt at its start
    other = Engine(fast_settings(tmp_path / "server-b").with_(
        database_url=settings.database_url), background=False)
    try:
        assert "another database" in (other.integrity or "")
        assert "case:LATE-2" not in other._index and "case:LATE-1" in other._index
    finally:
        other.close()


def _with_schema(good: Path, dst: Path, version: int, tmp: Path) -> Path:
    """A copy of a backup whose database says schema `version`; an older one also lacks
    a column that version did not have yet."""
    db = tmp / f"schema-{version}.db"
    with zipfile.ZipFile(good) as zf:
        db.write_bytes(zf.read("knownfix.db"))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    if version < SCHEMA_VERSION:
        conn.execute("ALTER TABLE cases DROP COLUMN lang")
    conn.commit()
    conn.close()
    return _rezip(good, dst, lambda n, d: db.read_bytes() if n == "knownfix.db" else d)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_an_older_backup_is_upgraded_and_a_newer_one_refused(
        store: str, good_backup: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _store_env(store, request).get("KNOWNFIX_DATABASE_URL", "")
    settings = fast_settings(tmp_path / "target").with_(database_url=url)
    newer = _with_schema(good_backup, tmp_path / "newer.zip", SCHEMA_VERSION + 1, tmp_path)
    with pytest.raises(NewerSchema, match="taken by a newer KnownFix"):
        restore(newer, settings)
    assert not (tmp_path / "target").exists() or not any((tmp_path / "target").iterdir())
    older = _with_schema(good_backup, tmp_path / "older.zip", SCHEMA_VERSION - 1, tmp_path)
    restore(older, settings)
    engine = Engine(settings, background=False)
    try:
        assert "lang" in engine.kb.db["cases"].columns_dict
        assert engine.kb.meta("schema_version") == str(SCHEMA_VERSION)
        assert "case:C2" in [h.hit.key for h in engine.search("NVR HDD error")]
    finally:
        engine.close()
