"""The message catalogue: every piece of UI text in Chinese and English, in one place."""

from __future__ import annotations

import streamlit as st

LANGUAGES = {"zh": "中文", "en": "English"}

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"zh": "KnownFix 故障知识助手", "en": "KnownFix troubleshooting assistant"},
    "app.language": {"zh": "语言", "en": "Language"},
    "nav.search": {"zh": "知识检索", "en": "Search"},
    "nav.triage": {"zh": "故障分诊", "en": "Triage"},
    "search.header": {"zh": "检索已知解决方案", "en": "Search known fixes"},
    "search.query": {"zh": "故障现象、关键词或错误代码", "en": "Symptoms, words or an error code"},
    "search.placeholder": {"zh": "例如：NVR 硬盘错误 E-1043", "en": "e.g. NVR disk error E-1043"},
    "search.kind": {"zh": "范围", "en": "Scope"},
    "search.kind.all": {"zh": "全部", "en": "All"},
    "search.kind.article": {"zh": "解决方案文章", "en": "Articles"},
    "search.kind.case": {"zh": "历史工单", "en": "Past cases"},
    "search.none": {"zh": "没有找到匹配的解决方案。", "en": "No matching known fix."},
    "search.matched": {"zh": "匹配词", "en": "Matched"},
    "search.meaning": {"zh": "语义相近", "en": "similar meaning"},
    "search.fix": {"zh": "解决方法", "en": "Resolution"},
    "search.score": {"zh": "匹配度", "en": "Match"},
    "triage.header": {"zh": "新故障分诊", "en": "Triage a new fault"},
    "triage.text": {"zh": "故障表述", "en": "Fault description"},
    "triage.run": {"zh": "分诊", "en": "Triage"},
    "triage.labels": {"zh": "分类预测", "en": "Predicted labels"},
    "triage.severity": {"zh": "严重程度", "en": "Severity"},
    "triage.fixes": {"zh": "推荐的已知解决方案", "en": "Suggested known fixes"},
    "triage.escalate": {"zh": "建议升级", "en": "Escalate"},
    "triage.no_escalate": {"zh": "无需升级，可按推荐方案处理", "en": "No escalation needed"},
    "kind.case": {"zh": "工单", "en": "Case"},
    "kind.article": {"zh": "文章", "en": "Article"},
    "error.empty": {"zh": "请输入内容。", "en": "Please enter some text."},
}


def lang() -> str:
    return st.session_state.get("lang", "zh")


def t(key: str, **values: object) -> str:
    """The message `key` in the current language, with {placeholders} filled in."""
    text = MESSAGES[key][lang()]
    return text.format(**values) if values else text
