"""Maintenance plans (定期维护; managers and admins): every plan with its next due date,
then adding one, and changing, pausing or resuming one.  service/maintenance.py does
the work; due dates are days on the team's clock (the `timezone` setting), on which
the plans run."""

from __future__ import annotations

from datetime import date

import streamlit as st

from errors import KnownFixError, NotFound
from service.maintenance import UNITS, Plan
from ui.actions import redraw, show_flash
from ui.i18n import error_text, lang, t, zone_label
from ui.resources import desk
from ui.session import require_page
from ui.widgets import dash, person, pick_person


def render() -> None:
    me = require_page("plans")
    st.header(t("plans.header"))
    st.caption(t("plans.caption", zone=zone_label(desk().engine.settings.zone_name)))
    show_flash()
    plans = desk().maintenance.list(me)
    if plans:
        st.dataframe(dash([_row(p) for p in plans]), hide_index=True)
    else:
        st.info(t("plans.none"))
    add, change = st.tabs([t("plans.add"), t("plans.edit")])
    with add:
        _add(me)
    with change:
        _change(me, plans)


def _row(p: Plan) -> dict:
    return {t("plans.number"): p.id,
            t("plans.state"): t("plans.active") if p.active else t("plans.paused"),
            t("plans.next_due"): _day(p.next_due), t("plans.every"): _every(p),
            t("plans.for"): _whom(p), t("plans.who"): _who(p), t("plans.title"): p.title}


def _day(value: str) -> str:
    """An ISO date as the language writes it."""
    day = date.fromisoformat(value)
    return f"{day:%Y年%m月%d日}" if lang() == "zh" else f"{day:%d %b %Y}"


def _every(p: Plan) -> str:
    return t("plans.every_n", n=p.every, unit=t(f"unit.{p.unit}"))


def _whom(p: Plan) -> str:
    """The plan's asset (model and serial) and customer, by name where the records
    still hold them."""
    parts = []
    try:
        if p.customer_id:
            parts.append(desk().customers.customer(p.customer_id).name)
        if p.asset_id:
            asset = desk().customers.asset(p.asset_id)
            parts.append(" ".join(x for x in (asset.model, asset.serial) if x) or asset.id)
    except NotFound:
        parts.append(p.asset_id or p.customer_id or "")
    return " · ".join(parts)


def _who(p: Plan) -> str:
    named = person(p.assignee) if p.assignee else ""
    team = t("plans.team_named", team=p.team) if p.team else ""
    return " · ".join(x for x in (named, team) if x) or "—"


def _add(me) -> None:
    with st.form("plan_add"):
        c1, c2 = st.columns(2)
        asset = c1.text_input(t("plans.asset"), key="pa_asset", help=t("plans.asset_help"))
        customer = c2.text_input(t("plans.customer"), key="pa_customer",
                                 help=t("plans.customer_help"))
        title = st.text_input(t("plans.title"), key="pa_title")
        work = st.text_area(t("plans.work"), key="pa_work")
        c3, c4, c5 = st.columns(3)
        every = c3.number_input(t("plans.every"), min_value=1, value=1, step=1, key="pa_every")
        unit = c4.selectbox(t("plans.unit"), UNITS, index=1, key="pa_unit",
                            format_func=lambda u: t(f"unit.{u}"))
        start = c5.date_input(t("plans.start"), value=None, key="pa_start")
        c6, c7 = st.columns(2)
        with c6:
            who = pick_person("maintenance", t("plans.assignee"), "pa_assignee")
        team = c7.text_input(t("plans.team"), key="pa_team")
        if st.form_submit_button(t("plans.add_submit")):
            try:
                plan = desk().maintenance.add(me, title, work, int(every), unit,
                                              start or "", asset, customer, who, team)
            except KnownFixError as exc:
                st.error(error_text(exc))
            else:
                redraw(t("plans.added", id=plan.id))


def _change(me, plans: list[Plan]) -> None:
    if not plans:
        st.info(t("plans.none"))
        return
    by_id = {p.id: p for p in plans}
    chosen = st.selectbox(t("plans.pick"), list(by_id), key="pe_plan",
                          format_func=lambda i: f"{i} · {by_id[i].title}")
    p = by_id[chosen]
    k = f"pe_{p.id}"  # each plan's own widgets: switching plans shows its values
    with st.form(f"plan_edit_{p.id}"):
        title = st.text_input(t("plans.title"), p.title, key=f"{k}_title")
        work = st.text_area(t("plans.work"), p.work, key=f"{k}_work")
        c1, c2, c3 = st.columns(3)
        every = c1.number_input(t("plans.every"), min_value=1, value=p.every, step=1,
                                key=f"{k}_every")
        unit = c2.selectbox(t("plans.unit"), UNITS, index=UNITS.index(p.unit),
                            format_func=lambda u: t(f"unit.{u}"), key=f"{k}_unit")
        due = c3.date_input(t("plans.next_due"), date.fromisoformat(p.next_due),
                            key=f"{k}_due")
        c4, c5 = st.columns(2)
        with c4:
            who = pick_person("maintenance", t("plans.assignee"), f"{k}_assignee", p.assignee)
        team = c5.text_input(t("plans.team"), p.team, key=f"{k}_team")
        if st.form_submit_button(t("plans.save")):
            _try(lambda: desk().maintenance.edit(me, p.id, title, work, int(every), unit,
                                                 due, who, team),
                 t("plans.saved", id=p.id))
    if p.active:
        if st.button(t("plans.pause"), key=f"{k}_pause"):
            _try(lambda: desk().maintenance.set_active(me, p.id, False),
                 t("plans.paused_done", id=p.id))
    elif st.button(t("plans.resume"), key=f"{k}_resume"):
        _try(lambda: desk().maintenance.set_active(me, p.id, True),
             t("plans.resumed", id=p.id))


def _try(change, said: str) -> None:
    try:
        change()
    except KnownFixError as exc:
        st.error(error_text(exc))
    else:
        redraw(said)
