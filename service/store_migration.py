"""Moving a knowledge base from one store to another: `knownfix migrate --to
postgresql://…` copies a data folder's SQLite knowledge base into PostgreSQL and checks
the copy.  (Not to be confused with service/migrate.py, which moves the search index
to another embedding model.)

`migrate_to(settings, url)`:

1. refuses an address that is not `postgresql://`, a server it cannot reach, a
   database that already holds records (unless told to replace them), and a SQLite file
   another process has open (what it wrote after the copy would be lost);
2. copies every table, in one transaction on the target (kb/copy.py); the source is
   always the SQLite file `knownfix.db` of the data folder, whatever `database_url`
   says, and is only read;
3. checks the copy: every table's rows counted on both sides; a sample of records
   (cases and articles) compared field by field, labels included; and the same
   searches answered the same way: a search index is built from PostgreSQL alone in a
   temporary folder, as a new app server would build its own, and the top ten of
   queries taken from the sampled records' titles (or texts) are compared with the
   source's own index;
4. returns a MigrationReport; its `mismatches` are empty when the copy is good.

The same module opens a knowledge base with every table (`open_whole`) and writes one
into a SQLite file (`to_sqlite_file`): a backup taken on PostgreSQL (service/backup.py)
is that file.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from errors import BadInput, KnownFixError, NotFound
from kb.copy import copy_tables, table_names
from kb.store import KnowledgeBase, pg_url
from service.auth import Users
from service.engine import Engine
from settings import Settings

SAMPLE = 50  # records compared field by field
QUERIES = 20  # searches compared
TOP = 10  # results compared per search


@dataclass
class MigrationReport:
    """What `migrate_to` copied and what its checks found."""

    source: str
    target: str  # the address without its password
    tables: dict[str, int]  # rows copied, per table
    sampled: int = 0
    queries: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def to_json(self) -> dict:
        return {**asdict(self), "rows": self.rows}


def describe(url: str) -> str:
    """A database address for messages: never its password (kb.pg.describe), and for
    an address that cannot even be read, no part of it."""
    import psycopg

    from kb.pg import describe as without_password

    try:
        return without_password(url)
    except psycopg.Error:
        return "the database address given"


def holds_knowledge_base(url: str) -> bool:
    """Whether the PostgreSQL database at `url` holds a knowledge base; NotFound, with
    the server's reason, when it cannot be reached."""
    from kb.pg import holds_knowledge_base as holds

    try:
        return holds(url)
    except sqlite3.DatabaseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        raise NotFound(f"cannot reach the database {describe(url)}: {first}") from exc


def open_whole(location: str) -> KnowledgeBase:
    """The knowledge base at `location` (a SQLite file or a postgresql:// address) with
    every table, including those a service makes on first use (users, sessions), so a
    copy into it has somewhere to put each of them."""
    kb = KnowledgeBase(location)
    try:
        Users(kb)
    except BaseException:
        kb.close()
        raise
    return kb


def is_empty(kb: KnowledgeBase) -> bool:
    """No rows in any table but the knowledge base's own bookkeeping (meta)."""
    return not any(kb.db[t].count for t in table_names(kb) if t != "meta")


def to_sqlite_file(kb: KnowledgeBase, path: str | Path) -> dict[str, int]:
    """Copy the knowledge base, read at one moment, into a new SQLite file at `path`;
    returns the rows copied per table."""
    target = open_whole(str(path))
    try:
        return copy_tables(kb, target)
    finally:
        target.close()


