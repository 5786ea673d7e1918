"""The knowledge base's tables on PostgreSQL (setting `database_url`), through psycopg 3.

The knowledge base and the services above it write their SQL once, in the dialect the
embedded default speaks (SQLite).  This module gives `KnowledgeBase` a connection to
PostgreSQL that takes that SQL and behaves the same way:

- `translate` rewrites what differs between the two dialects: `?` placeholders,
  `INSERT OR IGNORE` / `INSERT OR REPLACE`, `COLLATE NOCASE` comparisons, a few
  functions (group_concat, instr, LIKE's case rule);
- `COMPAT_SQL` defines, in the database, the SQLite functions the queries use that
  PostgreSQL lacks (json_extract, json_valid);
- parameters go to the server untyped, as SQLite takes them, so `'5'` and `5` compare
  with a column the way SQLite compares them; sums and averages come back as int or
  float, not Decimal; JSON comes back as text;
- `PgDatabase` offers the part of sqlite-utils' `Database` the code uses (`execute`,
  `query`, `db[table].create / insert / update / ...`), so every table is created and
  used by the same code on both stores.

Each write transaction takes one transaction-level advisory lock (`WRITE_LOCK`), as
SQLite's write lock does: writers queue, so the change sequence (`seq`) is handed out
in commit order and an index that has seen sequence N has seen everything before it,
on every server.  A change of `seq` (or of the stored tuning) notifies channel
`CHANNEL` when it commits.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper, Loader
from psycopg.types.string import TextLoader

CHANNEL = "knownfix_changes"
WRITE_LOCK = 0x4B4E4658  # "KNFX": the one write lock, as SQLite has one
# other advisory locks, by name: one holder at a time across every server
NAMED_LOCKS = {"tuning": WRITE_LOCK + 1, "retrain": WRITE_LOCK + 2,
               "maintenance": WRITE_LOCK + 3, "schema": WRITE_LOCK + 4}



@contextmanager
def _as_sqlite_errors() -> Iterator[None]:
    """psycopg's errors raised as the sqlite3 classes the code above already handles
    (IntegrityError for a broken key, OperationalError for a lock wait that failed or a
    lost connection, DatabaseError for the rest), so no caller needs to know the store."""
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise sqlite3.IntegrityError(str(exc).strip()) from exc
    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure) as exc:
        raise sqlite3.OperationalError(f"database is locked: {str(exc).strip()}") from exc
    except psycopg.OperationalError as exc:
        raise sqlite3.OperationalError(str(exc).strip()) from exc
    except psycopg.DatabaseError as exc:
        raise sqlite3.DatabaseError(str(exc).strip()) from exc

# SQLite's functions the queries use, defined where PostgreSQL has none of the name.
COMPAT_SQL = r"""
CREATE OR REPLACE FUNCTION json_valid(doc text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF doc IS NULL THEN RETURN NULL; END IF;
    PERFORM doc::jsonb;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END $$;

CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN doc::jsonb #>> string_to_array(substr(path, 3), '.');
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION knownfix_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END $$;

CREATE OR REPLACE FUNCTION knownfix_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('knownfix_changes', NEW.key);
    RETURN NEW;
END $$;
"""
TRIGGERS_SQL = """
CREATE OR REPLACE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION knownfix_append_only();
CREATE OR REPLACE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION knownfix_append_only();
CREATE OR REPLACE TRIGGER meta_changed AFTER INSERT OR UPDATE ON meta
    FOR EACH ROW WHEN (NEW.key IN ('seq', 'tuning')) EXECUTE FUNCTION knownfix_changed();
"""
TRIGGERS = frozenset({"events_no_update", "events_no_delete", "meta_changed"})


# -- values in and out ------------------------------------------------------------------
class _Untyped(Dumper):
    """A number sent as text of no stated type: the server reads it as the column or
    operator beside it needs, as SQLite does."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()


class _UntypedBool(_Untyped):
    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"  # SQLite stores True as 1


class _Number(Loader):
    """numeric (what SUM and AVG return) as int when whole, else float."""

    def load(self, data: Buffer) -> int | float:
        d = Decimal(bytes(data).decode())
        return int(d) if d == d.to_integral_value() else float(d)


Buffer = bytes | bytearray | memoryview


def _adapt(conn: psycopg.Connection) -> None:
    conn.adapters.register_dumper(int, _Untyped)
    conn.adapters.register_dumper(float, _Untyped)
    conn.adapters.register_dumper(bool, _UntypedBool)
    conn.adapters.register_loader("numeric", _Number)
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)


