"""kb/store.py: records, labels, links, sequence numbers and the append-only event log.

The store contract: every test runs against both stores (SQLite and PostgreSQL,
the `store_url` fixture)."""

from __future__ import annotations

import itertools
import re
import sqlite3

import pytest

from errors import BadInput, NotFound, UnknownLabel
from kb.records import Record
from kb.store import EVENT_ROWS, KnowledgeBase

LEVELS = ["low", "medium", "high", "critical"]
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def kb(store_url):
    store = KnowledgeBase(store_url, LEVELS)
    yield store
    store.close()


def case(rid: str, text: str = "NVR提示硬盘错误", **kw) -> Record:
    return Record("case", rid, text=text, **kw)


def test_upsert_and_get_round_trip(kb):
    rec = Record("case", "SR-1", title="硬盘错误", text="NVR提示硬盘错误，录像查不到",
                 fix="更换硬盘", labels={"category": "存储", "component": "nvr"},
                 severity="high", state="closed", extra={"客户信息": "华东物流园"})
    assert kb.upsert([rec]) == 1
    got = kb.get("case", "SR-1")
    for name in ("title", "text", "fix", "labels", "severity", "state", "extra"):
        assert getattr(got, name) == getattr(rec, name)
    assert UTC_STAMP.match(got.created_at) and UTC_STAMP.match(got.updated_at)


def test_upsert_by_id_replaces_and_keeps_created_at(kb):
    kb.upsert([case("SR-1", labels={"category": "存储", "cause": "硬盘"}, severity="high",
                    created_at="2026-01-01T00:00:00Z")])
    kb.upsert([case("SR-1", text="NVR报警，硬盘已更换", labels={"category": "网络"})])
    got = kb.get("case", "SR-1")
    assert got.text == "NVR报警，硬盘已更换"
    assert got.labels == {"category": "网络"}  # the old 'cause' label is gone
    assert got.severity is None
    assert got.created_at == "2026-01-01T00:00:00Z"
    assert kb.counts()["case"] == 1
    assert [e["action"] for e in kb.events("case:SR-1")] == ["created", "updated"]


def test_case_and_article_with_the_same_id_are_different_records(kb):
    kb.upsert([case("X-1", text="a case"), Record("article", "X-1", text="an article")])
    assert kb.get("case", "X-1").text == "a case"
    assert kb.get("article", "X-1").text == "an article"
    assert set(kb.get_many(["case:X-1", "article:X-1", "case:nope"])) == {"case:X-1",
                                                                          "article:X-1"}


@pytest.mark.parametrize(("bad", "error", "message"), [
    (Record("case", "B-1", text="x", severity="urgent"), UnknownLabel, "urgent"),
    (Record("case", "  ", text="x"), BadInput, "needs an id"),
    (Record("ticket", "B-1", text="x"), BadInput, "ticket"),
])
def test_a_bad_record_writes_nothing_of_its_batch(kb, bad, error, message):
    with pytest.raises(error, match=message):
        kb.upsert([case("G-1"), bad, case("G-2")])
    assert kb.counts()["case"] == 0
    assert kb.seq == 0
    assert kb.events() == []


def test_empty_fix_is_still_a_labelled_case(kb):
    kb.upsert([case("L-1", labels={"category": "软件"}, severity="low"),
               case("L-2", fix="重启", labels={"category": "网络"}),
               case("L-3", fix="重启")])
    counts = kb.counts()
    assert (counts["case"], counts["labelled"], counts["with_fix"]) == (3, 2, 2)
    assert kb.label_values("category") == sorted(["软件", "网络"])


def test_empty_label_value_means_unlabelled(kb):
    kb.upsert([case("E-1", labels={"category": "", "component": "nvr"})])
    assert kb.get("case", "E-1").labels == {"component": "nvr"}
    assert kb.label_fields() == ["component"]


def test_unknown_label_field_is_refused(kb):
    kb.upsert([case("F-1", labels={"category": "存储"})])
    with pytest.raises(UnknownLabel, match="cause"):
        kb.label_values("cause")


def test_delete_returns_whether_it_existed(kb):
    kb.upsert([case("D-1"), case("D-2")])
    assert kb.delete("case", "D-1") is True
    assert kb.delete("case", "D-1") is False
    with pytest.raises(NotFound):
        kb.get("case", "D-1")
    assert [r.id for r in kb.records("case")] == ["D-2"]
    with pytest.raises(BadInput):
        kb.delete("ticket", "D-2")


