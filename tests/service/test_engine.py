"""service/engine.py: the KB and the index kept in step; search; reindex after a model change."""

from __future__ import annotations

import json
import time

import pytest

from errors import BadInput, ModelMismatch, UnknownLabel
from indexer.index import Index
from kb.records import Record
from service.engine import Engine
from tests.helpers import ZH_CSV, zh_mapping


def test_a_new_record_is_searchable_at_once_without_a_rebuild(small_engine, monkeypatch):
    def no_rebuild(*args, **kwargs):
        raise AssertionError("a full rebuild was run")

    monkeypatch.setattr(Index, "rebuild", no_rebuild)
    query = "门禁认证成功但门不开"
    assert all(r.record.id != "NEW" for r in small_engine.search(query))
    start = time.perf_counter()
    small_engine.upsert([Record("case", "NEW", text="人脸门禁显示认证成功但门不开",
                                fix="锁控线松脱，重新接线", state="closed")])
    results = small_engine.search(query)
    assert time.perf_counter() - start < 1.0
    assert results[0].record.key == "case:NEW"
    assert results[0].record.fix == "锁控线松脱，重新接线"


def test_a_deleted_record_disappears_from_search(small_engine):
    assert small_engine.search("E-1043")[0].record.id in {"C5", "C6"}
    small_engine.kb.delete("case", "C5")
    small_engine.kb.delete("case", "C6")
    assert all(r.record.id not in {"C5", "C6"} for r in small_engine.search("E-1043"))


def test_search_filters_by_kind_and_label(small_engine):
    articles = small_engine.search("UPS 硬盘 camera", kind="article")
    assert articles and all(r.record.kind == "article" for r in articles)
    storage = small_engine.search("NVR camera offline", labels={"category": "storage"})
    assert storage and all(r.record.labels["category"] == "storage" for r in storage)
    assert len(small_engine.search("NVR camera offline E-1043", k=2)) == 2


@pytest.mark.parametrize(("state", "found"), [("closed", True), ("new", False),
                                              ("in_progress", False)])
def test_search_offers_only_settled_cases(small_engine, state, found):
    small_engine.upsert([Record("case", "OPEN", text="人脸门禁认证成功但门不开", state=state)])
    assert any(r.record.id == "OPEN" for r in small_engine.search("门禁 门不开")) is found


def test_search_refuses_an_empty_query_and_unknown_label(small_engine):
    with pytest.raises(BadInput, match="empty"):
        small_engine.search("   ")
    with pytest.raises(UnknownLabel, match="cause"):
        small_engine.search("NVR", labels={"cause": "disk"})


def test_import_saves_the_index_with_its_manifest(zh_settings):
    engine = Engine(zh_settings)
    report = engine.import_file(ZH_CSV, zh_mapping())
    assert report.taken == 8 and report.seconds > 0
    manifest = json.loads((zh_settings.index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["model"], manifest["dim"], manifest["count"]) == ("hash:256", 256, 8)
    assert manifest["seq"] == engine.kb.seq
    engine.close()
    again = Engine(zh_settings)
    assert again.stats()["index"]["count"] == 8
    assert again.search("授权到期")[0].record.id == "SR-2403"
    assert again.stats()["index"]["up_to_date"] is True
    again.close()


def test_unsaved_changes_are_caught_up_when_reopened(settings):
    engine = Engine(settings)
    engine.upsert([Record("case", "A", text="NVR硬盘错误")])
    engine.kb.upsert([Record("case", "B", text="UPS冒烟焦糊味")])  # not indexed yet
    engine.kb.close()  # closed without saving the index
    again = Engine(settings)
    assert again.search("UPS冒烟")[0].record.id == "B"
    again.close()


def test_model_change_is_refused_until_reindex(settings, small_engine):
    small_engine.save()
    other = settings.with_(model="hash:128")
    with pytest.raises(ModelMismatch, match="knownfix reindex"):
        Engine(other)
    fresh = Engine(other, fresh_index=True)
    assert fresh.reindex() == 9
    fresh.close()
    reopened = Engine(other)
    assert reopened.stats()["index"]["model"] == "hash:128"
    assert reopened.search("E-1043")[0].record.id in {"C5", "C6"}
    reopened.close()


def test_stats(small_engine):
    stats = small_engine.stats()
    assert stats["records"]["case"] == 8 and stats["records"]["article"] == 1
    assert stats["label_fields"] == {"category": 5, "component": 5}
    assert stats["index"]["count"] == 9
    assert stats["index"]["model"] == "hash:256"
