"""KnowledgeBase.expecting: the first write to a record in the block goes ahead only at
the expected sequence number (checked inside the write's transaction); the action's own
later writes pass; other threads are not affected."""

from __future__ import annotations

import threading

import pytest

from errors import StaleRecord
from kb.records import Record
from kb.store import KnowledgeBase


@pytest.fixture
def kb(store_url) -> KnowledgeBase:
    store = KnowledgeBase(store_url)
    store.upsert([Record(kind="case", id="C1", text="disk error", state="new")])
    return store


def seq(kb: KnowledgeBase) -> int:
    return int(kb.row("case", "C1")["seq"])


def test_a_stale_expectation_writes_nothing(kb):
    before = seq(kb)
    kb.update("case", "C1", {"title": "moved on"}, "zhao", "update")
    with pytest.raises(StaleRecord) as stale, kb.expecting("case", "C1", before):
        kb.update("case", "C1", {"title": "lost update"}, "li", "update")
    assert stale.value.params["current"] == before + 1
    assert kb.row("case", "C1")["title"] == "moved on"


def test_the_right_version_writes_and_later_writes_of_the_action_pass(kb):
    with kb.expecting("case", "C1", seq(kb)):
        kb.update("case", "C1", {"title": "first"}, "li", "update")
        kb.update("case", "C1", {"state": "triaged"}, "li", "triage")
    assert kb.row("case", "C1")["state"] == "triaged"


def test_the_expectation_is_this_threads_only(kb):
    old = seq(kb)
    kb.update("case", "C1", {"title": "moved on"}, "zhao", "update")
    done = []
    with kb.expecting("case", "C1", old):
        worker = threading.Thread(target=lambda: done.append(
            kb.update("case", "C1", {"title": "other thread"}, "wang", "update")))
        worker.start()
        worker.join()
    assert done == [None] and kb.row("case", "C1")["title"] == "other thread"
