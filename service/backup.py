"""Online backup and restore of the database and the index, consistent with each other,
on either store (SQLite, or PostgreSQL with `database_url`).

A backup is taken while others keep working.  The index files of the current generation
are taken first, under the index's save lock; the database is copied after that, at one
moment: a SQLite file with SQLite's backup API (a consistent snapshot while others
write), a PostgreSQL database table by table inside one REPEATABLE READ transaction
(kb/copy.py) into a SQLite file of the same layout.  So a backup has one format
whichever store it was taken on: `check` reads both, and either restores onto either
store.  The index in a backup never claims more than the database in it holds (it
records the KB sequence number it reflects), and after a restore it simply catches up
from the database.

Restore replaces the knowledge base and this data folder's index; run it with the app
and other `knownfix` commands stopped (it refuses while another process has the SQLite
file open, or another KnownFix is connected to the PostgreSQL database).  What it
replaces is kept in data/before-restore-<time>/ (from PostgreSQL: a copy of the
database, as a SQLite file).  On PostgreSQL the database's rows are replaced in one
transaction; a backup from an older KnownFix is upgraded on the way, one from a newer
KnownFix refused.

On PostgreSQL this is the application's own backup: one file, checked, that restores
onto either store.  The database's own tools — `pg_dump`, base backups with WAL
archiving for point-in-time recovery — remain the IT department's, beside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from filelock import FileLock

from errors import BadInput, NewerSchema
from indexer.index import stamp_epoch
from kb.copy import copy_tables
from kb.store import SCHEMA_VERSION, KnowledgeBase, now_utc
from service.auth import User, require
from service.engine import Engine
from service.store_migration import (
    describe,
    holds_knowledge_base,
    is_empty,
    open_whole,
    to_sqlite_file,
)
from settings import Settings

FORMAT = 1
TABLES = ("cases", "articles", "labels", "links", "events", "meta")
_INDEX_MEMBER = re.compile(r"index/[\w.-]+")


def backup(engine: Engine, actor: User, dest: str | Path | None = None) -> Path:
    """Write a .zip with the saved index and a database snapshot; returns its path."""
    require(actor, "backup")
    s = engine.settings
    engine.refresh(save=True)
    if not (s.index_dir / "manifest.json").is_file():
        engine.save()  # an empty KB's index has never been saved
    out = Path(dest) if dest else Path(s.data_dir) / "backups" / \
        f"knownfix-{now_utc().replace(':', '')}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as tmp:
        index_dir = Path(tmp) / "index"
        index_dir.mkdir()
        with FileLock(str(s.index_dir / "save.lock"), timeout=120):
            manifest = json.loads((s.index_dir / "manifest.json").read_text("utf-8"))
            for f in s.index_dir.glob(f"*-{manifest['generation']}.*"):
                _link_or_copy(f, index_dir / f.name)
        (index_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        snap = Path(tmp) / "knownfix.db"  # after the index: the database is never older
        _snapshot(engine.kb, snap)
        target = sqlite3.connect(snap)
        try:
            seq = target.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        finally:
            target.close()
        partial = Path(tmp) / "backup.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(snap, "knownfix.db")
            for f in sorted(index_dir.iterdir()):
                zf.write(f, f"index/{f.name}")
            zf.writestr("backup.json", json.dumps({
                "format": FORMAT, "at": now_utc(), "model": manifest.get("model"),
                "store": engine.kb.dialect,
                "db_seq": int(seq[0]) if seq else 0, "index_seq": manifest.get("seq")}))
        os.replace(partial, out)  # a backup file is complete or absent
    engine.kb.log(actor.username, "backup", f"file:{out.name}")
    return out


def _snapshot(kb: KnowledgeBase, path: Path) -> None:
    """The database at one moment, into the SQLite file `path`."""
    if kb.dialect == "postgresql":
        to_sqlite_file(kb, path)
        return
    target = sqlite3.connect(path)
    try:
        kb.db.conn.backup(target)
    finally:
        target.close()


def _link_or_copy(src: Path, dst: Path) -> None:
    """Index files are never changed once their generation is current: a hard link is a
    safe, instant copy (and survives the next save deleting the original)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def check(path: str | Path) -> dict:
    """Integrity check of a backup file without restoring it: the zip, the database
    (SQLite integrity check, KnownFix tables) and the index files its manifest names.
    Raises BadInput saying what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"no such backup: {p}")
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            if "knownfix.db" not in names or "backup.json" not in names:
                raise BadInput(f"{p.name} is not a KnownFix backup")
            bad = zf.testzip()
            if bad is not None:
                raise BadInput(f"{p.name} is damaged: {bad} fails its checksum")
            try:
                info = json.loads(zf.read("backup.json"))
                manifest = json.loads(zf.read("index/manifest.json")) \
                    if "index/manifest.json" in names else None
            except json.JSONDecodeError as exc:
                raise BadInput(f"{p.name} is damaged: its backup.json or index manifest "
                               "is not valid JSON") from exc
            with tempfile.TemporaryDirectory() as tmp:
                zf.extract("knownfix.db", tmp)
                report = _check_db(Path(tmp) / "knownfix.db", p.name)
    except zipfile.BadZipFile as exc:
        raise BadInput(f"{p.name} is not a readable zip file ({exc})") from exc
    except (zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise BadInput(f"{p.name} is damaged: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BadInput(f"{p.name}: unknown backup format {info!r}")
    if manifest is not None:
        if not isinstance(manifest, dict) or not isinstance(manifest.get("generation"), int):
            raise BadInput(f"{p.name}: the index manifest is unreadable")
        gen = manifest["generation"]
        if not any(n.startswith("index/") and n.endswith(f"-{gen}.json") for n in names):
            raise BadInput(f"{p.name}: the index files of generation {gen} are missing")
        if int(manifest.get("seq", 0)) > report["seq"]:
            raise BadInput(f"{p.name}: the index is newer than the database in it")
    return {**report, "has_index": manifest is not None, "at": info.get("at"),
            "model": (manifest or {}).get("model")}


def _check_db(db: Path, name: str) -> dict:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise BadInput(f"{name}: database integrity check failed: {ok}")
            have = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in TABLES if t not in have]
            if missing:
                raise BadInput(f"{name}: not a KnownFix database (no {', '.join(missing)})")
            counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("cases", "articles", "events")}
            seq, schema = (conn.execute("SELECT value FROM meta WHERE key = ?",
                                        [key]).fetchone() for key in ("seq", "schema_version"))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"{name}: the database in it is damaged ({exc})") from exc
    return {"integrity": ok, **counts, "seq": int(seq[0]) if seq else 0,
            "schema": int(schema[0]) if schema else 0}


def in_use_by(db_path: str | Path) -> list[int]:
    """Ids of processes that have the database (or its WAL) open, as far as /proc shows
    (Linux; elsewhere an empty list)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    db = Path(db_path).resolve()
    mine = {str(db), f"{db}-wal", f"{db}-shm"}
    found = []
    for pid in proc.iterdir():
        if not pid.name.isdigit():
            continue
        try:
            fds = list((pid / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in mine:
                    found.append(int(pid.name))
                    break
            except OSError:
                continue
    return sorted(found)


def replaces(settings: Settings) -> str | None:
    """Where a restore with these settings would replace a knowledge base: the data
    folder or the database (its address without the password); None when there is no
    knowledge base there yet."""
    url = settings.database_url.strip()
    if url:
        return describe(url) if holds_knowledge_base(url) else None
    return str(settings.data_dir) if Path(settings.db_path).exists() else None


def restore(path: str | Path, settings: Settings) -> dict:
    """Replace the knowledge base (the data folder's SQLite file, or the PostgreSQL
    database of `database_url`) and the data folder's index with a backup's. Refuses
    while another process has the database open (stop the app first). What it replaces
    is moved (the index) or copied (a PostgreSQL database) to
    data/before-restore-<time>/. Returns the check report, with `kept` naming that
    folder (None when there was nothing to keep)."""
    report = check(path)
    if report["schema"] > SCHEMA_VERSION:
        raise NewerSchema(f"{Path(path).name} was taken by a newer KnownFix (schema "
                          f"version {report['schema']}, this one knows {SCHEMA_VERSION}): "
                          "restore it with that version")
    if settings.database_url.strip():
        return _restore_database(path, settings, report)
    data = Path(settings.data_dir)
    db = Path(settings.db_path)
    users = in_use_by(db)
    if users:
        raise BadInput(f"the database {db} is in use by process(es) "
                       f"{', '.join(map(str, users))}: stop the app and other knownfix "
                       "commands, then restore")
    data.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(dir=data) as tmp:
        members = [n for n in zf.namelist()
                   if n == "knownfix.db" or _INDEX_MEMBER.fullmatch(n)]
        zf.extractall(tmp, members)
        kept = None
        old = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), settings.index_dir)
               if p.exists()]
        if old:
            kept = _kept_folder(data)
            for p in old:  # the database moves with its WAL: nothing of it is lost
                shutil.move(str(p), kept / p.name)
        os.replace(Path(tmp) / "knownfix.db", db)
        _put_index(Path(tmp), settings)
    return {**report, "kept": str(kept) if kept else None}


