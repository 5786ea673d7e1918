"""Exact below `ann_threshold`, approximate (IVF) above it: the switch happens at sync and
rebuild time, survives save/open, goes back to exact when the collection shrinks, and the
approximate store keeps recall@10 against exact search high."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexer.encoder import HashEncoder
from indexer.index import Index
from indexer.vectors import (
    ANN_NLIST,
    ANN_NPROBE,
    ANN_THRESHOLD,
    AnnParams,
    FaissVectors,
    IvfVectors,
    fit_to_size,
)
from kb.records import Record
from kb.store import KnowledgeBase
from settings import load_settings

DIM = 32


def clustered(n: int, seed: int = 0, centres: int = 50) -> np.ndarray:
    """Unit vectors around a few centres: closer to text embeddings than pure noise."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, DIM))
    v = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, DIM))
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_defaults_are_the_settings_defaults(tmp_path):
    s = load_settings(str(tmp_path))
    assert AnnParams.from_settings(s) == AnnParams() == AnnParams(ANN_THRESHOLD, ANN_NLIST,
                                                                  ANN_NPROBE)


def test_cells_follow_the_size():
    p = AnnParams()
    assert p.cells_for(1_000_000) == 1000
    assert p.cells_for(10) == 1  # never fewer than 39 training points per cell
    assert AnnParams(nlist=64).cells_for(100_000) == 64


def test_fit_to_size_switches_both_ways():
    vecs = clustered(2000)
    ids = np.arange(2000, dtype=np.int64) * 2
    params = AnnParams(threshold=1000, nprobe=8)
    store = FaissVectors(DIM)
    store.add(ids[:900], vecs[:900])
    assert fit_to_size(store, params) is None  # below the threshold: stays exact
    store.add(ids[900:], vecs[900:])
    ivf = fit_to_size(store, params)
    assert isinstance(ivf, IvfVectors) and len(ivf) == 2000
    assert ivf.nlist == params.cells_for(2000) and ivf.index.nprobe == 8
    got_ids, got_vecs = ivf.all()
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_allclose(got_vecs, vecs, atol=1e-6)  # nothing lost in the move
    # changing nprobe is applied in place; a 4x bigger collection is re-trained
    assert fit_to_size(ivf, AnnParams(threshold=1000, nprobe=3)) is None
    assert ivf.index.nprobe == 3
    ivf.remove(ids[:1300])  # 700 left: under 80% of the threshold -> exact again
    back = fit_to_size(ivf, params)
    assert isinstance(back, FaissVectors) and len(back) == 700
    big = clustered(8000, seed=1)
    ivf2 = IvfVectors.build(np.arange(8000, dtype=np.int64), big,
                            AnnParams(threshold=100, nprobe=4))
    ivf2.remove(np.arange(7000, 8000, dtype=np.int64))  # a little smaller: kept as it is
    assert fit_to_size(ivf2, AnnParams(threshold=100, nprobe=4)) is None
    ivf3 = IvfVectors.build(np.arange(500, dtype=np.int64), big[:500], AnnParams(threshold=100))
    ivf3.add(np.arange(500, 8000, dtype=np.int64), big[500:])
    retrained = fit_to_size(ivf3, AnnParams(threshold=100))
    assert isinstance(retrained, IvfVectors) and retrained.nlist > ivf3.nlist


def test_ivf_recall_against_exact():
    vecs = clustered(20_000, seed=3)
    ids = np.arange(20_000, dtype=np.int64)
    exact = FaissVectors(DIM)
    exact.add(ids, vecs)
    ivf = IvfVectors.build(ids, vecs, AnnParams(nprobe=ANN_NPROBE))
    queries = clustered(200, seed=4)
    _, a = ivf.search(queries, 10)
    _, e = exact.search(queries, 10)
    recall = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a.tolist(), e.tolist(),
                                                                 strict=True)])
    assert ivf.nlist == 141 and recall >= 0.95, recall
    low = IvfVectors.build(ids, vecs, AnnParams(nprobe=1))
    _, a1 = low.search(queries, 10)
    recall1 = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a1.tolist(), e.tolist(),
                                                                  strict=True)])
    assert recall1 < recall  # nprobe is the knob


