"""What several processes on one knowledge base rely on, on both stores: writers take
turns (every change gets its own sequence number, in commit order), a named lock has
one holder at a time, and, on PostgreSQL, a commit wakes the other servers at once."""

from __future__ import annotations

import threading
import time

import pytest

from kb.records import Record
from kb.store import KnowledgeBase
from service.engine import Engine
from settings import load_settings


def test_two_writers_never_share_a_sequence_number(store_url):
    first, second = KnowledgeBase(store_url), KnowledgeBase(store_url)
    start = first.seq

    def write(kb: KnowledgeBase, name: str) -> None:
        for n in range(40):
            kb.upsert([Record("case", f"{name}-{n}", text=f"硬盘错误 {n}")])

    threads = [threading.Thread(target=write, args=(kb, name))
               for kb, name in ((first, "A"), (second, "B"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r[0] for r in first.db.execute("SELECT seq FROM cases")]
    assert len(seqs) == 80 and len(set(seqs)) == 80
    assert first.seq == second.seq == start + 80 == max(seqs)
    first.close()
    second.close()


def test_a_named_lock_has_one_holder_at_a_time(store_url):
    first, second = KnowledgeBase(store_url), KnowledgeBase(store_url)
    with first.exclusive("tuning") as mine:
        assert mine
        with second.exclusive("tuning") as theirs:
            assert not theirs
        with second.exclusive("maintenance") as other:
            assert other  # another name is another lock
    with second.exclusive("tuning") as theirs:
        assert theirs
    first.close()
    second.close()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    return pg_cluster.new_database()


def test_a_commit_wakes_a_waiting_server_and_a_rollback_does_not(pg_url):
    writer, reader = KnowledgeBase(pg_url), KnowledgeBase(pg_url)
    assert reader.wait_for_change(0.05) is False  # listening from here on
    woke: list[float] = []

    def wait() -> None:
        start = time.perf_counter()
        if reader.wait_for_change(10):
            woke.append(time.perf_counter() - start)

    with pytest.raises(RuntimeError), writer.transaction():
        writer.upsert([Record("case", "R-1", text="回滚")])
        raise RuntimeError("changed my mind")
    assert reader.wait_for_change(0.2) is False  # nothing committed, nobody woken
    listener = threading.Thread(target=wait)
    listener.start()
    time.sleep(0.1)
    writer.upsert([Record("case", "N-1", text="NVR 无法开机")])
    listener.join()
    assert woke and woke[0] < 5.0
    writer.close()
    reader.close()


def test_a_server_follows_what_another_server_commits(pg_url, tmp_path):
    """Engine B, left alone (no search, no call), takes in what engine A wrote: its
    follower is woken by the commit and syncs B's own index."""
    def engine(name: str) -> Engine:
        return Engine(load_settings(str(tmp_path / name), model="hash:256",
                                    vector_backend="numpy", database_url=pg_url))

    a, b = engine("a"), engine("b")
    a.upsert([Record("case", "F-1", text="门禁读卡器不识别员工卡", fix="重新授权卡片",
                     state="closed")])
    deadline = time.monotonic() + 10
    while b._index.seq < a.kb.seq and time.monotonic() < deadline:
        time.sleep(0.02)
    assert b._index.seq == a.kb.seq and "case:F-1" in b._index
    assert [r.record.key for r in b.search("读卡器 员工卡", k=1)] == ["case:F-1"]
    a.close()
    b.close()


def test_a_session_started_on_one_server_is_valid_on_another(pg_url, tmp_path, monkeypatch):
    """Sign in through server A, work through server B with the same token; signing
    out on B ends it on A too, and a new case gets the next number whichever server
    opens it."""
    from argon2 import PasswordHasher

    from errors import PermissionDenied
    from service import auth
    from service.auth import SYSTEM
    from service.desk import Desk

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))

    def desk(name: str) -> Desk:
        return Desk.open(load_settings(str(tmp_path / name), model="hash:256",
                                       vector_backend="numpy", database_url=pg_url))

    a, b = desk("a"), desk("b")
    a.users.add(SYSTEM, "li", "a-long-password", "first_line")
    token = a.users.sign_in("li", "a-long-password")
    li = b.users.session(token)
    assert li.username == "li"
    one = a.cases.open(SYSTEM, "NVR 硬盘错误，录像查不到", channel="phone")
    two = b.cases.open(li, "门禁读卡器不识别员工卡", channel="phone")
    assert int(two.id.rsplit("-", 1)[1]) == int(one.id.rsplit("-", 1)[1]) + 1
    b.users.sign_out(token)
    with pytest.raises(PermissionDenied):
        a.users.session(token)
    a.close()
    b.close()
