"""Queue: my cases — assigned to me, escalated to me, taken in by me — my team's and
all, each a tab with its count; overdue and at-risk first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from service.cases import OPEN_STATES, STATES
from ui.i18n import fmt_time, t, value_name
from ui.resources import desk
from ui.session import user
from ui.widgets import person

_ORDER = {"overdue": 0, "at_risk": 1, "ok": 2}


def render() -> None:
    me = user()
    cases = desk().cases
    st.header(t("queue.header"))
    c1, c2, c3 = st.columns(3)
    states = c1.multiselect(t("case.state"), STATES, default=sorted(OPEN_STATES),
                            format_func=lambda s: t(f"state.{s}"), key="queue_states",
                            placeholder=t("queue.any"))
    levels = c2.multiselect(t("triage.severity"), desk().engine.settings.levels,
                            format_func=lambda lv: value_name("severity", lv),
                            key="queue_levels", placeholder=t("queue.any"))
    deadline = c3.multiselect(t("queue.deadline"), list(_ORDER),
                              format_func=lambda d: t(f"deadline.{d}"), key="queue_deadline",
                              placeholder=t("queue.any"))
    wanted = set(states) or None
    views = {
        "mine": (t("queue.mine"), cases.list(wanted, assignee=me.username)),
        "escalated": (t("queue.escalated"), cases.list(wanted, escalated_to=me.username)),
        "opened": (t("queue.opened"), cases.list(wanted, opened_by=me.username)),
        "team": (t("queue.team"), cases.list(wanted, team=me.team) if me.team else []),
        "all": (t("queue.all"), cases.list(wanted)),
    }
    rows = {name: _rows(found, levels, deadline) for name, (_title, found) in views.items()}
    tabs = st.tabs([f"{title} ({len(rows[name])})" for name, (title, _found) in views.items()])
    for tab, name in zip(tabs, views, strict=True):
        with tab:
            _table(name, rows[name])


def _rows(found: list, levels: list[str], deadline: list[str]) -> list[dict]:
    cases, rows = desk().cases, []
    for c in found:
        status = cases.deadline_status(c)
        level = c.severity or c.priority
        if (levels and level not in levels) or (deadline and status not in deadline):
            continue
        rows.append({"_order": _ORDER[status], t("case.number"): c.id,
                     t("queue.deadline"): t(f"deadline.{status}"),
                     t("triage.severity"): value_name("severity", level),
                     t("case.state"): t(f"state.{c.state}"),
                     t("intake.title"): c.title or c.description[:60],
                     t("case.assignee"): person(c.fields.get("assignee")),
                     t("case.due"): fmt_time(c.fields.get("due_resolution"))})
    return rows


def _table(name: str, rows: list[dict]) -> None:
    """One view's cases; picking a row opens the case page."""
    if not rows:
        st.info(t("queue.empty"))
        return
    frame = pd.DataFrame(rows).sort_values("_order", kind="stable").drop(columns="_order")
    picked = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key=f"queue_table_{name}")
    selected = picked.selection.rows if picked else []
    if selected:
        st.session_state["case_id"] = frame.iloc[selected[0]][t("case.number")]
        st.switch_page(st.session_state["pages"]["case"])