def test_index_switches_at_sync_and_keeps_working(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.db")
    words = ["disk", "camera", "offline", "licence", "ups", "smoke", "fan", "noise", "port"]
    recs = [Record("case", str(i), text=f"{words[i % 9]} {words[(i * 5) % 9]} fault {i}",
                   state="closed") for i in range(400)]
    kb.upsert(recs[:100])
    index = Index(tmp_path / "idx", HashEncoder(DIM), "faiss",
                  ann=AnnParams(threshold=200, nprobe=64))
    index.sync(kb)
    assert isinstance(index.vectors, FaissVectors)
    kb.upsert(recs[100:])
    index.sync(kb)
    assert isinstance(index.vectors, IvfVectors) and len(index.vectors) == 400
    index.save()
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text("utf-8"))
    assert manifest["backend"] == "faiss" and manifest["vector_index"]["type"] == "ivf"
    again = Index.open(tmp_path / "idx", HashEncoder(DIM), "faiss",
                       ann=AnnParams(threshold=200, nprobe=5))
    assert isinstance(again.vectors, IvfVectors) and again.vectors.index.nprobe == 5
    assert again.search("ups smoke fault 17", 1)[0].key == "case:17"
    # deletes and updates reach the IVF store
    for i in range(150):
        kb.delete("case", str(i))
    kb.upsert([Record("case", "399", text="completely new words here", state="closed")])
    again.ann = AnnParams(threshold=200, nprobe=64)
    again.sync(kb)
    assert len(again) == 250 and "case:5" not in again
    assert again.search("completely new words here", 1)[0].key == "case:399"
    for i in range(200, 270):
        kb.delete("case", str(i))
    again.sync(kb)  # 180 left: still IVF (hysteresis: exact again under 80% of 200)
    assert isinstance(again.vectors, IvfVectors)
    for i in range(270, 300):
        kb.delete("case", str(i))
    again.sync(kb)  # 150 left
    assert isinstance(again.vectors, FaissVectors) and len(again.vectors) == 150
    assert again.search("completely new words here", 1)[0].key == "case:399"
    kb.close()


def test_rebuild_goes_straight_to_the_right_store(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.db")
    kb.upsert([Record("case", str(i), text=f"fault number {i} on device {i % 13}",
                      state="closed") for i in range(300)])
    index = Index(tmp_path / "idx", HashEncoder(DIM), "faiss", ann=AnnParams(threshold=100))
    assert index.rebuild(kb) == 300
    assert isinstance(index.vectors, IvfVectors)
    kb.close()


def test_same_description_is_encoded_once(tmp_path):
    class Counting(HashEncoder):
        texts = 0

        def encode(self, texts, batch_size=64, progress=False):
            Counting.texts += len(texts)
            return super().encode(texts, batch_size, progress)

    index = Index(tmp_path / "idx", Counting(DIM), "numpy")
    same = [Record("case", str(i), text="Not working", state="closed") for i in range(50)]
    index.upsert(same)
    assert Counting.texts == 1
    index.upsert([Record("case", "x", text="Not working", fix="new fix", state="closed")])
    assert Counting.texts == 1
    index.delete([f"case:{i}" for i in range(1, 50)])
    index.upsert([Record("case", "y", text="Not working", state="closed")])
    assert Counting.texts == 1  # case:0 still holds that vector
    index.delete(["case:0", "case:x", "case:y"])
    index.upsert([Record("case", "z", text="Not working", state="closed")])
    assert Counting.texts == 2  # nothing holds it any more
    vec = index.vectors.get(np.array([index.key_to_id["case:z"]]))
    np.testing.assert_allclose(vec[0], Counting(DIM).encode(["Not working"])[0], atol=1e-6)


@pytest.mark.parametrize("nprobe", [1, 1000])
def test_ivf_search_pads_with_minus_one_only_when_cells_run_out(nprobe):
    vecs = clustered(400, seed=5)
    ivf = IvfVectors.build(np.arange(400, dtype=np.int64), vecs, AnnParams(nprobe=nprobe))
    _, ids = ivf.search(vecs[:3], 50)
    assert ids.shape == (3, 50)
    if nprobe == 1000:
        assert (ids >= 0).all()


def test_small_queries_run_on_one_thread_and_restore_the_count():
    import threading

    import faiss

    before = faiss.omp_get_max_threads()
    vecs = clustered(300, seed=6)
    flat = FaissVectors(DIM)
    flat.add(np.arange(300, dtype=np.int64), vecs)
    ivf = IvfVectors.build(np.arange(300, dtype=np.int64), vecs, AnnParams())

    def work() -> None:
        for _ in range(50):
            flat.search(vecs[0], 10)
            ivf.search(vecs[:2], 10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat.search(vecs[:20], 5)  # a batch keeps every thread
    assert faiss.omp_get_max_threads() == before
