"""One contract, run against every vector backend: the store alone, then the whole Index
(upsert, delete, save/load, and a rebuild that equals the incremental index)."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.encoder import HashEncoder
from indexer.index import Index
from indexer.vectors import BACKENDS, IN_DATABASE, load_vectors, make_vectors
from kb.records import Record
from kb.store import KnowledgeBase

DIM = 32


@pytest.fixture(params=sorted(BACKENDS))
def backend(request) -> str:
    return request.param


@pytest.fixture
def place(backend, request, tmp_path) -> tuple[str, str]:
    """(database, folder) a backend keeps its vectors in: nothing for the file stores; for
    pgvector a database on the tests' PostgreSQL with the extension, or a skip saying
    why (the extension is optional and not on every server)."""
    if backend not in IN_DATABASE:
        return "", ""
    import psycopg

    url = request.getfixturevalue("pg_cluster").new_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL here has no vector extension (pgvector): {exc}".strip())
    return url, str(tmp_path / "vectors")


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# -- the vector store ------------------------------------------------------------------------

def test_empty_store_searches_to_nothing(backend, place):
    store = make_vectors(backend, DIM, *place)
    assert len(store) == 0
    scores, ids = store.search(unit_rows(1)[0], 5)
    assert scores.shape == ids.shape == (1, 0)


def test_each_vector_finds_itself_first(backend, place):
    store = make_vectors(backend, DIM, *place)
    vecs = unit_rows(20)
    ids = np.arange(100, 120, dtype=np.int64)
    store.add(ids, vecs)
    assert len(store) == 20
    scores, found = store.search(vecs, 3)
    assert scores.shape == found.shape == (20, 3)
    assert found[:, 0].tolist() == ids.tolist()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    expected = vecs @ vecs[0]
    np.testing.assert_allclose(sorted(expected, reverse=True)[:3], scores[0], atol=1e-5)


def test_k_larger_than_the_store(backend, place):
    store = make_vectors(backend, DIM, *place)
    store.add(np.array([1, 2], dtype=np.int64), unit_rows(2))
    _scores, ids = store.search(unit_rows(1, seed=5)[0], 10)
    assert sorted(ids[0].tolist()) == [1, 2]


def test_remove_returns_how_many_and_they_are_gone(backend, place):
    store = make_vectors(backend, DIM, *place)
    vecs = unit_rows(10)
    store.add(np.arange(10, dtype=np.int64), vecs)
    assert store.remove(np.array([3, 7, 99], dtype=np.int64)) == 2
    assert store.remove(np.array([3], dtype=np.int64)) == 0
    assert store.remove(np.array([], dtype=np.int64)) == 0
    assert len(store) == 8
    _, found = store.search(vecs[3], 10)
    assert 3 not in found[0].tolist() and 7 not in found[0].tolist()
    ids, all_vecs = store.all()
    assert sorted(ids.tolist()) == [0, 1, 2, 4, 5, 6, 8, 9]
    for i, v in zip(ids.tolist(), all_vecs, strict=True):
        np.testing.assert_allclose(v, vecs[i], atol=1e-6)


def test_get_returns_the_stored_vectors(backend, place):
    store = make_vectors(backend, DIM, *place)
    vecs = unit_rows(6)
    store.add(np.array([5, 9, 2, 40, 41, 42], dtype=np.int64), vecs)
    np.testing.assert_allclose(store.get(np.array([2, 5], dtype=np.int64)), vecs[[2, 0]],
                               atol=1e-6)
    assert store.get(np.array([], dtype=np.int64)).shape == (0, DIM)


def test_save_and_load_give_the_same_answers(backend, place, tmp_path):
    store = make_vectors(backend, DIM, *place)
    vecs = unit_rows(15)
    store.add(np.arange(15, dtype=np.int64) * 3, vecs)
    store.remove(np.array([6], dtype=np.int64))
    path = tmp_path / f"vectors{BACKENDS[backend].suffix}"
    store.save(path)
    again = load_vectors(backend, path, DIM, *place)
    assert len(again) == len(store) == 14
    q = unit_rows(3, seed=9)
    for a, b in zip(store.search(q, 5), again.search(q, 5), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    again.add(np.array([1000], dtype=np.int64), unit_rows(1, seed=11))
    assert len(again) == 15


# -- the whole index over each backend ---------------------------------------------------------

RECORDS = [
    Record("case", "1", text="NVR提示硬盘错误，录像查不到", fix="更换硬盘"),
    Record("case", "2", text="Camera offline, IP address conflict with a printer",
           fix="Static IP outside the DHCP pool"),
    Record("case", "3", text="平台授权到期 E-1043，摄像机加不进去", fix="续期授权"),
    Record("article", "A", title="RAID degraded R123-78", text="Array degraded alarm",
           fix="Replace the disk and rebuild"),
    Record("article", "B", title="客户端安装报错0x8007045D", text="安装中断", fix="复制到本地"),
]
QUERIES = ["硬盘错误", "IP conflict printer", "E-1043", "R123-78 degraded", "0x8007045D",
           "摄像机 offline"]


def new_index(folder, backend: str, place: tuple[str, str]) -> Index:
    return Index(folder, HashEncoder(64), backend, database=place[0])


def results(index: Index, query: str, k: int = 10) -> list[tuple[str, float]]:
    return [(h.key, round(h.score, 4)) for h in index.search(query, k)]


def test_index_upsert_search_and_replace(backend, place, tmp_path):
    index = new_index(tmp_path / "idx", backend, place)
    assert index.search("硬盘", 5) == []
    assert index.upsert(RECORDS) == len(RECORDS)
    assert len(index) == len(RECORDS)
    for rec in RECORDS:
        assert index.search(rec.search_text, 1)[0].key == rec.key
    index.upsert([Record("case", "1", text="UPS冒烟，有焦糊味", fix="断电更换电池")])
    assert len(index) == len(RECORDS)
    assert index.search("UPS冒烟", 1)[0].key == "case:1"
    assert "case:1" not in [h.key for h in index.search("硬盘错误", 10) if h.lexical > 0]


def test_index_delete(backend, place, tmp_path):
    index = new_index(tmp_path / "idx", backend, place)
    index.upsert(RECORDS)
    assert index.delete(["case:3", "case:404"]) == ["case:3"]
    assert index.delete(["case:3"]) == []
    assert "case:3" not in index and len(index) == len(RECORDS) - 1
    for q in QUERIES:
        assert "case:3" not in [key for key, _ in results(index, q)]


def test_index_save_and_open(backend, place, tmp_path):
    index = new_index(tmp_path / "idx", backend, place)
    index.upsert(RECORDS)
    index.delete(["article:B"])
    index.save()
    again = Index.open(tmp_path / "idx", HashEncoder(64), backend, database=place[0])
    assert len(again) == len(index)
    for q in QUERIES:
        assert results(again, q) == results(index, q)
    # ids are never reused after reopening
    again.upsert([Record("case", "9", text="新记录 NVR")])
    assert again.key_to_id["case:9"] >= index.next_id


def test_rebuild_equals_incremental(backend, place, tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.db")
    incremental = new_index(tmp_path / "inc", backend, place)
    steps = [
        lambda: kb.upsert(RECORDS[:3]),
        lambda: kb.upsert(RECORDS[3:]),
        lambda: kb.upsert([Record("case", "2", text="Camera offline again, switch port dark",
                                  fix="Replaced the patch cable")]),
        lambda: kb.delete("article", "B"),
        # same description, new fix: only its words change
        lambda: kb.upsert([Record("case", "3", text=RECORDS[2].text, fix="更换授权服务器")]),
        lambda: kb.upsert([Record("case", "4", text="围墙枪机晚上自动重启，供电不足")]),
        lambda: kb.delete("case", "1"),
    ]
    for step in steps:
        step()
        incremental.sync(kb)
        incremental.save()
    incremental = Index.open(tmp_path / "inc", HashEncoder(64), backend, database=place[0])

    rebuilt = new_index(tmp_path / "full", backend, place)
    assert rebuilt.rebuild(kb) == len(kb.records()) == 4
    assert rebuilt.seq == incremental.seq == kb.seq
    assert set(rebuilt.key_to_id) == set(incremental.key_to_id) == {r.key for r in kb.records()}
    for q in [*QUERIES, "switch port", "枪机 重启", "授权服务器", "续期授权"]:
        assert results(rebuilt, q) == results(incremental, q), q
    kb.close()
