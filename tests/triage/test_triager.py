"""triage/triager.py and triage/learner.py: labels, severity, known fixes, escalation."""

from __future__ import annotations

import json

import pytest

from errors import BadInput, UnknownLabel
from kb.records import Record
from service.engine import Engine
from triage.learner import SYNC_FIT_SECONDS
from triage.triager import Triager


def triager(engine: Engine, **changes) -> Triager:
    return Triager(engine.kb, engine._index, engine.settings.with_(**changes))


@pytest.mark.parametrize(("text", "first", "category", "component"), [
    ("NVR提示硬盘错误，回放查不到录像", "case:C1", "storage", "nvr"),
    ("camera offline, ip conflict", "case:C4", "network", "camera"),
    ("平台授权到期E-1043", "case:C5", "licence", "server"),
    ("Client installer fails: 0x8007045D", "case:C8", "software", "client"),
    ("机房UPS冒烟", "article:A1", "power", "ups"),
])
def test_triage_finds_the_known_fix_and_labels(small_engine, text, first, category, component):
    result = small_engine.triage(text)
    assert result.matches[0].key == first
    assert result.labels["category"].value == category
    assert result.labels["component"].value == component
    best = result.matches[0]
    assert best.matched, "the words that matched are shown"
    assert best.fix == small_engine.kb.get(best.kind, best.id).fix


def test_result_shape(small_engine):
    result = small_engine.triage("NVR硬盘错误")
    assert set(result.labels) == {"category", "component"}
    for pred in result.labels.values():
        assert 0.0 <= pred.confidence <= 1.0
        probs = [p for _, p in pred.alternatives]
        assert probs == sorted(probs, reverse=True)
        assert pred.alternatives[0] == (pred.value, pred.confidence)
        assert sum(probs) <= 1.0 + 1e-6
    assert 0 < len(result.matches) <= small_engine.settings.top_k
    assert len({m.key for m in result.matches}) == len(result.matches)
    assert result.severity in small_engine.settings.levels
    assert set(result.timings_ms) == {"prepare", "encode", "rest"}
    json.dumps(result.to_dict(), ensure_ascii=False)


def test_severity_is_learned_from_history(small_engine):
    assert small_engine.triage("客户端安装报错0x8007045D").severity == "low"
    assert small_engine.triage("NVR提示硬盘错误，录像回放查不到").severity == "high"


def test_a_severity_rule_lifts_the_learned_level(small_engine):
    result = small_engine.triage("客户端安装报错0x8007045D，现在全部用户无法访问平台")
    assert result.severity == "critical"
    assert "全部用户" in result.severity_reason or "无法访问" in result.severity_reason


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_description_is_refused(small_engine, text):
    with pytest.raises(BadInput, match="empty"):
        small_engine.triage(text)


def test_unknown_field_is_refused(small_engine):
    with pytest.raises(UnknownLabel, match="colour"):
        small_engine.triage("NVR硬盘错误", colour="red")


def test_context_fields_join_the_description(small_engine):
    result = small_engine.triage("报警灯常亮", product="NVR-4216", title="硬盘错误")
    assert "NVR-4216" in result.text and "硬盘错误" in result.text
    assert result.matches[0].key == "case:C1"


def test_a_given_label_is_kept_and_not_escalated_for(small_engine):
    t = triager(small_engine, confidence_threshold=1.0)
    result = t.run("NVR硬盘错误", category="network")
    assert result.labels["category"].value == "network"
    assert result.labels["category"].given and result.labels["category"].confidence == 1.0
    assert not any("for category" in r for r in result.escalation.reasons)
    assert any("for component" in r for r in result.escalation.reasons)


def test_exclude_leaves_the_case_itself_out(small_engine):
    result = small_engine.triage("NVR提示硬盘错误，录像回放查不到", exclude="case:C1")
    assert "case:C1" not in [m.key for m in result.matches]


@pytest.mark.parametrize(("kind", "state", "offered"), [
    ("case", "closed", True),
    ("case", "resolved", True),
    ("case", None, True),
    ("case", "new", False),
    ("case", "in_progress", False),
    ("article", "validated", True),
    ("article", "archived", False),
])
def test_only_settled_records_are_offered_as_known_fixes(small_engine, kind, state, offered):
    small_engine.upsert([Record(kind, "X", text="门禁认证成功但门不开，锁控线松脱",
                                fix="重新接线", state=state)])
    keys = [m.key for m in small_engine.triage("门禁认证成功但门不开").matches]
    assert (f"{kind}:X" in keys) is offered


