"""Queue: my cases, my team's cases, escalated to me — overdue and at-risk first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from service.cases import OPEN_STATES, STATES
from ui.i18n import fmt_time, t
from ui.resources import desk
from ui.session import user

_ORDER = {"overdue": 0, "at_risk": 1, "ok": 2}


def render() -> None:
    me = user()
    cases = desk().cases
    st.header(t("queue.header"))
    views = {"mine": t("queue.mine"), "team": t("queue.team"),
             "escalated": t("queue.escalated"), "all": t("queue.all")}
    view = st.segmented_control(t("queue.view"), list(views), format_func=views.get,
                                default="mine", key="queue_view") or "mine"
    c1, c2, c3 = st.columns(3)
    states = c1.multiselect(t("case.state"), STATES, default=sorted(OPEN_STATES),
                            format_func=lambda s: t(f"state.{s}"), key="queue_states")
    levels = c2.multiselect(t("triage.severity"), desk().engine.settings.levels,
                            key="queue_levels")
    deadline = c3.multiselect(t("queue.deadline"), list(_ORDER),
                              format_func=lambda d: t(f"deadline.{d}"), key="queue_deadline")
    if view == "mine":
        found = cases.list(set(states) or None, assignee=me.username)
    elif view == "team":
        found = cases.list(set(states) or None, team=me.team or None)
    elif view == "escalated":
        found = [c for c in cases.list({"escalated"}, assignee=me.username)]
    else:
        found = cases.list(set(states) or None)
    rows = []
    for c in found:
        status = cases.deadline_status(c)
        level = c.severity or c.priority
        if (levels and level not in levels) or (deadline and status not in deadline):
            continue
        rows.append({"_order": _ORDER[status], t("case.number"): c.id,
                     t("queue.deadline"): t(f"deadline.{status}"),
                     t("triage.severity"): level or "—", t("case.state"): t(f"state.{c.state}"),
                     t("intake.title"): c.title or c.description[:60],
                     t("case.assignee"): c.fields.get("assignee") or "—",
                     t("case.due"): fmt_time(c.fields.get("due_resolution"))})
    if not rows:
        st.info(t("queue.empty"))
        return
    frame = pd.DataFrame(rows).sort_values("_order", kind="stable").drop(columns="_order")
    picked = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key="queue_table")
    selected = picked.selection.rows if picked else []
    if selected:
        st.session_state["case_id"] = frame.iloc[selected[0]][t("case.number")]
        st.switch_page(st.session_state["pages"]["case"])
