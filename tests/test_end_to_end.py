"""End to end with the real bundled model: import the demo KB, triage new wordings of known
faults in Chinese and in English, and get a known fix for that same fault first."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import ModelMismatch
from indexer.encoder import BUNDLED, HashEncoder
from indexer.index import Index
from service.demo import DEMO_DIR

pytestmark = pytest.mark.model

# Each query says the fault in words of its own; `fixes` are the demo records (cases and
# articles) that describe that same fault.
PARAPHRASES = [
    pytest.param("半球摄像机白天图像清楚，晚上画面发白像起雾一样，人脸看不清",
                 {"case:DEMO-C-016", "case:DEMO-C-017", "article:DEMO-A-10"}, "video",
                 id="zh-dome-white-at-night"),
    pytest.param("值班员多次输错登录密码，录像机提示账户被锁，大家都进不去了",
                 {"case:DEMO-C-007", "case:DEMO-C-008", "article:DEMO-A-07"}, "licence-login",
                 id="zh-account-locked"),
    pytest.param("At night the dome camera picture turns milky white and foggy, "
                 "during the day it looks fine",
                 {"case:DEMO-C-016", "case:DEMO-C-017", "article:DEMO-A-10"}, "video",
                 id="en-dome-white-at-night"),
    pytest.param("A guard typed the wrong password several times and now the recorder "
                 "says the user is locked",
                 {"case:DEMO-C-007", "case:DEMO-C-008", "article:DEMO-A-07"}, "licence-login",
                 id="en-account-locked"),
]


def demo_texts() -> list[str]:
    texts = []
    for name in ("cases.jsonl", "articles.jsonl"):
        for line in (DEMO_DIR / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row["title"], row.get("description") or row.get("symptoms", "")]
    return texts


def test_demo_kb_is_loaded_with_the_bundled_model(demo_engine):
    counts = demo_engine.kb.counts()
    assert (counts["case"], counts["article"]) == (84, 30)
    assert demo_engine.encoder.name == BUNDLED and demo_engine.encoder.dim == 384
    manifest = demo_engine._index.read_manifest()
    assert (manifest["model"], manifest["dim"], manifest["backend"]) == (BUNDLED, 384, "faiss")


@pytest.mark.parametrize(("query", "fixes", "category"), PARAPHRASES)
def test_the_right_known_fix_comes_first(demo_engine, query, fixes, category):
    assert all(query not in text and text not in query for text in demo_texts())
    result = demo_engine.triage(query)
    assert result.matches[0].key in fixes, [(m.key, m.title) for m in result.matches]
    assert result.matches[0].fix
    assert result.labels["category"].value == category


def test_an_error_code_finds_its_fix_across_languages(demo_engine):
    result = demo_engine.triage("新装的工作站上客户端安装失败，提示0x8007045D")
    assert result.matches[0].key in {"article:DEMO-A-29", "case:DEMO-C-045", "case:DEMO-C-046"}
    assert "0x8007045d" in result.matches[0].matched


def test_critical_fault_is_rated_and_escalated(demo_engine):
    result = demo_engine.triage("机房UPS冒烟了，还有焦糊味，监控全部停运")
    assert result.severity == "critical"
    assert any(r.startswith("severity critical") for r in result.escalation.reasons)


def test_the_index_refuses_another_model_of_the_same_size(demo_engine):
    with pytest.raises(ModelMismatch, match="knownfix reindex"):
        Index.open(demo_engine.settings.index_dir, HashEncoder(384), "faiss")


def test_cli_import_then_triage_with_the_real_model(tmp_path):
    """The user's path: `knownfix import` a file, then `knownfix triage --json`."""
    data = str(tmp_path / "data")
    runner = CliRunner()
    imported = runner.invoke(app, [
        "import", str(DEMO_DIR / "cases.jsonl"), "--text", "description", "--title", "title",
        "--fix", "resolution", "--label", "category=category", "--label", "component=component",
        "--severity", "severity", "--id", "id", "--data-dir", data])
    assert imported.exit_code == 0, imported.output
    assert "imported 84 cases, rejected 0 rows" in imported.stdout
    result = runner.invoke(app, ["triage", "The NVR has stopped saving new video because the "
                                 "hard drives are full", "--json", "--data-dir", data])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["matches"][0]["key"] == "case:DEMO-C-029"
    assert out["labels"]["category"]["value"] == "storage"


# The same fault said in Chinese and in English, for faults the demo KB holds in both
# languages: triage reaches the same category and severity for both wordings.
SAME_FAULT = [
    ("NVR提示硬盘错误，录像回放查不到", "NVR shows an HDD error and playback finds no recordings"),
    ("仓库摄像机每天掉线几次，查下来是IP地址冲突",
     "Warehouse camera drops offline several times a day, IP address conflict"),
    ("平台授权到期，新增的摄像机加不进去",
     "The platform licence has expired and new cameras cannot be added"),
    ("机房UPS冒烟，有焦糊味", "The UPS in the server room is smoking and smells burnt"),
    ("夜间摄像机画面全黑", "The camera image is completely black at night"),
    ("交换机换了以后摄像机全部离线", "After replacing the switch all cameras are offline"),
]


@pytest.mark.parametrize(("zh", "en"), SAME_FAULT, ids=[p[1][:24] for p in SAME_FAULT])
def test_the_same_fault_in_chinese_and_english_gets_the_same_triage(demo_engine, zh, en):
    a, b = demo_engine.triage(zh), demo_engine.triage(en)
    assert a.labels["category"].value == b.labels["category"].value
    assert a.severity == b.severity


def test_matched_words_shown_are_not_fillers(demo_engine):
    result = demo_engine.triage("录像机重启后还是查不到录像，一直提示硬盘错误")
    shown = {w for m in result.matches for w in m.matched}
    assert shown, "the words that matched are shown"
    assert not shown & {"后", "不到", "还是", "一直", "是", "的"}
    assert all(len(w) > 1 for w in shown if "\u4e00" <= w[0] <= "\u9fff")
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True), "the list is in the order of its scores"


def test_a_product_name_does_not_outrank_the_symptoms(demo_engine):
    """An NVR power fault, typed with the product 网络硬盘录像机 ('network hard-disk
    recorder'): the product's 硬盘 must not pull the disk articles first."""
    result = demo_engine.triage("录像机电源灯不亮，按开关没有反应，风扇也不转",
                                product="网络硬盘录像机")
    assert result.matches[0].labels.get("category") != "storage"