# -- SQL ------------------------------------------------------------------------------------
_LITERAL = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")
_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.I)
_OR_REPLACE = re.compile(r"\bINSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_NOCASE_EQ = re.compile(r"([\w.]+)\s*=\s*\?\s+COLLATE\s+NOCASE", re.I)
_ID_LIST = re.compile(r"\bIN\s*\(\s*%s\s*,", re.I)  # IN (%s, %s, …), after `translate`
_RENAMES = [(re.compile(r"\bgroup_concat\(", re.I), "string_agg("),
            (re.compile(r"\bjson_group_object\(", re.I), "json_object_agg("),
            (re.compile(r"\binstr\(", re.I), "strpos("),
            (re.compile(r"\bifnull\(", re.I), "coalesce("),
            (re.compile(r"\bNOT\s+LIKE\b", re.I), "NOT ILIKE"),
            (re.compile(r"(?<!NOT )\bLIKE\b", re.I), "ILIKE"),
            (re.compile(r"\bAS\s+REAL\)", re.I), "AS DOUBLE PRECISION)"),
            (re.compile(r"\bIS\s+\?", re.I), "IS NOT DISTINCT FROM ?"),
            (re.compile(r"\bTEXT\s+PRIMARY\s+KEY\s+COLLATE\s+NOCASE\b", re.I),
             "citext PRIMARY KEY")]


@lru_cache(maxsize=2048)
def translate(sql: str, conflict_key: tuple[str, ...] | None = None) -> str:
    """SQLite-dialect SQL as PostgreSQL runs it, with psycopg's %s placeholders.
    `conflict_key` is the primary key of the table an `INSERT OR REPLACE` writes."""
    sql = _NOCASE_EQ.sub(r"lower(\1) = lower(?)", sql)
    for pattern, new in _RENAMES:
        sql = pattern.sub(new, sql)
    if _OR_IGNORE.search(sql):
        sql = _OR_IGNORE.sub("INSERT INTO", sql).rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    found = _OR_REPLACE.search(sql)
    if found:
        cols = [c.strip() for c in found.group(2).split(",")]
        key = list(conflict_key or cols[:1])
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
        sql = _OR_REPLACE.sub(lambda m: f"INSERT INTO {m.group(1)} ({m.group(2)})", sql)
        sql = sql.rstrip().rstrip(";") + (f" ON CONFLICT ({', '.join(key)}) DO "
                                          + (f"UPDATE SET {sets}" if sets else "NOTHING"))
    # placeholders, and % as psycopg wants it, outside and inside literals
    parts = _LITERAL.split(sql)
    return "".join(p.replace("%", "%%") if i % 2 else
                   p.replace("%", "%%").replace("?", "%s") for i, p in enumerate(parts))


_TYPES = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bytes: "BYTEA",
          bool: "BIGINT", dict: "TEXT", list: "TEXT"}
_BACK = {"text": str, "bigint": int, "integer": int, "double precision": float,
         "bytea": bytes, "citext": str, "real": float, "smallint": int, "boolean": int}


def _value(v: Any) -> Any:
    """A value as sqlite-utils would store it (dicts and lists as JSON text)."""
    return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v


