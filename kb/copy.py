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
from collections.abc import Iterator

from errors import CopyFailed
from kb.store import KnowledgeBase

BATCH = 2000  # rows read and written at a time


def table_names(kb: KnowledgeBase) -> list[str]:
    """Every table of the knowledge base's store (not SQLite's own), sorted."""
    return sorted(t for t in kb.db.table_names() if not t.startswith("sqlite_"))


def primary_key(kb: KnowledgeBase, table: str) -> list[str]:
    """The columns of a table's primary key, in order."""
    if kb.dialect == "postgresql":
        return list(kb.db.conn.primary_key(table))
    return list(kb.db[table].pks)


def copy_tables(source: KnowledgeBase, target: KnowledgeBase,
                batch: int = BATCH) -> dict[str, int]:
    """Replace every table of `target` with the rows of `source`; returns the rows
    copied per table (every source table, 0 for an empty one).  Raises CopyFailed, with
    nothing written, when the target lacks a table or column of the source or a row
    cannot be stored there."""
    columns = _shapes(source, target)
    counts: dict[str, int] = {}
    with source.snapshot(), target.transaction():
        _empty(target)
        for table, cols in columns.items():
            counts[table] = _copy_table(source, target, table, cols, batch)
        if target.dialect == "postgresql":
            _move_identities(target)
    return counts


def _shapes(source: KnowledgeBase, target: KnowledgeBase) -> dict[str, list[str]]:
    """Each source table's columns; CopyFailed when the target lacks one of them."""
    have = set(table_names(target))
    columns = {t: list(source.db[t].columns_dict) for t in table_names(source)}
    missing = [t for t in columns if t not in have]
    if missing:
        raise CopyFailed(f"{target.where} has no table {', '.join(missing)}: it was not "
                         "made by this version of KnownFix")
    for table, cols in columns.items():
        theirs = target.db[table].columns_dict
        lost = [c for c in cols if c not in theirs]
        if lost:
            raise CopyFailed(f"{target.where} has no column {', '.join(lost)} in table "
                             f"{table}: the source is from a newer version of KnownFix")
    return columns


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


def _copy_table(source: KnowledgeBase, target: KnowledgeBase, table: str, cols: list[str],
                batch: int) -> int:
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
    tables = [r[0] for r in target.db.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND column_name = 'id' AND is_identity = 'YES'")]
    for table in tables:
        target.db.execute(f"SELECT setval(pg_get_serial_sequence(?, 'id'), "
                          f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)", [table])
