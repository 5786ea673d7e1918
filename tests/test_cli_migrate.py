"""`knownfix migrate --to postgresql://…`: a data folder's SQLite knowledge base copied
into the tests' own PostgreSQL and checked (counts, records, searches); a server given
that address then answers from it.  Refused with one line and exit code 1: a database
that already holds records (unless --yes), an address that is not PostgreSQL's, a
server that does not answer (the password never shown), a SQLite file another process
has open; and a copy that differs from its source is found by the checks."""

from __future__ import annotations

import json
import os

import pytest

from kb.store import KnowledgeBase
from service.engine import Engine
from service.store_migration import MigrationReport, compare, migrate_to
from settings import load_settings


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_migrate_copies_checks_and_a_server_then_answers_from_postgresql(
        kf, pg_cluster, monkeypatch, tmp_path):
    url = pg_cluster.new_database()
    done = kf("migrate", "--to", url)
    assert "copied" in done.stdout and "to postgresql://postgres@" in done.stdout
    assert "9 records equal field by field, 9 searches with the same top 10" in done.stdout
    assert "KNOWNFIX_DATABASE_URL" in done.stdout
    again = kf("migrate", "--to", url, ok=False)  # it holds records now
    one_line_error(again, "already holds a knowledge base (8 cases, 1 articles", "--yes")
    replaced = json.loads(kf("migrate", "--to", url, "--yes", "--json").stdout)
    assert replaced["mismatches"] == [] and replaced["tables"]["cases"] == 8
    assert "password" not in replaced["target"]
    monkeypatch.setenv("KNOWNFIX_DATABASE_URL", url)
    kept = kf("stats", "--json")  # the data folder's own index fits the copy: no rebuild
    assert kept.stderr == "" and json.loads(kept.stdout)["index"]["up_to_date"]
    # a server on the copy, with an index folder of its own
    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(tmp_path / "server"))
    found = kf("search", "NVR HDD error")
    assert "case:C2" in found.stdout
    events = json.loads(kf("stats", "--json").stdout)["records"]["events"]
    assert events == replaced["tables"]["events"] + 1  # the copy's "migrated" event


@pytest.mark.parametrize(("to", "words"), [
    ("mysql://knownfix@db/knownfix", ["--to needs a PostgreSQL address"]),
    ("postgresql://knownfix:s3cret-pw@/knownfix?host=/nonexistent/socket-dir",
     ["cannot reach the database postgresql://knownfix@", "/knownfix"]),
])
def test_migrate_refuses_an_address_it_cannot_use(kf, to, words):
    result = kf("migrate", "--to", to, ok=False)
    one_line_error(result, *words)
    assert "s3cret" not in result.output


def test_migrate_needs_a_knowledge_base_to_copy(kf, tmp_path):
    result = kf("migrate", "--to", "postgresql://x@/y?host=/nonexistent",
                "--data-dir", str(tmp_path / "empty"), ok=False)
    one_line_error(result, "no knowledge base in", "knownfix.db")


def test_migrate_refuses_while_another_process_has_the_sqlite_file_open(kf, tmp_path):
    holder = KnowledgeBase(str(tmp_path / "data" / "knownfix.db"))  # this process, here
    try:
        assert holder.counts()["case"] == 8
        result = kf("migrate", "--to", "postgresql://x@/y?host=/nonexistent", ok=False)
    finally:
        holder.close()
    one_line_error(result, "is in use by process(es)", str(os.getpid()), "stop the app")


def test_the_checks_find_a_copy_that_differs(kf, pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    local = load_settings(model="hash:256", vector_backend="numpy")
    assert migrate_to(local, url).mismatches == []
    source = Engine(local, background=False)
    copy = Engine(local.with_(database_url=url, data_dir=str(tmp_path / "check")),
                  background=False)
    try:
        copy.kb.db.execute("UPDATE cases SET fix = 'something else' WHERE id = 'C6'")
        copy.kb.db.execute("DELETE FROM labels WHERE doc_id = 'C2' AND field = 'component'")
        copy.kb.delete("case", "C1")
        copy.refresh()
        report = MigrationReport("", "", {})
        compare(source, copy, report)
    finally:
        copy.close()
        source.close()
    found = "\n".join(report.mismatches)
    assert "table cases: 8 rows in the source, 7 in the copy" in found
    assert "case:C1: missing from the copy" in found
    assert "case:C6: fix differ" in found
    assert "case:C2: labels differ" in found
    assert "search 'NVR提示硬盘错误，录像回放查不到': the source finds case:C1" in found
    assert report.sampled == 9 and report.queries == 9
