"""What "consistent" means for a data folder, checked from the outside.

`check_database` reads the knowledge base (the SQLite file, or the PostgreSQL database
at a URL) with its own connection and returns every broken rule it finds (an empty list
when all is well).  The rules follow how each writer groups its work into transactions:

- the importer writes batches of `kb.importer.BATCH` rows, one transaction each; the
  workers give every row of a batch the same marker (extra.batch), so every marker
  present must be on exactly one full batch;
- opening a case numbers it, writes it and its intake in one transaction ('created' and
  'intake' events); triage, start, resolve and close each change the row and log their
  event together, so the case's state is what its last event says;
- links and their events are written together;
- an article's `version` is the number of its latest row in article_versions, and that
  row holds the article's state;
- a drafted article and its created-from link are written together; a case has one
  drafted article, plus any drafted again (related_to it) after a reopen.

`check_ledger` checks that the work children acknowledged (their progress log) is all
there.  `check_index` compares an Engine's index with the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.importer import BATCH
from kb.pg import Connection
from kb.store import pg_url

STATE_AFTER = {"intake": "new", "triage": "triaged", "start": "in_progress",
               "resolve": "resolved", "close": "closed"}


@contextmanager
def reading(location: str | Path) -> Iterator:
    """A read-only connection of its own to the knowledge base at `location` (a SQLite
    file or a PostgreSQL URL), inside one snapshot: every query sees the same moment,
    while others write.  Queries are in the SQLite dialect on both."""
    if pg_url(str(location)):
        conn = Connection(str(location))
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True, timeout=30,
                               isolation_level=None)
        conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.close()


def check_database(location: str | Path, thorough: bool = True) -> list[str]:
    """Every broken rule in the database, as readable lines (empty: consistent).
    On SQLite, `thorough` runs its integrity_check (which also matches every index
    against its table), otherwise its quick_check (the file's structure), about 10 times
    faster.  PostgreSQL keeps its files' structure and foreign keys itself: only the
    rules of the data are checked there."""
    with reading(location) as conn:
        if pg_url(str(location)):
            return _check_rules(conn)
        pragma = "integrity_check" if thorough else "quick_check"
        ok = conn.execute(f"PRAGMA {pragma}").fetchall()
        if ok != [("ok",)]:
            return [f"{pragma}: {ok}"]
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        return [f"foreign_key_check: {fk[:5]}"] if fk else _check_rules(conn)


def _check_rules(conn) -> list[str]:
    bad: list[str] = []
    # imported batches: every marker on exactly one full batch
    for marker, n in conn.execute(
            "SELECT json_extract(extra, '$.batch'), COUNT(*) FROM cases "
            "WHERE json_extract(extra, '$.batch') IS NOT NULL GROUP BY 1"):
        if n != BATCH:
            bad.append(f"import batch {marker} has {n} rows, not {BATCH}")

    events: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for target, action, detail in conn.execute(  # imported rows' events are not needed
            "SELECT target, action, detail FROM events WHERE target NOT LIKE 'case:imp%' "
            "ORDER BY id"):
        events[target].append((action, json.loads(detail or "{}")))
    links = Counter((c, t, r) for c, t, r in conn.execute(
        "SELECT case_id, target, relation FROM links"))
    # a reopened case closed again with another cause drafts a second article, related_to
    # the first: only the first counts as the case's draft
    redrafts = {f"article:{aid}" for aid, extra in conn.execute("SELECT id, extra FROM articles")
                if json.loads(extra or "{}").get("related_to")}
    per_case = Counter()
    for (c, t, r), n in links.items():
        if not (r == "created-from" and t in redrafts):
            per_case[(c, r)] += n
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for kind, doc, field, value in conn.execute("SELECT kind, doc_id, field, value FROM labels"):
        labels[f"{kind}:{doc}"][field] = value

    # cases opened through the service (not imported): numbers, state, events, links
    cases = conn.execute("SELECT id, state, fix, resolved_at, closed_at, triage, project "
                         "FROM cases WHERE project IS NOT NULL").fetchall()
    for cid, state, fix, resolved_at, closed_at, triage, project in cases:
        key = f"case:{cid}"
        acts = [a for a, _ in events[key]]
        if acts.count("created") != 1 or acts.count("intake") != 1:
            bad.append(f"{key}: {acts.count('created')} created and {acts.count('intake')} "
                       "intake events (a case number used twice, or a half-written open)")
        if not cid.startswith(f"{project}-"):
            bad.append(f"{key}: number does not start with its project {project}")
        moves = [a for a in acts if a in STATE_AFTER]
        if moves and STATE_AFTER[moves[-1]] != state:
            bad.append(f"{key}: state {state} but its last event is {moves[-1]}")
        if state != "new" and not triage:
            bad.append(f"{key}: {state} without a stored triage")
        if state in ("resolved", "closed") and (
                not fix or not resolved_at or "category" not in labels.get(key, {})):
            bad.append(f"{key}: {state} without its fix, time or labels")
        if state == "closed" and not closed_at:
            bad.append(f"{key}: closed without closed_at")
        suggested = sum(1 for a, _ in events[key] if a == "link:suggested")
        stored = per_case[(cid, "suggested")]
        if suggested != stored:
            bad.append(f"{key}: {stored} suggested links but {suggested} link events")

    # articles: version rows, state, drafts and their links
    versions: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for aid, version, state in conn.execute(
            "SELECT article_id, version, state FROM article_versions ORDER BY version"):
        versions[aid].append((version, state))
    for aid, state, version, source in conn.execute(
            "SELECT id, state, version, source_case FROM articles"):
        rows = versions.get(aid, [])
        if version is None:
            if rows:
                bad.append(f"article:{aid}: versions stored but no version number")
            continue
        if not rows or rows[-1][0] != version or rows[-1][1] != state:
            bad.append(f"article:{aid}: version {version} ({state}) but its latest stored "
                       f"version is {rows[-1] if rows else None}")
        if [v for v, _ in rows] != list(range(1, len(rows) + 1)):
            bad.append(f"article:{aid}: version numbers {[v for v, _ in rows]} have gaps")
        if source and links[(source, f"article:{aid}", "created-from")] != 1:
            bad.append(f"article:{aid}: drafted from {source} without exactly one "
                       "created-from link")
    bad += [f"case:{c}: {n} drafted articles" for (c, r), n in per_case.items()
            if r == "created-from" and n > 1]
    return bad


def check_ledger(location: str | Path, ledger: Path) -> tuple[list[str], Counter]:
    """Whether the work children acknowledged is in the database: each line of their
    progress log ('OP WHAT', workers.py) was written after OP committed, so a closed case
    must be there closed, an imported file's rows all there, an article there.  Returns
    (the problems, the acknowledged work per OP)."""
    from tests.reliability.workers import IMPORT_ROWS

    done: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    lines = ledger.read_text(encoding="utf-8").splitlines() if ledger.exists() else []
    for line in lines:
        op, _, what = line.strip().partition(" ")
        done[op].add(what)
        count[op] += 1
    bad = []
    with reading(location) as conn:
        closed = {r[0] for r in conn.execute("SELECT id FROM cases WHERE state = 'closed'")}
        bad += [f"case:{c} was closed and acknowledged but is not closed in the database"
                for c in sorted(done["cases"] - closed)]
        for prefix in sorted(done["import"]):
            n = conn.execute("SELECT COUNT(*) FROM cases WHERE id LIKE ?",
                             [f"{prefix}-%"]).fetchone()[0]
            if n != IMPORT_ROWS:
                bad.append(f"import {prefix}: acknowledged, {n} of {IMPORT_ROWS} rows there")
        articles = {r[0] for r in conn.execute("SELECT id FROM articles")}
        bad += [f"article:{a} was acknowledged but is missing"
                for a in sorted(done["validate"] - articles)]
    return bad, count


def case_counts(location: str | Path) -> dict[str, int]:
    with reading(location) as conn:
        return {
            "cases": conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0],
            "opened": conn.execute("SELECT COUNT(*) FROM cases WHERE project IS NOT NULL")
            .fetchone()[0],
            "imported": conn.execute("SELECT COUNT(*) FROM cases WHERE "
                                     "json_extract(extra, '$.batch') IS NOT NULL").fetchone()[0],
            "articles": conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0],
            "events": conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
        }


def check_index(engine, exact: bool = True) -> list[str]:
    """The engine's index against its database after catching up: each part of the index
    holding every record once, and the same keys — exactly (`exact`, when no one else
    writes), or as of the change the index reflects (while others write)."""

    with engine._lock:  # a background thread of the engine may sync while we compare
        return _compare_index(engine, exact)


def _compare_index(engine, exact: bool) -> list[str]:
    from service.integrity import compare

    engine.refresh()
    index = engine._index
    if exact:
        in_db = {r[0] for r in engine.kb.db.execute(
            "SELECT 'case:' || id FROM cases UNION ALL SELECT 'article:' || id FROM articles")}
        extra = sorted(set(index.key_to_id) - in_db)
        missing = sorted(in_db - set(index.key_to_id))
    else:
        extra, missing = compare(engine.kb, index)
    bad = []
    if extra or missing:
        bad.append(f"index differs from the database: {len(extra)} extra {extra[:3]}, "
                   f"{len(missing)} missing {missing[:3]}")
    n = len(index.key_to_id)
    if len(index.vectors) != n or len(index.lexical) != n or len(index.id_to_key) != n:
        bad.append(f"index parts disagree: {n} keys, {len(index.vectors)} vectors, "
                   f"{len(index.lexical)} lexical, {len(index.id_to_key)} ids")
    if exact and index.seq != engine.kb.seq:
        bad.append(f"index at change {index.seq}, database at {engine.kb.seq}")
    return bad
