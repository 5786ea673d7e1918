"""ui/diff.py: an article version as text, and the diff between two versions."""

from __future__ import annotations

from ui.diff import unified, version_lines


def version(**kw) -> dict:
    return {"title": "NVR 硬盘报错", "text": "录像回放查不到",
            "fix": "1. 重新插拔硬盘\n2. 更换硬盘", "severity": "high",
            "labels": {"category": "storage"},
            "extra": {"cause": "硬盘坏道"}, **kw}


def test_a_version_reads_part_by_part_in_order_and_skips_empty_parts():
    lines = version_lines(version(), str.upper)
    assert lines[:2] == ["[TITLE]", "NVR 硬盘报错"]
    assert "[LABELS]" in lines and "category = storage" in lines
    assert lines.index("[CAUSE]") < lines.index("[FIX]")
    assert "[ENVIRONMENT]" not in lines  # no environment given
    assert lines[-3:] == ["1. 重新插拔硬盘", "2. 更换硬盘", ""]


def test_the_diff_shows_only_what_changed_and_keeps_markup_as_text():
    old = version_lines(version(), str)
    new = version_lines(version(fix="1. 重新插拔硬盘\n2. 更换<b>硬盘</b>并初始化"), str)
    diff = unified(old, new, "v1", "v2").splitlines()
    assert diff[:2] == ["--- v1", "+++ v2"]
    assert "-2. 更换硬盘" in diff and "+2. 更换<b>硬盘</b>并初始化" in diff
    assert not any(line.startswith(("-", "+")) and "录像回放" in line for line in diff)
    assert unified(old, old, "v1", "v1") == ""