def test_changes_since_reports_writes_and_removals_after_a_sequence_number(kb):
    kb.upsert([case("S-1"), case("S-2")])
    mark = kb.seq
    kb.upsert([case("S-3")])
    kb.delete("case", "S-1")
    changed, removed = kb.changes_since(mark)
    assert [r.key for r in changed] == ["case:S-3"]
    assert removed == ["case:S-1"]
    everything, _ = kb.changes_since(0)
    assert {r.key for r in everything} == {"case:S-2", "case:S-3"}
    # writing a removed record again takes it off the removed list
    kb.upsert([case("S-1")])
    changed, removed = kb.changes_since(mark)
    assert removed == []
    assert {r.key for r in changed} == {"case:S-1", "case:S-3"}


def test_sequence_and_label_version_move_on_every_write(kb):
    seen = [(kb.seq, kb.label_version)]
    kb.upsert([case("V-1", labels={"category": "存储"})])
    seen.append((kb.seq, kb.label_version))
    kb.upsert([case("V-1", labels={"category": "网络"})])
    seen.append((kb.seq, kb.label_version))
    kb.delete("case", "V-1")
    seen.append((kb.seq, kb.label_version))
    for before, after in itertools.pairwise(seen):
        assert after[0] > before[0] and after[1] > before[1]


def test_links_are_recorded_and_logged(kb):
    kb.upsert([case("K-1"), Record("article", "A-1", text="换硬盘")])
    kb.link("K-1", "article:A-1", "suggested", actor="张工")
    kb.link("K-1", "article:A-1", "used", actor="张工")
    assert [lk["relation"] for lk in kb.links(case_id="K-1")] == ["suggested", "used"]
    assert len(kb.links(target="article:A-1")) == 2
    assert [e["action"] for e in kb.events("case:K-1")][-2:] == ["link:suggested", "link:used"]
    with pytest.raises(BadInput, match="liked"):
        kb.link("K-1", "article:A-1", "liked")


@pytest.mark.parametrize("statement", [
    "UPDATE events SET actor = 'someone else'",
    "DELETE FROM events",
])
def test_event_log_is_append_only(store_url, statement):
    path = store_url
    kb = KnowledgeBase(path, LEVELS)
    kb.upsert([case("EV-1")])
    kb.close()
    kb = KnowledgeBase(path, LEVELS)  # the guard survives reopening the database
    before = kb.events()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        kb.db.execute(statement)
    assert kb.events() == before
    kb.log("tester", "note", "case:EV-1", {"说明": "补充"})
    assert len(kb.events()) == len(before) + 1
    kb.close()


def test_records_survive_reopening(store_url):
    path = store_url
    kb = KnowledgeBase(path, LEVELS)
    kb.upsert([case("P-1", labels={"category": "存储"}, severity="critical")])
    seq = kb.seq
    kb.close()
    kb = KnowledgeBase(path, LEVELS)
    assert kb.get("case", "P-1").labels == {"category": "存储"}
    assert kb.seq == seq
    kb.close()


def test_many_records_read_back_with_their_labels(kb):
    kb.upsert([case(f"M-{n}", labels={"category": f"c{n % 3}"}) for n in range(1000)])
    records = kb.records("case")
    assert len(records) == 1000
    assert all(r.labels == {"category": f"c{int(r.id[2:]) % 3}"} for r in records)


def test_a_big_batch_logs_one_event_per_record_in_order_and_hooks_see_each(kb):
    seen = []
    kb.on_log("watch", lambda event: seen.append((event.id, event.action, event.target)))
    kb.upsert([case("B-0")])
    n = EVENT_ROWS * 2 + 7  # three INSERTs of events
    kb.upsert([case(f"B-{i}") for i in range(n)])  # B-0 again: updated
    events = kb.events(limit=n + 10)
    assert [(e["action"], e["target"]) for e in events] == [("created", "case:B-0")] + [
        ("updated" if i == 0 else "created", f"case:B-{i}") for i in range(n)]
    assert seen == [(e["id"], e["action"], e["target"]) for e in events]
    assert len({e["id"] for e in events}) == n + 1


def test_a_database_from_before_mail_intake_gains_its_tables(store_url):
    """An older knowledge base (no mail_log; mail_seen made by an older intake) opens
    with both mail tables and keeps what intake had already taken."""
    path = store_url
    kb = KnowledgeBase(path, LEVELS)
    kb.upsert([case("OLD-1")])
    kb.db.execute("DROP TABLE mail_log")
    kb.db.execute("DELETE FROM mail_seen")
    kb.db["mail_seen"].insert({"message_id": "<old@x>", "case_id": "OLD-1", "at": "t"})
    kb.close()
    kb = KnowledgeBase(path, LEVELS)
    assert kb.db["mail_log"].exists()
    assert [r["case_id"] for r in kb.db["mail_seen"].rows] == ["OLD-1"]
    assert kb.get("case", "OLD-1").text == "NVR提示硬盘错误"
    kb.close()
