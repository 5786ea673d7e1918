"""Copying a whole knowledge base between stores (kb/copy.py): every table, the
services' own included, goes SQLite -> PostgreSQL -> SQLite unchanged; new rows after a
copy take fresh ids; a copy replaces what the target held in one transaction, or
changes nothing when it cannot be done whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import service.auth
from errors import CopyFailed
from kb.copy import copy_tables, table_names
from kb.store import KnowledgeBase
from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine
from service.store_migration import open_whole
from settings import load_settings
from tests.helpers import small_kb_records

PASSWORD = "password-123"
PARTS = "备件编码,备件名称,单位,单价\nHD-4T,4TB 监控硬盘,块,680\nSATA-1,SATA 数据线,根,12.5\n"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A small desk on SQLite whose every table holds rows: users, a session, a token,
    notification preferences and an outbox row, a customer with equipment, parts and a
    case's charges made through the services; a row of its own in each table no step
    here writes (so a table added later is covered too)."""
    monkeypatch.setattr(service.auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))
    d = Desk(Engine(load_settings(str(tmp_path / "data"), model="hash:256",
                                  vector_backend="numpy", timezone="UTC",
                                  base_url="http://kf.example:8501")))
    d.engine.upsert(small_kb_records())
    li = d.users.add(SYSTEM, "li", PASSWORD, "engineer", display_name="李工")
    d.users.add(SYSTEM, "bob", PASSWORD, "engineer", lang="en")
    d.users.sign_in("li", PASSWORD)
    d.tokens.create(SYSTEM, "li", "nightly export")
    d.notify.set_prefs(SYSTEM, "bob", email="bob@example.com")
    customer = d.customers.add_customer(SYSTEM, "华东仓储", contacts=[{"name": "张经理"}])
    asset = d.customers.add_asset(SYSTEM, customer.id, product="NVR", model="NVR-4216",
                                  serial="SN-0001")
    (tmp_path / "parts.csv").write_text(PARTS, encoding="utf-8")
    d.charges.import_parts(SYSTEM, tmp_path / "parts.csv")
    case_id = d.cases.open(li, "NVR提示硬盘错误，录像回放查不到", channel="phone",
                           asset_id=asset.id).id
    d.charges.add_part(li, case_id, "HD-4T")
    d.cases.escalate(li, case_id, "bob", "需要二线支持")  # bob is mailed: an outbox row
    d.engine.kb.delete("case", "C8")
    db = d.engine.kb.db
    for table in table_names(d.engine.kb):
        if not db[table].count:
            db[table].insert({c: {str: f"{table}.{c} 值", int: 7, float: 2.5}[kind]
                              for c, kind in db[table].columns_dict.items()})
    yield d
    d.close()


def dump(kb: KnowledgeBase) -> dict[str, list[tuple]]:
    """Every table's rows, columns in name order, rows in a fixed order."""
    out = {}
    for table in table_names(kb):
        cols = sorted(kb.db[table].columns_dict)
        rows = kb.db.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_every_table_goes_to_postgresql_and_back_unchanged(desk, pg_cluster, tmp_path):
    source = desk.engine.kb
    before = dump(source)
    assert {"users", "sessions", "api_tokens", "outbox", "customers", "assets", "parts",
            "case_items", "events", "removed"} <= set(before)
    assert all(before.values()), [t for t, rows in before.items() if not rows]
    pg = open_whole(pg_cluster.new_database())
    back = open_whole(str(tmp_path / "back" / "knownfix.db"))
    try:
        assert copy_tables(source, pg) == {t: len(rows) for t, rows in before.items()}
        assert dump(pg) == before
        copy_tables(pg, back)
        assert dump(back) == before
        # rows written after the copy take ids past the copied ones, on both stores
        for kb in (pg, back):
            last = max(r[0] for r in kb.db.execute("SELECT id FROM events"))
            assert kb.log("tester", "note", "case:C1") == last + 1
        assert pg.get("case", "C1") == source.get("case", "C1")
        assert pg.seq == source.seq
    finally:
        pg.close()
        back.close()


def test_a_copy_into_postgresql_replaces_what_it_held(desk, pg_cluster):
    url = pg_cluster.new_database()
    pg = open_whole(url)
    try:
        pg.upsert(small_kb_records()[:2])
        pg.log("tester", "note", "case:old")
        # TRUNCATE empties the event log: its append-only triggers are row triggers on
        # UPDATE and DELETE, which TRUNCATE does not fire
        copy_tables(desk.engine.kb, pg)
        assert dump(pg) == dump(desk.engine.kb)
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            pg.db.execute("DELETE FROM events")  # and the guard is still there
    finally:
        pg.close()


def test_a_copy_that_cannot_be_whole_changes_nothing(desk, pg_cluster, tmp_path):
    source = desk.engine.kb
    # PostgreSQL's text cannot hold a NUL character, SQLite's can: the copy stops
    source.db.execute("UPDATE cases SET title = ? WHERE id = 'C3'", ["bad\x00title"])
    pg = open_whole(pg_cluster.new_database())
    try:
        pg.upsert(small_kb_records()[:1])
        held = dump(pg)
        with pytest.raises(CopyFailed, match="table cases: a row could not be stored"):
            copy_tables(source, pg)
        assert dump(pg) == held
    finally:
        pg.close()
    # a target without the services' tables (a bare KnowledgeBase) is refused
    bare = KnowledgeBase(pg_cluster.new_database())
    try:
        with pytest.raises(CopyFailed, match="has no table sessions, users"):
            copy_tables(source, bare)
    finally:
        bare.close()
    # a SQLite knowledge base with an event log is replaced as a file, not row by row
    other = open_whole(str(tmp_path / "other.db"))
    try:
        other.upsert(small_kb_records()[:1])
        held = dump(other)
        with pytest.raises(CopyFailed, match="replaced as a whole file"):
            copy_tables(source, other)
        assert dump(other) == held
    finally:
        other.close()