class Cursor:
    """The result of one statement, shaped like sqlite3's cursor."""

    def __init__(self, cur: psycopg.Cursor, lastrowid: int | None = None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount
        self.description = ([(c.name, None, None, None, None, None, None)
                             for c in cur.description] if cur.description else None)

    def fetchone(self) -> tuple | None:
        return self._cur.fetchone() if self.description else None

    def fetchall(self) -> list[tuple]:
        return self._cur.fetchall() if self.description else []

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


class Connection:
    """One psycopg connection (autocommit; transactions are explicit, as with sqlite3's
    isolation_level=None), speaking the SQLite dialect."""

    def __init__(self, url: str) -> None:
        with _as_sqlite_errors():
            # a writer waits for its turn as long as SQLite's busy timeout (30 s), then
            # fails as SQLite does ("database is locked"), never forever
            self.raw = psycopg.connect(url, autocommit=True, application_name="knownfix",
                                       options="-c lock_timeout=30s")
        _adapt(self.raw)
        self._keys: dict[str, tuple[str, ...]] = {}
        self._serial: dict[str, bool] = {}

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def primary_key(self, table: str) -> tuple[str, ...]:
        if table not in self._keys:
            rows = self.raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass "
                "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
                [table]).fetchall()
            self._keys[table] = tuple(r[0] for r in rows)
        return self._keys[table]

    def _has_serial_id(self, table: str) -> bool:
        if table not in self._serial:
            self._serial[table] = self.raw.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND column_name = 'id' "
                "AND is_identity = 'YES'", [table]).fetchone() is not None
        return self._serial[table]

    def execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        with _as_sqlite_errors():
            return self._execute(sql, params)

    def _execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        head = sql.lstrip()[:40].upper()
        key = None
        found = _OR_REPLACE.search(sql) if "OR REPLACE" in head else None
        if found:
            key = self.primary_key(found.group(1))
        text = translate(sql, key)
        lastrowid = None
        # A statement with a list of ids is planned each time, never from a plan
        # psycopg prepared after five runs: PostgreSQL keeps a generic plan made while a
        # new table was small (a scan of it) for as long as the import that fills it.
        prepare = False if _ID_LIST.search(text) else None
        if head.startswith("INSERT") and "RETURNING" not in sql.upper():
            table = re.match(r"\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+(\w+)", sql, re.I)
            if table and self._has_serial_id(table.group(1)):
                cur = self.raw.execute(text + " RETURNING id", list(params or []),
                                       prepare=prepare)
                row = cur.fetchone() if cur.description else None
                lastrowid = row[0] if row else None
                out = Cursor(cur, lastrowid)
                out.description = None
                return out
        cur = self.raw.execute(text, list(params or []), prepare=prepare)
        return Cursor(cur, lastrowid)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        key = None
        found = _OR_REPLACE.search(sql)
        if found:
            key = self.primary_key(found.group(1))
        with _as_sqlite_errors(), self.raw.cursor() as cur:
            cur.executemany(translate(sql, key), [list(r) for r in rows])

    def close(self) -> None:
        self.raw.close()


