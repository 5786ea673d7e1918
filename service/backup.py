"""Online backup and restore of the database and the index, consistent with each other.

A backup is taken while others keep working.  The index files of the current generation
are taken first, under the index's save lock; the database is copied after that with
SQLite's backup API (a consistent snapshot while others write).  So the index in a backup
never claims more than the database in it holds (it records the KB sequence number it
reflects), and after a restore it simply catches up from the database.

Restore replaces the data folder's database and index; run it with the app and other
`knownfix` commands stopped (it refuses while another process has the database open,
where that can be seen).  What it replaces is kept in data/before-restore-<time>/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from pathlib import Path

from filelock import FileLock

from errors import BadInput
from kb.store import now_utc
from service.auth import User, require
from service.engine import Engine
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
        target = sqlite3.connect(snap)
        try:
            engine.kb.db.conn.backup(target)
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
                "db_seq": int(seq[0]) if seq else 0, "index_seq": manifest.get("seq")}))
        os.replace(partial, out)  # a backup file is complete or absent
    engine.kb.log(actor.username, "backup", f"file:{out.name}")
    return out


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
            seq = conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"{name}: the database in it is damaged ({exc})") from exc
    return {"integrity": ok, **counts, "seq": int(seq[0]) if seq else 0}


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


def restore(path: str | Path, settings: Settings) -> dict:
    """Replace the data folder's database and index with a backup's. Refuses while
    another process has the database open (stop the app first). The database and index
    it replaces are moved to data/before-restore-<time>/. Returns the check report,
    with `kept` naming that folder (None when there was nothing to keep)."""
    report = check(path)
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
            kept = data / f"before-restore-{now_utc().replace(':', '')}"
            kept.mkdir(parents=True, exist_ok=True)
            for p in old:  # the database moves with its WAL: nothing of it is lost
                shutil.move(str(p), kept / p.name)
        os.replace(Path(tmp) / "knownfix.db", db)
        if (Path(tmp) / "index").is_dir():
            shutil.move(str(Path(tmp) / "index"), settings.index_dir)
    return {**report, "kept": str(kept) if kept else None}
