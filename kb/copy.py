"""Copy a whole knowledge base from one store into another (SQLite or PostgreSQL, either
way round): `copy_tables(source, target)`.

Every table of the source is copied, none skipped: the knowledge base's own and those
the services create on first use (users, sessions).  The target must already have
them all, made by the same code (open it as a KnowledgeBase, and the services that
create tables lazily, see service/store_migration.py `open_whole`); a source table or
column the target lacks is refused, so nothing is dropped on the way.  Columns the
target has and the source lacks (a backup from an older version) stay empty.

What the target held is replaced, in one target transaction: the copy lands whole or
not at all, and the source is read in one snapshot.  On PostgreSQL the target's tables
are emptied with TRUNCATE (the event log's append-only triggers are row triggers on
UPDATE and DELETE: TRUNCATE fires neither, and INSERT is allowed) and every identity
sequence is set past the copied ids afterwards, so new rows do not collide with them.
A SQLite target must have an empty event log: a SQLite knowledge base is replaced as a
file (`knownfix restore`), never row by row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from errors import CopyFailed
from kb.store import KnowledgeBase

BATCH = 2000
Progress = Callable[[str, int], None]  # (table, rows copied so far)


def table_names(kb: KnowledgeBase) -> list[str]:
    """Every table of the knowledge base's store (not SQLite's own), sorted."""
    return sorted(t for t in kb.db.table_names() if not t.startswith("sqlite_"))


def primary_key(kb: KnowledgeBase, table: str) -> list[str]:
    """The columns of a table's primary key, in order."""
    if kb.dialect == "postgresql":
        return list(kb.db.conn.primary_key(table))
    return list(kb.db[table].pks)


def copy_tables(source: KnowledgeBase, target: KnowledgeBase,
                progress: Progress | None = None, batch: int = BATCH) -> dict[str, int]:
    """Replace every table of `target` with the rows of `source`; returns the rows
    copied per table (every source table, 0 for an empty one).  Raises CopyFailed, with
    nothing written, when the target lacks a table or column of the source or a row
    cannot be stored there."""
    names = table_names(source)
    _check_shapes(source, target, names)
    counts: dict[str, int] = {}
    with source.snapshot(), target.transaction():
        _empty(target)
        for table in names:
            counts[table] = _copy_table(source, target, table, progress, batch)
        if target.dialect == "postgresql":
            _move_identities(target)
    return counts


def _check_shapes(source: KnowledgeBase, target: KnowledgeBase, names: list[str]) -> None:
    have = set(table_names(target))
    missing = [t for t in names if t not in have]
    if missing:
        raise CopyFailed(f"{target.where} has no table {', '.join(missing)}: it was not "
                         "made by this version of KnownFix")
    for table in names:
        lost = [c for c in source.db[table].columns_dict
                if c not in target.db[table].columns_dict]
        if lost:
            raise CopyFailed(f"{target.where} has no column {', '.join(lost)} in table "
                             f"{table}: the source is from a newer version of KnownFix")


def _empty(target: KnowledgeBase) -> None:
    names = table_names(target)
    if target.dialect == "postgresql":
        target.db.execute(f"TRUNCATE {', '.join(names)}")
        return
    if target.db["events"].count:
        raise CopyFailed(f"{target.where} already has an event log; a SQLite knowledge "
                         "base is replaced as a whole file (knownfix restore)")
    for table in names:
        target.db.execute(f"DELETE FROM {table}")


def _copy_table(source: KnowledgeBase, target: KnowledgeBase, table: str,
                progress: Progress | None, batch: int) -> int:
    cols = list(source.db[table].columns_dict)
    names = ", ".join(f'"{c}"' for c in cols)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
    done = 0
    for rows in _pages(source, table, cols, batch):
        try:
            target.db.conn.executemany(insert, rows)
        except sqlite3.DatabaseError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            raise CopyFailed(f"table {table}: a row could not be stored in "
                             f"{target.where} ({first}); nothing was copied") from exc
        done += len(rows)
        if progress:
            progress(table, done)
    return done


def _pages(kb: KnowledgeBase, table: str, cols: list[str], batch: int) -> Iterator[list]:
    """The table's rows, `batch` at a time, in primary-key order: each page starts after
    the last key of the one before (an index seek, however large the table)."""
    key = primary_key(kb, table)
    at = [cols.index(k) for k in key]
    select = f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {table}"
    order = f" ORDER BY {', '.join(key)} LIMIT {batch}"
    after = f" WHERE ({', '.join(key)}) > ({', '.join('?' * len(key))})"
    rows = kb.db.execute(select + order).fetchall()
    while rows:
        yield rows
        if len(rows) < batch:
            return
        rows = kb.db.execute(select + after + order, [rows[-1][i] for i in at]).fetchall()


def _move_identities(target: KnowledgeBase) -> None:
    """Each identity column's next value: one past the highest id copied."""
    for table in table_names(target):
        if "id" not in target.db[table].columns_dict:
            continue
        seq = target.db.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
        if seq:
            target.db.execute(f"SELECT setval(?, COALESCE((SELECT MAX(id) FROM {table}), 0) "
                              "+ 1, false)", [seq])