class Table:
    """`db[name]`: the part of sqlite-utils' Table the knowledge base uses."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db, self.name = db, name
        self.last_pk: Any = None

    def exists(self) -> bool:
        return self.db.conn.raw.execute("SELECT to_regclass(%s) IS NOT NULL",
                                        [self.name]).fetchone()[0]

    @property
    def columns_dict(self) -> dict[str, type]:
        rows = self.db.conn.raw.execute(
            "SELECT column_name, data_type, udt_name FROM information_schema.columns WHERE "
            "table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [self.name]).fetchall()
        return {name: _BACK.get(kind, _BACK.get(udt, str)) for name, kind, udt in rows}

    @property
    def columns(self) -> list[Any]:
        from types import SimpleNamespace

        names = {str: "TEXT", int: "INTEGER", float: "FLOAT", bytes: "BLOB"}
        return [SimpleNamespace(name=n, type=names[t]) for n, t in self.columns_dict.items()]

    @property
    def rows(self) -> Iterator[dict]:
        return self.db.query(f"SELECT * FROM {self.name}")

    @property
    def count(self) -> int:
        return self.db.conn.raw.execute(f"SELECT COUNT(*) FROM {self.name}").fetchone()[0]

    def create(self, columns: dict[str, type], pk: str | tuple[str, ...] = "id",
               not_null: Iterable[str] = ()) -> Table:
        keys = (pk,) if isinstance(pk, str) else tuple(pk)
        must = set(not_null)
        parts = []
        for col, kind in columns.items():
            if keys == (col,) and kind is int:
                parts.append(f"{col} BIGINT GENERATED BY DEFAULT AS IDENTITY")
                continue
            sql_type = _TYPES[kind] + (' COLLATE "C"' if kind is str else "")
            parts.append(f"{col} {sql_type}" + (" NOT NULL" if col in must else ""))
        parts.append(f"PRIMARY KEY ({', '.join(keys)})")
        self.db.conn.raw.execute(f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(parts)})")
        self.db.conn._keys.pop(self.name, None)
        self.db.conn._serial.pop(self.name, None)
        return self

    def create_index(self, columns: Sequence[str], unique: bool = False) -> None:
        name = f"idx_{self.name}_{'_'.join(columns)}"
        self.db.conn.raw.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS "
                                 f"{name} ON {self.name} ({', '.join(columns)})")

    def add_column(self, name: str, kind: type = str) -> None:
        sql_type = _TYPES[kind] + (' COLLATE "C"' if kind is str else "")
        self.db.conn.raw.execute(f"ALTER TABLE {self.name} ADD COLUMN IF NOT EXISTS "
                                 f"{name} {sql_type}")

    def insert(self, row: dict, **_: Any) -> Table:
        cols = list(row)
        cur = self.db.conn.execute(
            f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [_value(row[c]) for c in cols])
        keys = self.db.conn.primary_key(self.name)
        self.last_pk = cur.lastrowid if cur.lastrowid is not None else (
            row.get(keys[0]) if len(keys) == 1 else tuple(row.get(k) for k in keys))
        return self

    def insert_all(self, rows: Iterable[dict], **_: Any) -> Table:
        rows = list(rows)
        if rows:
            cols = list(rows[0])
            self.db.conn.executemany(
                f"INSERT INTO {self.name} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                [[_value(r.get(c)) for c in cols] for r in rows])
        return self

    def upsert(self, row: dict, pk: str | Sequence[str] | None = None, **_: Any) -> Table:
        keys = ((pk,) if isinstance(pk, str) else tuple(pk)) if pk else \
            self.db.conn.primary_key(self.name)
        cols = list(row)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in keys)
        self.db.conn.execute(
            f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT ({', '.join(keys)}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING"),
            [_value(row[c]) for c in cols])
        return self

    def delete_where(self, where: str | None = None, where_args: Sequence | None = None
                     ) -> Table:
        self.db.conn.execute(f"DELETE FROM {self.name}" + (f" WHERE {where}" if where else ""),
                             where_args)
        return self

    def update(self, pk_value: Any, updates: dict, **_: Any) -> Table:
        keys = self.db.conn.primary_key(self.name)
        values = pk_value if isinstance(pk_value, list | tuple) else [pk_value]
        where = " AND ".join(f"{k} = ?" for k in keys)
        cols = list(updates)
        self.db.conn.execute(f"UPDATE {self.name} SET {', '.join(f'{c} = ?' for c in cols)} "
                             f"WHERE {where}", [*(_value(updates[c]) for c in cols), *values])
        return self


class PgDatabase:
    """One thread's connection to the knowledge base on PostgreSQL."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.conn = Connection(url)

    def __getitem__(self, table: str) -> Table:
        return Table(self, table)

    def execute(self, sql: str, params: Sequence | None = None) -> Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence | None = None) -> Iterator[dict]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description or []]
        for row in cur.fetchall():
            yield dict(zip(names, row, strict=True))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema()").fetchall()]

    def trigger_names(self) -> set[str]:
        return {r[0] for r in self.conn.raw.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()}


class Listener:
    """A connection of its own that LISTENs on `CHANNEL`: `wait` returns as soon as
    another connection commits a change of the sequence number."""

    def __init__(self, url: str) -> None:
        self.conn = Connection(url)
        self.conn.raw.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        came = False
        for _ in self.conn.raw.notifies(timeout=timeout, stop_after=1):
            came = True
        # more may have queued behind the first: take them too, without waiting
        for _ in self.conn.raw.notifies(timeout=0.0):
            came = True
        return came


def holds_knowledge_base(url: str) -> bool:
    """Whether the database at `url` has a knowledge base in it (an unreachable server
    raises sqlite3.OperationalError, with libpq's reason)."""
    conn = Connection(url)
    try:
        return conn.raw.execute("SELECT to_regclass('cases') IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


def stored_meta(url: str, key: str) -> str | None:
    """One value of the meta table of the database at `url` (None where it has none,
    or no knowledge base yet), read without opening a KnowledgeBase."""
    conn = Connection(url)
    try:
        if not conn.raw.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]:
            return None
        row = conn.raw.execute("SELECT value FROM meta WHERE key = %s", [key]).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def describe(url: str) -> str:
    """A database address without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"
