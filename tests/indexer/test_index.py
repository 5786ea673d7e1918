"""indexer/index.py: the index folder and its manifest, model checks, hybrid scores, sync."""

from __future__ import annotations

import json

import numpy as np
import pytest

from errors import IndexCorrupt, ModelMismatch
from indexer.encoder import HashEncoder, make_encoder
from indexer.index import FORMAT_VERSION, Index
from indexer.ranking import Ranking
from kb.records import Record
from kb.store import KnowledgeBase

RECORDS = [
    Record("case", "1", title="NVR报“硬盘错误”", text="NVR前面板报警，提示硬盘错误，录像查不到",
           fix="更换硬盘"),
    Record("case", "2", text="Licence expired E-1043 on the VMS; new cameras cannot be added",
           fix="Renew the licence"),
    Record("case", "3", text="Loading-bay camera keeps dropping offline, IP conflict",
           fix="Static IP"),
    Record("article", "A", title="客户端安装报错0x8007045D", text="安装到一半中断",
           fix="把安装包复制到本地"),
]


class NamedEncoder(HashEncoder):
    """The hashing encoder under another model name (same dimension)."""

    def __init__(self, name: str, dim: int = 64) -> None:
        super().__init__(dim)
        self.name = name


@pytest.fixture
def index(tmp_path) -> Index:
    idx = Index(tmp_path / "index", HashEncoder(64), "numpy")
    idx.upsert(RECORDS)
    return idx


