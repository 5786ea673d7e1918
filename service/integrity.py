"""Start-up check of the index against the database, with repair.

The database is the truth; the index is derived from it and can always be rebuilt.
When an Engine opens, `check_and_repair` makes sure the index it loaded describes the
database it opened:

- an unreadable index (broken manifest, missing or damaged files, an old format) is
  rebuilt from the database instead of stopping the program;
- an index that claims more changes than the database holds (an older database was
  restored, or the database was replaced) is rebuilt;
- after catching up with the database's changes, records the index holds but the database
  does not are dropped and records the database holds but the index lacks are indexed
  (a rebuild when too much differs).

A model or dimension change is not repaired here: `Index.open` raises ModelMismatch
(rebuilding with another model is a deliberate `knownfix reindex`).
The check returns one line saying what it did, or None when all was well; the CLI prints
it on stderr and the admin page shows it.
"""

from __future__ import annotations

import pickle
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from errors import IndexCorrupt
from indexer.encoder import Encoder
from indexer.index import Index

if TYPE_CHECKING:
    from kb.store import KnowledgeBase

# An index differing from the database in more than this share of its records (and more
# than REBUILD_MIN records) is rebuilt rather than patched record by record.
REBUILD_SHARE = 0.2
REBUILD_MIN = 1000

_UNREADABLE: weakref.WeakKeyDictionary[Index, str] = weakref.WeakKeyDictionary()
_BROKEN = (IndexCorrupt, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError,
           RuntimeError, FileNotFoundError)


def open_index(folder: str | Path, encoder: Encoder, *args, **kwargs) -> Index:
    """`Index.open` (same arguments), except that an unreadable index does not stop the
    program: it is read again under the save lock (another process may have just
    replaced its files) and, if still unreadable, an empty index is returned for
    `check_and_repair` to rebuild. ModelMismatch is raised as by `Index.open`."""
    try:
        return Index.open(folder, encoder, *args, **kwargs)
    except _BROKEN:
        pass
    try:
        with FileLock(str(Path(folder) / "save.lock"), timeout=120):
            return Index.open(folder, encoder, *args, **kwargs)
    except _BROKEN as exc:
        idx = Index(folder, encoder, *args, **kwargs)
        _UNREADABLE[idx] = str(exc) or exc.__class__.__name__
        return idx


def check_and_repair(kb: KnowledgeBase, index: Index, refresh: Callable[[], object],
                     save: Callable[[], None]) -> str | None:
    """Compare an engine's index with its database and repair it (the engine holds its
    lock and passes its own `refresh` and `save`); returns one line saying what was done,
    or None when the index was sound (catching up with recent changes is normal work and
    not reported)."""
    reason = _UNREADABLE.pop(index, None)
    if reason is not None:
        return _rebuild(kb, index, save, f"the index could not be read ({_short(reason)})")
    if index.seq and index.epoch != kb.epoch:
        return _rebuild(kb, index, save, "the index was built from another database (a "
                        "backup was restored, or the database was replaced)")
    if index.seq > kb.seq:
        return _rebuild(kb, index, save, f"the index reflects change {index.seq} but the "
                        f"database only reaches {kb.seq} (an older database was restored?)")
    refresh()
    if len(index.vectors) != len(index.key_to_id) or \
            len(index.lexical) != len(index.key_to_id):
        return _rebuild(kb, index, save, "the index's parts disagree on their counts")
    extra, missing = compare(kb, index)
    if not extra and not missing:
        return None
    differ = len(extra) + len(missing)
    what = f"{len(extra)} record(s) not in the database, {len(missing)} missing"
    if differ > max(REBUILD_MIN, REBUILD_SHARE * len(index)):
        return _rebuild(kb, index, save, f"the index disagreed with the database ({what})")
    index.delete(extra)
    records = kb.get_many(missing)
    index.upsert([records[k] for k in sorted(records)])
    save()
    return f"index check: the index disagreed with the database ({what}); repaired"


def compare(kb: KnowledgeBase, index: Index) -> tuple[list[str], list[str]]:
    """(keys only the index has, keys only the database has), each sorted, as of the
    database change the index reflects (`index.seq`).  Records written or removed after
    it are left out: the index may or may not hold them yet, and its next sync settles
    them.  So the answer is exact even while other processes write."""
    seen = index.seq
    conn = kb.db.conn
    with kb.snapshot():  # one read snapshot for every query below
        upto, newer = set(), set()
        for key, seq in conn.execute("SELECT 'case:' || id, seq FROM cases UNION ALL "
                                     "SELECT 'article:' || id, seq FROM articles"):
            (upto if (seq or 0) <= seen else newer).add(key)
        newer.update(r[0] for r in conn.execute("SELECT key FROM removed WHERE seq > ?",
                                                [seen]))
    in_index = set(index.key_to_id)
    return sorted(in_index - upto - newer), sorted(upto - in_index)


def _rebuild(kb: KnowledgeBase, index: Index, save: Callable[[], None], why: str) -> str:
    index.folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index.folder / "save.lock"), timeout=120):
        try:
            on_disk = index.read_manifest()
        except IndexCorrupt:
            on_disk = "unreadable"
        gen = on_disk.get("generation") if isinstance(on_disk, dict) else None
        if on_disk is not None and not isinstance(gen, int):  # unusable: saved anew below
            (index.folder / "manifest.json").unlink(missing_ok=True)
    index.generation = max(index.generation, gen if isinstance(gen, int) else 0)
    n = index.rebuild(kb)
    save()
    return f"index check: {why}; rebuilt it from the database ({n} records)"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