@pytest.mark.parametrize(("changes", "text", "kind", "reason"), [
    ({"match_threshold": 1.0}, "NVR硬盘错误", "no confident", "no confident known fix"),
    ({"escalate_at_severity": "critical"}, "机房UPS冒烟", "severity",
     "severity critical is at or above critical"),
    ({"escalate_at_severity": "high"}, "NVR提示硬盘错误，录像回放查不到", "severity",
     "severity high is at or above high"),
    ({"confidence_threshold": 1.0}, "NVR硬盘错误", "low confidence", "low confidence for category"),
])
def test_each_escalation_reason(small_engine, changes, text, kind, reason):
    calm = {"match_threshold": 0.0, "confidence_threshold": 0.0, "escalate_at_severity": ""}
    result = triager(small_engine, **{**calm, **changes}).run(text)
    assert result.escalation.escalate
    assert all(r.startswith(kind) for r in result.escalation.reasons)
    assert any(r.startswith(reason) for r in result.escalation.reasons)


def test_no_escalation_when_nothing_calls_for_it(small_engine):
    t = triager(small_engine, match_threshold=0.0, confidence_threshold=0.0,
                escalate_at_severity="")
    result = t.run("机房UPS冒烟")
    assert result.severity == "critical"
    assert (result.escalation.escalate, result.escalation.reasons) == (False, [])


def test_severity_below_the_escalation_level_is_not_a_reason(small_engine):
    result = triager(small_engine, escalate_at_severity="critical").run("客户端安装报错0x8007045D")
    assert not any(r.startswith("severity") for r in result.escalation.reasons)


def test_unrelated_text_is_escalated_for_lack_of_a_match(small_engine):
    result = small_engine.triage("食堂的咖啡机不出水 xyz")
    assert result.escalation.escalate
    assert any(r.startswith("no confident known fix") for r in result.escalation.reasons)


def test_day_one_empty_knowledge_base(engine):
    result = engine.triage("平台服务器宕机，全部用户无法登录")
    assert result.matches == [] and result.labels == {}
    assert result.severity == "critical" and result.severity_reason.startswith("rule:")
    assert result.escalation.escalate


def test_day_one_articles_without_labels(engine):
    engine.upsert([Record("article", "A", title="UPS冒烟应急处理", text="UPS冒烟、焦糊味",
                          fix="断电", state="validated")])
    result = engine.triage("UPS冒烟了")
    assert result.matches[0].key == "article:A"
    assert result.labels == {}
    assert result.severity == "critical"


def test_a_newly_closed_case_counts_at_once(small_engine):
    text = "门禁控制器时间错乱，夜班员工刷卡打不开门"
    before = small_engine.triage(text)
    assert before.labels["category"].value != "access-control"
    small_engine.upsert([
        Record("case", "N1", text=text, fix="校准控制器时间并开启NTP同步",
               labels={"category": "access-control", "component": "terminal"},
               severity="medium", state="closed"),
        Record("case", "N2", text="Door controller clock wrong, night shift cards refused",
               fix="Set NTP on the controller",
               labels={"category": "access-control", "component": "terminal"},
               severity="medium", state="closed"),
    ])
    after = small_engine.triage(text)
    assert after.matches[0].key == "case:N1"
    assert after.labels["category"].value == "access-control"
    assert after.labels["component"].value == "terminal"


def test_matches_follow_the_score_without_label_boost(small_engine):
    result = triager(small_engine, label_boost=0.0).run("NVR camera 硬盘 offline")
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)


def test_learner_retrains_only_when_labels_change(small_engine):
    learner = small_engine._triage_with().learner
    first = learner.current()
    assert learner.current() is first
    small_engine.upsert([Record("case", "C9", text="新摄像机画面偏紫", labels={"category": "video"},
                                state="closed")])
    learner.fit_seconds = 0.0  # a quick training (however busy this machine is): in-request
    second = learner.current()
    assert second is not first
    assert second.version == small_engine.kb.label_version
    assert "video" in second.classifiers["category"].classes


def test_a_slow_training_moves_the_next_one_to_the_background(small_engine):
    """Below sync_retrain_max, but the last training took longer than SYNC_FIT_SECONDS:
    the next retrain must not hold the request (and the engine's lock) for that long."""
    t = triager(small_engine)
    first = t.learner.current()
    t.learner.fit_seconds = SYNC_FIT_SECONDS + 1  # as if it had taken that long
    small_engine.upsert([Record("case", "C9", text="新摄像机画面偏紫", labels={"category": "video"},
                                state="closed")])
    assert t.learner.current() is first  # the old models answer meanwhile
    t.learner.wait()
    assert "video" in t.learner.current().classifiers["category"].classes


def test_big_knowledge_base_retrains_in_the_background(small_engine):
    t = triager(small_engine, sync_retrain_max=0)
    first = t.learner.current()  # nothing trained yet: trains now
    assert first.version == small_engine.kb.label_version
    small_engine.upsert([Record("case", "C9", text="新摄像机画面偏紫", labels={"category": "video"},
                                state="closed")])
    assert t.learner.current() is first  # the old models answer meanwhile
    t.learner.wait()
    fresh = t.learner.current()
    assert fresh.version == small_engine.kb.label_version
    assert "video" in fresh.classifiers["category"].classes
