"""Queue: my cases — assigned to me, escalated to me, taken in by me — my team's and
all, each a tab with its count; overdue and at-risk first.  Faults and scheduled
maintenance are told apart (a column, and a filter)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from service.cases import OPEN_STATES, STATES, WORK_TYPES
from service.queries import DEADLINE_ORDER, QUEUE_VIEWS
from ui.i18n import fmt_time, t, value_name
from ui.resources import desk
from ui.session import user
from ui.widgets import PER_PAGE, paged, pager, person, turn_page


def render() -> None:
    me = user()
    st.header(t("queue.header"))
    c1, c2, c3, c4 = st.columns(4)
    filters = {"placeholder": t("queue.any"), "on_change": _first_pages}
    states = c1.multiselect(t("case.state"), STATES, default=sorted(OPEN_STATES),
                            format_func=lambda s: t(f"state.{s}"), key="queue_states",
                            **filters)
    levels = c2.multiselect(t("triage.severity"), desk().engine.settings.levels,
                            format_func=lambda lv: value_name("severity", lv),
                            key="queue_levels", **filters)
    deadline = c3.multiselect(t("queue.deadline"), list(DEADLINE_ORDER),
                              format_func=lambda d: t(f"deadline.{d}"), key="queue_deadline",
                              **filters)
    work = c4.selectbox(t("work.kind"), WORK_TYPES, index=None, format_func=_work,
                        key="queue_work", **filters)
    views = {"mine": t("queue.mine"), "escalated": t("queue.escalated"),
             "opened": t("queue.opened"), "team": t("queue.team"), "all": t("queue.all")}
    pages = {name: paged(f"queue_page_{name}", lambda offset, view=name: _page(
        me, view, tuple(states), tuple(levels), tuple(deadline), work or "", offset))
        for name in views}
    tabs = st.tabs([f"{title} ({pages[name][1]})" for name, title in views.items()])
    for tab, name in zip(tabs, views, strict=True):
        with tab:
            _table(name, _rows(pages[name][0]))
            pager(f"queue_page_{name}", pages[name][1])


def _first_pages() -> None:
    """The filters changed: every view back to its first page."""
    for name in QUEUE_VIEWS:
        turn_page(f"queue_page_{name}")


def _page(me, view: str, states: tuple[str, ...], levels: tuple[str, ...],
          deadline: tuple[str, ...], work: str, offset: int) -> tuple[list, int]:
    found = desk().queries.queue(me, view, states, levels, deadline, offset, PER_PAGE,
                                 work=work)
    return found.items, found.total


def _rows(found: list) -> list[dict]:
    cases = desk().cases
    return [{t("case.number"): c.id,
             t("queue.deadline"): t(f"deadline.{cases.deadline_status(c)}"),
             t("triage.severity"): value_name("severity", c.severity or c.priority),
             t("case.state"): t(f"state.{c.state}"),
             t("work.kind"): _work(c.fields.get("work_type") or WORK_TYPES[0]),
             t("intake.title"): c.title or c.description[:60],
             t("case.assignee"): person(c.fields.get("assignee")),
             t("case.due"): fmt_time(c.fields.get("due_resolution"))} for c in found]


def _work(kind: str) -> str:
    """A kind of work (fault, maintenance) as the catalogue names it."""
    return t(f"work.{kind}")


def _table(name: str, rows: list[dict]) -> None:
    """One view's page of cases; picking a row opens the case page."""
    if not rows:
        st.info(t("queue.empty"))
        return
    frame = pd.DataFrame(rows)
    picked = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key=f"queue_table_{name}")
    selected = picked.selection.rows if picked else []
    if selected:
        st.session_state["case_id"] = frame.iloc[selected[0]][t("case.number")]
        st.switch_page(st.session_state["pages"]["case"])