def test_manifest_describes_the_index(index):
    index.seq = 17
    index.save()
    manifest = json.loads((index.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert (manifest["model"], manifest["dim"]) == ("hash:64", 64)
    assert manifest["normalized"] is True
    assert manifest["backend"] == "numpy"
    assert manifest["count"] == len(RECORDS)
    assert manifest["seq"] == 17
    files = {p.name for p in index.folder.iterdir()}
    gen = manifest["generation"]
    assert {f"vectors-{gen}.npz", f"lexical-{gen}.pkl", f"ids-{gen}.json"} <= files


def test_saving_again_replaces_the_old_generation(index):
    index.save()
    index.upsert([Record("case", "4", text="UPS冒烟")])
    index.save()
    generations = {p.name.split(".")[0].rsplit("-", 1)[1] for p in index.folder.glob("*-*.*")}
    assert generations == {"2"}
    assert json.loads((index.folder / "manifest.json").read_text())["generation"] == 2
    again = Index.open(index.folder, HashEncoder(64), "numpy")
    assert "case:4" in again and len(again) == len(RECORDS) + 1


def test_opening_an_empty_folder_gives_an_empty_index(tmp_path):
    idx = Index.open(tmp_path / "none", HashEncoder(64), "numpy")
    assert len(idx) == 0 and idx.search("硬盘", 5) == []


@pytest.mark.parametrize("encoder", [HashEncoder(32), NamedEncoder("other-model", 64)],
                         ids=["other-dim", "same-dim-other-name"])
def test_another_model_is_refused_with_reindex_advice(index, encoder):
    index.save()
    with pytest.raises(ModelMismatch, match="knownfix reindex") as err:
        Index.open(index.folder, encoder, "numpy")
    assert "hash:64" in str(err.value) and encoder.name in str(err.value)


def test_the_saved_backend_is_used_when_opening(index):
    index.save()
    again = Index.open(index.folder, HashEncoder(64), "faiss")
    assert again.backend == "numpy"
    assert again.search("E-1043", 1)[0].key == "case:2"


@pytest.mark.parametrize("damage", ["manifest", "format", "vectors", "counts"])
def test_damaged_index_is_reported_with_reindex_advice(index, damage):
    index.save()
    manifest_path = index.folder / "manifest.json"
    if damage == "manifest":
        manifest_path.write_text("{broken", encoding="utf-8")
    elif damage == "format":
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest_path.write_text(json.dumps({**m, "format_version": 99}), encoding="utf-8")
    elif damage == "vectors":
        next(index.folder.glob("vectors-*")).write_bytes(b"garbage")
    else:
        ids_file = next(index.folder.glob("ids-*"))
        ids = json.loads(ids_file.read_text(encoding="utf-8"))
        ids.pop("case:1")
        ids_file.write_text(json.dumps(ids), encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="knownfix reindex"):
        Index.open(index.folder, HashEncoder(64), "numpy")


def test_hybrid_score_is_the_documented_fusion(index):
    for hit in index.search("NVR 硬盘错误 E-1043", 10):
        assert 0.0 <= hit.lexical <= 1.0 and -1.0 <= hit.dense <= 1.0
        expected = 0.7 * max(hit.dense, 0.0) + 0.3 * hit.lexical
        assert hit.score == pytest.approx(expected)
        assert 0.0 <= hit.score <= 1.0


def test_hits_are_best_first_and_limited_to_k(index):
    hits = index.search("camera offline", 2)
    assert len(hits) == 2
    full = index.search("camera offline", 10)
    assert [h.score for h in full] == sorted((h.score for h in full), reverse=True)
    assert [h.key for h in hits] == [h.key for h in full[:2]]


@pytest.mark.parametrize(("weight", "check"), [
    (0.0, lambda h: h.score == pytest.approx(h.lexical)),
    (1.0, lambda h: h.score == pytest.approx(max(h.dense, 0.0))),
])
def test_fusion_weight_extremes(tmp_path, weight, check):
    idx = Index(tmp_path / "i", HashEncoder(64), "numpy", ranking=Ranking.uniform(weight))
    idx.upsert(RECORDS)
    hits = idx.search("硬盘错误", 10)
    assert hits and all(check(h) for h in hits)


@pytest.mark.parametrize(("query", "key", "token"), [
    ("E-1043", "case:2", "e-1043"),
    ("0x8007045D", "article:A", "0x8007045d"),
    ("硬盘错误", "case:1", "硬盘"),
    ("IP conflict", "case:3", "conflict"),
])
def test_codes_and_words_find_their_record_and_say_what_matched(index, query, key, token):
    best = index.search(query, 3)[0]
    assert best.key == key
    assert token in best.matched


def test_records_found_only_by_words_get_their_dense_score(tmp_path):
    """A record outside the dense candidate pool but matching lexically still gets a real
    cosine, not 0."""
    idx = Index(tmp_path / "i", HashEncoder(64), "numpy")
    filler = [Record("case", f"f{n}", text=f"filler text number {n} camera") for n in range(40)]
    idx.upsert([*filler, Record("case", "code", text="E-1043")])
    hits = idx.search("E-1043 camera", 50, pool=2)
    code = next(h for h in hits if h.key == "case:code")
    expected = float(idx.encode_query("E-1043 camera") @ idx.encoder.encode(["E-1043"])[0])
    assert code.dense == pytest.approx(expected, abs=1e-5)


def test_search_with_a_filter(index):
    hits = index.search("硬盘 camera licence", 10, keep=lambda key: key.startswith("article:"))
    assert [h.key for h in hits] == ["article:A"] or all(
        h.key.startswith("article:") for h in hits)
    assert all(h.key.startswith("article:") for h in hits)


def test_sync_follows_the_knowledge_base(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb.db")
    idx = Index(tmp_path / "i", HashEncoder(64), "numpy")
    kb.upsert(RECORDS)
    assert idx.sync(kb) == len(RECORDS)
    assert idx.sync(kb) == 0
    kb.upsert([Record("case", "1", text="UPS冒烟，焦糊味")])
    kb.delete("case", "3")
    assert idx.sync(kb) == 2
    assert idx.seq == kb.seq
    assert "case:3" not in idx
    assert idx.search("UPS冒烟", 1)[0].key == "case:1"
    assert all(h.key != "case:1" for h in idx.search("硬盘错误", 5) if h.lexical > 0)
    kb.close()


def test_progress_is_reported_while_indexing(tmp_path):
    idx = Index(tmp_path / "i", HashEncoder(64), "numpy")
    seen: list[int] = []
    idx.upsert(RECORDS, progress=seen.append)
    assert seen[-1] == len(RECORDS)


def test_hash_encoder_gives_unit_rows_and_similar_texts_similar_vectors():
    enc = make_encoder("hash:128")
    assert make_encoder("hash:128") is enc  # one encoder per model per process
    vecs = enc.encode(["NVR硬盘错误", "NVR硬盘错误报警", "UPS battery smoke"])
    assert vecs.shape == (3, 128) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert enc.encode([]).shape == (0, 128)


def test_changing_only_the_fix_updates_the_words(index):
    old = RECORDS[0]
    index.upsert([Record("case", "1", title=old.title, text=old.text, fix="重新插拔数据线")])
    assert len(index) == len(RECORDS)
    lexical = [(h.key, h.matched) for h in index.search("插拔数据线", 10) if h.lexical > 0]
    assert lexical == [("case:1", ["插拔", "数据", "数据线"])]
    for hit in index.search("更换硬盘", 5):
        if hit.key == "case:1":
            assert "更换" not in hit.matched
