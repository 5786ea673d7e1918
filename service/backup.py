"""Online backup and restore of the database and the index, consistent with each other.

The database is copied with SQLite's backup API (a consistent snapshot while others
write); the index files of the current generation are copied under the index's save
lock.  An index never claims more than the database holds (it records the KB sequence
number it reflects), so after a restore it simply catches up from the database.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import zipfile
from pathlib import Path

from filelock import FileLock

from errors import BadInput
from kb.store import now_utc
from service.auth import User, require
from service.engine import Engine
from settings import Settings

FORMAT = 1


def backup(engine: Engine, actor: User, dest: str | Path | None = None) -> Path:
    """Write a .zip with the database snapshot and the saved index; returns its path."""
    require(actor, "backup")
    s = engine.settings
    engine.refresh(save=True)
    out = Path(dest) if dest else Path(s.data_dir) / "backups" / \
        f"knownfix-{now_utc().replace(':', '')}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(tmp) / "knownfix.db"
        target = sqlite3.connect(snap)
        engine.kb.db.conn.backup(target)
        target.close()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(snap, "knownfix.db")
            with FileLock(str(s.index_dir / "save.lock"), timeout=120):
                manifest = json.loads((s.index_dir / "manifest.json").read_text("utf-8"))
                gen = manifest["generation"]
                for f in s.index_dir.glob(f"*-{gen}.*"):
                    zf.write(f, f"index/{f.name}")
                zf.writestr("index/manifest.json", json.dumps(manifest))
            zf.writestr("backup.json", json.dumps({"format": FORMAT, "at": now_utc()}))
    engine.kb.log(actor.username, "backup", f"file:{out.name}")
    return out


def check(path: str | Path) -> dict:
    """Integrity check of a backup file without restoring it."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"no such backup: {p}")
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            if "knownfix.db" not in names or "backup.json" not in names:
                raise BadInput(f"{p.name} is not a KnownFix backup")
            with tempfile.TemporaryDirectory() as tmp:
                zf.extract("knownfix.db", tmp)
                conn = sqlite3.connect(Path(tmp) / "knownfix.db")
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
                counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                          for t in ("cases", "articles", "events")}
                conn.close()
    except zipfile.BadZipFile as exc:
        raise BadInput(f"{p.name} is not a readable zip file") from exc
    if ok != "ok":
        raise BadInput(f"{p.name}: database integrity check failed: {ok}")
    return {"integrity": ok, **counts, "has_index": "index/manifest.json" in names}


def restore(path: str | Path, settings: Settings) -> dict:
    """Replace the data folder's database and index with a backup's (run it while the
    app is stopped). Returns the integrity report."""
    report = check(path)
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(dir=data) as tmp:
        zf.extractall(tmp)
        for suffix in ("-wal", "-shm"):
            Path(str(settings.db_path) + suffix).unlink(missing_ok=True)
        shutil.move(str(Path(tmp) / "knownfix.db"), settings.db_path)
        if settings.index_dir.exists():
            shutil.rmtree(settings.index_dir)
        if (Path(tmp) / "index").is_dir():
            shutil.move(str(Path(tmp) / "index"), settings.index_dir)
    return report
