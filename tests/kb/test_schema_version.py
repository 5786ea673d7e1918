"""Schema versions, on both stores: a database of an older schema is upgraded in place
when opened (missing tables and columns made, its records kept, its version raised);
one a newer KnownFix upgraded is refused with a clear message."""

from __future__ import annotations

import pytest

from errors import NewerSchema
from kb.records import Record
from kb.store import SCHEMA_VERSION, KnowledgeBase
from service.auth import Users


def test_an_older_schema_is_upgraded_in_place(store_url):
    kb = KnowledgeBase(store_url)
    Users(kb)
    kb.upsert([Record("case", "OLD-1", text="NVR提示硬盘错误", labels={"category": "存储"},
                      state="closed")])
    # as a version before these existed would have left it
    kb.db.execute("ALTER TABLE cases DROP COLUMN lang")
    kb.db.execute("ALTER TABLE users DROP COLUMN timezone")
    kb.db.execute("DROP TABLE customer_answers")
    kb.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                  [str(SCHEMA_VERSION - 1)])
    kb.close()
    kb = KnowledgeBase(store_url)
    try:
        Users(kb)
        assert "lang" in kb.db["cases"].columns_dict
        assert "timezone" in kb.db["users"].columns_dict
        assert kb.db["customer_answers"].exists()
        assert kb.meta("schema_version") == str(SCHEMA_VERSION)
        old = kb.get("case", "OLD-1")
        assert (old.text, old.labels) == ("NVR提示硬盘错误", {"category": "存储"})
    finally:
        kb.close()


def test_a_newer_schema_is_refused(store_url):
    kb = KnowledgeBase(store_url)
    kb.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    kb.close()
    with pytest.raises(NewerSchema, match=f"schema version {SCHEMA_VERSION + 1}, newer than "
                       f"this KnownFix's {SCHEMA_VERSION}"):
        KnowledgeBase(store_url)
    kb = KnowledgeBase(":memory:")  # (a fresh one is at this version)
    assert kb.meta("schema_version") == str(SCHEMA_VERSION)
    kb.close()
