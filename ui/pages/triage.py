"""Triage page: a new fault description → labels, severity, known fixes, escalation."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from ui.i18n import t
from ui.resources import engine
from ui.widgets import fix_card


def render() -> None:
    st.header(t("triage.header"))
    with st.form("triage_form"):
        text = st.text_area(t("triage.text"), key="triage_text", height=120)
        submitted = st.form_submit_button(t("triage.run"))
    if not submitted:
        return
    if not text.strip():
        st.error(t("error.empty"))
        return
    try:
        result = engine().triage(text)
    except KnownFixError as exc:
        st.error(str(exc))
        return
    cols = st.columns(len(result.labels) + 1 or 1)
    for col, (name, pred) in zip(cols, result.labels.items(), strict=False):
        col.metric(name, pred.value or "—", f"{pred.confidence:.0%}", delta_color="off")
    cols[-1].metric(t("triage.severity"), result.severity or "—")
    st.caption(f"{t('triage.severity')}: {result.severity_reason}")
    if result.escalation.escalate:
        st.warning(f"{t('triage.escalate')}: " + "; ".join(result.escalation.reasons))
    else:
        st.success(t("triage.no_escalate"))
    st.subheader(t("triage.fixes"))
    for m in result.matches:
        fix_card(m.key, m.title, m.fix, m.score, m.matched)
