"""The start-up check (service/integrity.py): a broken, stale or disagreeing index is
repaired or rebuilt from the database with one clear line, never a crash; a sound index
is left alone.  Each test runs on both stores (the index is in the data folder either
way)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import IndexCorrupt, ModelMismatch
from indexer.index import Index
from service import integrity
from service.engine import Engine
from tests.helpers import small_kb_records
from tests.reliability.checks import check_index
from tests.reliability.conftest import FAST, Seeded

QUERY = "NVR beeps with HDD error and playback is empty"


def _open(store: Seeded) -> Engine:
    return Engine(store.settings, background=False)


def _works(engine: Engine) -> None:
    assert check_index(engine) == []
    assert "case:C2" in [r.hit.key for r in engine.search(QUERY)]


def _gen_files(data: Path) -> list[Path]:
    manifest = json.loads((data / "index" / "manifest.json").read_text(encoding="utf-8"))
    return sorted((data / "index").glob(f"*-{manifest['generation']}.*"))


def test_a_sound_index_is_left_alone(seeded_kb: Seeded) -> None:
    engine = _open(seeded_kb)
    try:
        assert engine.integrity is None
        _works(engine)
    finally:
        engine.close()


def test_catching_up_with_other_writers_is_not_a_repair(seeded_kb: Seeded) -> None:
    other = _open(seeded_kb)
    other.kb.upsert(small_kb_records()[:2])  # written, not yet indexed by anyone
    other.kb.delete("case", "C3")
    other.kb.close()
    engine = _open(seeded_kb)
    try:
        assert engine.integrity is None
        _works(engine)
        assert not engine.indexed("case:C3")
    finally:
        engine.close()


@pytest.mark.parametrize("damage", ["manifest", "vectors", "lexical", "ids", "missing files",
                                    "format", "manifest keys"])
def test_an_unreadable_index_is_rebuilt_with_a_clear_message(seeded_kb: Seeded,
                                                             damage) -> None:
    seeded = seeded_kb.data
    index = seeded / "index"
    manifest = index / "manifest.json"
    files = {f.name.split("-")[0]: f for f in _gen_files(seeded)}
    if damage == "manifest":
        manifest.write_bytes(b"\x00garbage{")
    elif damage in ("vectors", "lexical", "ids"):
        raw = files[damage].read_bytes()
        files[damage].write_bytes(raw[: len(raw) // 3])
    elif damage == "missing files":
        for f in files.values():
            f.unlink()
    elif damage == "format":
        data = json.loads(manifest.read_text(encoding="utf-8"))
        manifest.write_text(json.dumps({**data, "format_version": 0}), encoding="utf-8")
    else:
        manifest.write_text(json.dumps({"generation": "x"}), encoding="utf-8")
    engine = _open(seeded_kb)
    try:
        assert engine.integrity is not None
        assert engine.integrity.startswith("index check: the index could not be read")
        assert "rebuilt it from the database (9 records)" in engine.integrity
        assert "\n" not in engine.integrity
        _works(engine)
    finally:
        engine.close()
    again = _open(seeded_kb)  # the rebuilt index was saved
    try:
        assert again.integrity is None
        Index.open(seeded / "index", again.encoder, "faiss")
    finally:
        again.close()


def _copy(store: Seeded, tmp_path: Path) -> str:
    """A copy of the store's database as it is now: a SQLite file beside it, or a new
    PostgreSQL database made from it (it must have no other connection then)."""
    if not store.url:
        older = tmp_path / "older.db"
        src, dst = sqlite3.connect(store.database), sqlite3.connect(older)
        src.backup(dst)
        src.close()
        dst.close()
        return str(older)
    import psycopg

    url = urlsplit(store.url)
    name = url.path.strip("/")
    with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_older" TEMPLATE "{name}"')
    return url._replace(path=f"/{name}_older").geturl()


def _bring_back(store: Seeded, older: str) -> Seeded:
    """The older copy becomes the store's database again: the file copied back, or the
    server pointed at the restored PostgreSQL database."""
    if store.url:
        return Seeded(store.data, older)
    for suffix in ("-wal", "-shm"):
        Path(f"{store.database}{suffix}").unlink(missing_ok=True)
    shutil.copy(older, store.database)
    return store


def test_an_index_newer_than_the_database_is_rebuilt(seeded_kb: Seeded, tmp_path: Path) -> None:
    older = _copy(seeded_kb, tmp_path)
    engine = _open(seeded_kb)
    engine.upsert([r for r in small_kb_records() if r.id in ("C1", "C2")])  # seq moves on
    engine.kb.delete("case", "C4")
    engine.close()
    engine = _open(_bring_back(seeded_kb, older))  # an older database comes back
    try:
        assert "only reaches" in engine.integrity and "rebuilt" in engine.integrity
        _works(engine)
        assert engine.indexed("case:C4")  # the old database still has it
    finally:
        engine.close()


def test_records_the_database_lost_or_the_index_missed_are_repaired(
        seeded_kb: Seeded) -> None:
    engine = _open(seeded_kb)
    engine._index.delete(["case:C5"])  # the index misses one...
    engine.save()
    engine.kb.db.execute("DELETE FROM cases WHERE id = 'C6'")  # ...and one vanished unlogged
    engine.kb.close()
    engine = _open(seeded_kb)
    try:
        assert engine.integrity == ("index check: the index disagreed with the database "
                                    "(1 record(s) not in the database, 1 missing); repaired")
        assert engine.indexed("case:C5") and not engine.indexed("case:C6")
        _works(engine)
    finally:
        engine.close()


def test_a_big_disagreement_is_rebuilt_not_patched(seeded_kb: Seeded, monkeypatch) -> None:
    monkeypatch.setattr(integrity, "REBUILD_MIN", 1)
    monkeypatch.setattr(integrity, "REBUILD_SHARE", 0.1)
    engine = _open(seeded_kb)
    engine._index.delete(["case:C1", "case:C2", "case:C3"])
    engine.save()
    engine.kb.close()
    engine = _open(seeded_kb)
    try:
        assert "3 missing" in engine.integrity and "rebuilt" in engine.integrity
        _works(engine)
    finally:
        engine.close()


def test_a_model_change_is_still_refused(seeded_kb: Seeded) -> None:
    settings = seeded_kb.settings.with_(model="hash:128")
    with pytest.raises(ModelMismatch, match="knownfix reindex"):
        Engine(settings)


def test_files_replaced_by_another_process_while_opening_are_read_again(
        seeded_kb: Seeded, monkeypatch) -> None:
    """Another process's save deletes the old generation between reading the manifest
    and reading the files: the index is read again under the save lock, not rebuilt."""
    real = Index.open
    calls = []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IndexCorrupt("index files in x are unreadable (No such file)")
        return real(*args, **kwargs)

    monkeypatch.setattr(Index, "open", racing)
    engine = _open(seeded_kb)
    try:
        assert engine.integrity is None and len(calls) == 2
        _works(engine)
    finally:
        engine.close()


def test_the_cli_prints_what_was_repaired_on_stderr(seeded_kb: Seeded) -> None:
    seeded = seeded_kb.data
    env = {**FAST, "KNOWNFIX_DATABASE_URL": seeded_kb.url}
    (seeded / "index" / "manifest.json").write_text("{", encoding="utf-8")
    result = CliRunner().invoke(app, ["stats", "--json", "--data-dir", str(seeded)], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("index check: the index could not be read")
    assert json.loads(result.stdout)["index"]["count"] == 9
    quiet = CliRunner().invoke(app, ["stats", "--json", "--data-dir", str(seeded)], env=env)
    assert quiet.exit_code == 0 and quiet.stderr == ""