def _kept_folder(data: Path) -> Path:
    kept = data / f"before-restore-{now_utc().replace(':', '')}"
    kept.mkdir(parents=True, exist_ok=True)
    return kept


def _put_index(extracted: Path, settings: Settings) -> None:
    """The backup's index, extracted into `extracted`, becomes the data folder's."""
    if (extracted / "index").is_dir():
        shutil.move(str(extracted / "index"), settings.index_dir)


def _restore_database(path: str | Path, settings: Settings, report: dict) -> dict:
    """restore() onto PostgreSQL: the backup's tables replace the database's in one
    transaction; the replaced database is first copied into before-restore-<time>/."""
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    kept = None
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(dir=data) as tmp:
        zf.extractall(tmp, [n for n in zf.namelist()
                            if n == "knownfix.db" or _INDEX_MEMBER.fullmatch(n)])
        # opened as a knowledge base: a backup of an older schema is upgraded, here
        source = open_whole(str(Path(tmp) / "knownfix.db"))
        try:
            target = open_whole(settings.database_url.strip())
            try:
                _refuse_other_servers(target)
                if not is_empty(target):
                    kept = _kept_folder(data)
                    to_sqlite_file(target, kept / "knownfix.db")
                copy_tables(source, target)
                # the other servers' indexes describe what was replaced: a new epoch makes
                # each rebuild at its start instead of catching up by sequence numbers
                target.new_epoch()
                epoch = target.epoch
            finally:
                target.close()
        finally:
            source.close()
        if settings.index_dir.exists():
            kept = kept or _kept_folder(data)
            shutil.move(str(settings.index_dir), kept / settings.index_dir.name)
        _put_index(Path(tmp), settings)
        if settings.index_dir.is_dir():  # the backup's own index does describe it
            stamp_epoch(settings.index_dir, epoch)
    return {**report, "kept": str(kept) if kept else None}


def _refuse_other_servers(kb: KnowledgeBase, grace: float = 1.0) -> None:
    """BadInput while another KnownFix process is connected to the PostgreSQL database
    (its connections say application_name knownfix).  Connections that are closing are
    given `grace` seconds to go."""
    until = time.monotonic() + grace
    while True:
        n, hosts = kb.db.execute(
            "SELECT COUNT(*), string_agg(DISTINCT COALESCE(host(client_addr), 'local'), ', ')"
            " FROM pg_stat_activity WHERE datname = current_database() AND "
            "application_name = 'knownfix' AND pid <> pg_backend_pid()").fetchone()
        if not n:
            return
        if time.monotonic() > until:
            raise BadInput(f"the database {kb.where} is in use by {n} other KnownFix "
                           f"connection(s) (from {hosts}): stop every app server and "
                           "other knownfix commands, then restore")
        time.sleep(0.2)
