"""Display pieces shared by pages."""

from __future__ import annotations

import html

import streamlit as st

from triage.stored import StoredTriage
from ui.i18n import fmt_time, t
from ui.render import highlight


def fix_card(key: str, title: str, fix: str, score: float, matched: list[str],
             actions: bool = False, case_id: str | None = None, on_action=None) -> None:
    """One known fix: title, score, why it matched, its resolution; optional buttons."""
    kind = t("kind.article") if key.startswith("article:") else t("kind.case")
    with st.container(border=True):
        st.markdown(f"**{html.escape(title)}** · {kind} `{html.escape(key.split(':', 1)[1])}`")
        st.progress(min(max(score, 0.0), 1.0), text=f"{t('search.score')} {score:.2f}")
        st.caption(f"{t('search.matched')}: " + (", ".join(matched) or t("search.meaning")))
        if fix:
            st.markdown(f"**{t('search.fix')}:** " + highlight(fix, matched).replace("\n", "<br>"),
                        unsafe_allow_html=True)
        if actions and on_action:
            left, right = st.columns(2)
            if left.button(t("fix.used"), key=f"used-{case_id}-{key}", type="primary"):
                on_action(key, True)
            if right.button(t("fix.not_helpful"), key=f"nh-{case_id}-{key}"):
                on_action(key, False)


def triage_summary(tri: StoredTriage | None, severity: str | None) -> None:
    """Predicted labels with confidence, severity (the case's priority) with the reason
    for it, escalation advice."""
    labels = tri.labels if tri else {}
    cols = st.columns(max(len(labels) + 1, 2))
    for col, (name, pred) in zip(cols, labels.items(), strict=False):
        col.metric(t_label(name), pred.value or "—", f"{pred.confidence:.0%}",
                   delta_color="off")
    cols[len(labels)].metric(t("triage.severity"), severity or "—")
    st.caption(f"{t('triage.severity')}: {tri.severity_reason if tri else '—'}")
    if tri and tri.escalate:
        st.warning(f"{t('triage.escalate')}: " + "; ".join(tri.reasons))
    else:
        st.success(t("triage.no_escalate"))


def t_label(name: str) -> str:
    key = f"label.{name}"
    try:
        return t(key)
    except KeyError:
        return name


def timeline(events: list[dict]) -> None:
    for ev in events:
        st.markdown(f"- `{fmt_time(ev['at'])}` **{html.escape(ev['actor'])}** "
                    f"{html.escape(t_action(ev['action']))}")


def t_action(action: str) -> str:
    try:
        return t(f"event.{action}")
    except KeyError:
        return action