def migrate_to(settings: Settings, url: str, replace: bool = False,
               progress: Callable[[str], None] | None = None) -> MigrationReport:
    """Copy the SQLite knowledge base of `settings.data_dir` into the PostgreSQL
    database at `url` and check the copy (see the module docstring).  `replace`: copy
    even when the database holds records, replacing them.  `progress` is told what is
    being done.  BadInput / NotFound / CopyFailed when nothing could be copied."""
    say = progress or (lambda _message: None)
    url = url.strip()
    if not pg_url(url):
        raise BadInput("--to needs a PostgreSQL address: postgresql://USER@HOST:PORT/NAME")
    source_file = Path(settings.db_path)
    if not source_file.is_file():
        raise NotFound(f"no knowledge base in {Path(settings.data_dir).resolve()}: migrate "
                       "copies the file knownfix.db of a data folder (--data-dir)")
    from service.backup import in_use_by

    users = in_use_by(source_file)
    if users:  # what they wrote after the copy would be lost with the switch
        raise BadInput(f"the database {source_file} is in use by process(es) "
                       f"{', '.join(map(str, users))}: stop the app and other knownfix "
                       "commands, then migrate")
    where = describe(url)
    holds_knowledge_base(url)  # reachable, or a one-line NotFound before anything else
    started = time.perf_counter()
    source = Engine(settings.with_(database_url=""), background=False)
    try:
        target = open_whole(url)
        try:
            if not replace and not is_empty(target):
                counts = target.counts()
                raise BadInput(f"{where} already holds a knowledge base ({counts['case']} "
                               f"cases, {counts['article']} articles, {counts['events']} "
                               "events): migrate copies into an empty database; give --yes "
                               "to replace what it holds")
            rows = sum(source.kb.db[t].count for t in table_names(source.kb))
            say(f"copying {rows} rows from {source_file} to {where}")
            copied = copy_tables(source.kb, target)
        finally:
            target.close()
        report = MigrationReport(str(source_file), where, copied)
        say("checking the copy: counts, records, and searches on an index built from it")
        with tempfile.TemporaryDirectory(prefix="knownfix-migrate-") as tmp:
            check = Engine(settings.with_(database_url=url, data_dir=tmp),
                           encoder=source.encoder, fresh_index=True, background=False)
            try:
                check.reindex()
                compare(source, check, report)
                if not report.mismatches:
                    check.kb.log("system", "migrated", f"file:{source_file.name}",
                                 {"from": str(source_file), "rows": report.rows})
            finally:
                check.close()
    finally:
        source.close()
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def compare(source: Engine, target: Engine, report: MigrationReport,
            sample: int = SAMPLE, queries: int = QUERIES) -> None:
    """Check `target` against `source`, adding what differs to `report.mismatches`
    (and the numbers checked to `report.sampled` / `report.queries`)."""
    for table in sorted(set(table_names(source.kb)) | set(table_names(target.kb))):
        mine, theirs = _count(source.kb, table), _count(target.kb, table)
        if mine != theirs:
            report.mismatches.append(f"table {table}: {mine} rows in the source, "
                                     f"{theirs} in the copy")
    keys = _sample(source.kb, sample)
    titles: list[str] = []
    for key in keys:
        kind, _, rid = key.partition(":")
        found = _differs(source.kb, target.kb, kind, rid)
        if found:
            report.mismatches.append(f"{key}: {found}")
        rec = source.kb.get(kind, rid)
        query = (rec.title.strip() or rec.text.strip())[:80]  # as an agent would type it
        if query and query not in titles:
            titles.append(query)
    report.sampled = len(keys)
    for title in titles[:queries]:
        try:
            mine = [r.hit.key for r in source.search(title, k=TOP)]
        except KnownFixError:  # not a query the search takes (too long): not compared
            continue
        theirs = [r.hit.key for r in target.search(title, k=TOP)]
        report.queries += 1
        if mine != theirs:
            report.mismatches.append(f"search {title[:40]!r}: the source finds "
                                     f"{', '.join(mine) or 'nothing'}, the copy "
                                     f"{', '.join(theirs) or 'nothing'}")


def _count(kb: KnowledgeBase, table: str) -> int:
    return kb.db[table].count if kb.db[table].exists() else 0


def _sample(kb: KnowledgeBase, n: int) -> list[str]:
    """Up to `n` record keys spread evenly over every case and article, by id."""
    keys = [f"{kind}:{r[0]}" for kind, table in (("case", "cases"), ("article", "articles"))
            for r in kb.db.execute(f"SELECT id FROM {table} ORDER BY id")]
    step = max(1, len(keys) // n) if keys else 1
    return keys[::step][:n]


def _differs(source: KnowledgeBase, target: KnowledgeBase, kind: str, rid: str) -> str:
    """What differs between a record in the two knowledge bases ('' when nothing)."""
    try:
        theirs = target.row(kind, rid)
    except NotFound:
        return "missing from the copy"
    mine = source.row(kind, rid)
    fields = sorted(c for c in mine.keys() | theirs.keys() if mine.get(c) != theirs.get(c))
    if fields:
        return f"{', '.join(fields)} differ"
    if source.get(kind, rid).labels != target.get(kind, rid).labels:
        return "labels differ"
    return ""
