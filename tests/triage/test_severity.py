"""triage/severity.py: keyword floors, the asymmetric-cost decision, and their combination."""

from __future__ import annotations

import pytest

from settings import Settings
from triage.severity import SeverityRules, decide, rate

LEVELS = ["low", "medium", "high", "critical"]
RULES = SeverityRules(LEVELS, Settings().rules)


@pytest.mark.parametrize(("text", "expected"), [
    ("监控机房UPS冒烟，有焦糊味", ("critical", "冒烟")),
    ("平台服务器宕机，全部用户无法登录", ("critical", "宕机")),
    ("Site down after the storm", ("critical", "site down")),
    ("SMOKE coming out of the recorder", ("critical", "smoke")),
    ("ＯＵＴＡＧＥ at the head office", ("critical", "outage")),  # full width
    ("B栋多台摄像机同时离线", ("high", "多台")),
    ("Many users report the client is slow", ("high", "many users")),
    ("The NVR is not recording since Monday", ("high", "not recording")),
    ("2号摄像机画面偏紫", None),
    ("One camera's image is blurry", None),
])
def test_keyword_floor(text, expected):
    assert RULES.floor(text) == expected


def test_the_most_severe_matching_rule_wins():
    assert RULES.floor("多台摄像机离线，随后整个机房停运")[0] == "critical"


def test_rules_on_a_chinese_scale():
    s = Settings(severity_levels="三级,二级,一级")
    rules = SeverityRules(s.levels, s.rules)
    assert rules.floor("监控平台宕机") == ("一级", "宕机")
    assert rules.floor("批量摄像机掉线") == ("二级", "批量")
    assert rules.floor("咨询如何改IP") is None


def test_rules_for_unknown_levels_and_blank_phrases_are_ignored():
    rules = SeverityRules(LEVELS, {"urgent": ["fire"], "high": ["", "  ", "多台"]})
    assert rules.floor("fire in the cabinet") is None
    assert rules.floor("any text at all") is None
    assert rules.floor("多台离线") == ("high", "多台")


@pytest.mark.parametrize(("probs", "expected"), [
    ({"low": 1.0}, "low"),
    ({"low": 0.7, "high": 0.3}, "low"),            # 0.3*2*2=1.2 under vs 0.7*2=1.4 over
    ({"low": 0.5, "critical": 0.5}, "critical"),  # 1.5 over beats 2.0 at "high"
    ({"medium": 0.5, "high": 0.5}, "high"),        # a tie goes up: under-rating costs more
    ({"medium": 0.6, "high": 0.4}, "high"),
    ({"medium": 0.7, "high": 0.3}, "medium"),
    ({"low": 0.25, "medium": 0.25, "high": 0.25, "critical": 0.25}, "high"),
    ({}, "low"),
])
def test_decide_prefers_over_rating_when_unsure(probs, expected):
    level, p = decide(LEVELS, probs)
    assert level == expected
    assert p == probs.get(expected, 0.0)


@pytest.mark.parametrize(("text", "probs", "level", "by_rule"), [
    # a rule lifts a low prediction
    ("UPS冒烟", {"low": 0.9, "medium": 0.1}, "critical", True),
    ("多台摄像机离线", {"medium": 1.0}, "high", True),
    # a rule never lowers a higher prediction
    ("多台摄像机离线", {"critical": 0.9, "high": 0.1}, "critical", False),
    ("多台摄像机离线", {"high": 1.0}, "high", False),
    # no rule: the learned level stands
    ("画面偏紫", {"medium": 0.8, "low": 0.2}, "medium", False),
    # no history: the rule alone, or nothing
    ("Smoke from the UPS", {}, "critical", True),
    ("画面偏紫", {}, None, False),
])
def test_rate_rules_only_raise(text, probs, level, by_rule):
    rating = rate(LEVELS, RULES, text, probs, evidence=12)
    assert rating.level == level
    if by_rule:
        assert rating.confidence == 1.0
        assert rating.reason.startswith("rule:") and rating.rule in rating.reason
    else:
        assert not rating.reason.startswith("rule:")


def test_rate_says_when_the_rule_agrees_and_when_there_is_no_history():
    agrees = rate(LEVELS, RULES, "多台离线", {"high": 1.0}, evidence=5)
    assert "agrees" in agrees.reason and agrees.rule == "多台"
    assert "5 rated records" in agrees.reason
    empty = rate(LEVELS, RULES, "画面偏紫", {}, evidence=0)
    assert (empty.level, empty.confidence) == (None, 0.0)
    assert "no rated history" in empty.reason
