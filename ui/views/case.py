"""Case: everything about one case and the actions its state allows."""

from __future__ import annotations

import re

import streamlit as st

from errors import KnownFixError
from service.cases import DELAY_REASONS, allowed_actions
from ui.i18n import error_text, fmt_time, t
from ui.render import md_escape, show_markdown
from ui.resources import desk
from ui.session import user
from ui.views.intake import show_triage
from ui.widgets import t_label, timeline


def render() -> None:
    me = user()
    cases = desk().cases
    st.header(t("case.header"))
    recent = [c.id for c in cases.list(limit=200)]
    wanted = st.query_params.get("id")
    if wanted:  # a notification's link: /case?id=CASE (service/notify/messages.py)
        st.session_state["case_id"] = wanted
        st.session_state.pop("case_select", None)  # the select box shows it
        del st.query_params["id"]
    current = st.session_state.get("case_id")
    options = ([current] if current and current not in recent else []) + recent
    if not options:
        st.info(t("case.none"))
        return
    case_id = st.selectbox(t("case.number"), options,
                           index=options.index(current) if current in options else 0,
                           key="case_select")
    st.session_state["case_id"] = case_id
    try:
        case = desk().queries.case(me, case_id)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    _facts(case)
    show_triage(me, case_id)
    _checklist(me, case)
    _records(case)
    _actions(me, case)
    st.subheader(t("case.timeline"))
    timeline(desk().queries.timeline(me, case.id))


def _facts(case) -> None:
    f = case.fields
    cols = st.columns(4)
    cols[0].metric(t("case.state"), t(f"state.{case.state}"))
    cols[1].metric(t("triage.severity"), case.severity or case.priority or "—")
    cols[2].metric(t("case.assignee"), f.get("assignee") or "—")
    cols[3].metric(t("case.due"), fmt_time(f.get("due_resolution")))
    st.markdown(f"**{t('intake.description')}:**")
    show_markdown(case.description)  # customer text (also from e-mail): no raw markdown
    facts = {t("intake.channel"): t(f"channel.{f['channel']}") if f.get("channel") else "—",
             t("intake.customer"): f.get("customer") or "—",
             t("intake.contact"): f.get("contact") or "—",
             t("intake.product"): f.get("product") or "—",
             t("intake.asset_model"): f.get("asset_model") or "—",
             t("intake.asset_serial"): f.get("asset_serial") or "—",
             t("case.received"): fmt_time(f.get("received_at")),
             t("intake.last_service"): fmt_time(f.get("last_service_at"))}
    st.table({t("case.field"): list(facts), t("case.value"): list(facts.values())})


def _checklist(me, case) -> None:
    """An article's steps as a checklist to walk the customer through (操作指导)."""
    found = desk().queries.checklist(me, case.id)
    if found is None:
        return
    st.subheader(t("case.checklist", title=found.title))
    for n, step in enumerate(found.steps):
        st.checkbox(step, key=f"step-{case.id}-{found.article_id}-{n}")


def _records(case) -> None:
    f = case.fields
    if f.get("escalation"):
        esc = f["escalation"]
        st.info(t("case.escalated_to", to=md_escape(esc.get("to")),
                  reason=md_escape(esc.get("reason"))))
    if f.get("delay"):
        st.warning(t("case.delayed", code=f["delay"]["code"],
                     note=md_escape(f["delay"].get("note", ""))))
    if f.get("dispatch"):
        d = {k: md_escape(v) if isinstance(v, str) else [md_escape(x) for x in v]
             for k, v in f["dispatch"].items()}
        st.markdown(f"**{t('dispatch.header')}:** {d['assignee']} · {d['planned_at']} · "
                    f"{d['place']} · {t('dispatch.tools')}: {', '.join(d['tools']) or '—'} · "
                    f"{t('dispatch.parts')}: {', '.join(d['parts']) or '—'}")
    if f.get("service_record"):
        r = f["service_record"]
        cause = md_escape(r.get("cause", ""))
        st.markdown(f"**{t('service.header')}:** {t('service.cause')}: {cause}")
        show_markdown(r.get("steps", ""))
    if case.fix:
        st.markdown(f"**{t('search.fix')}:**")
        show_markdown(case.fix)
    if f.get("satisfaction"):
        st.markdown(f"**{t('confirm.satisfaction')}:** {'★' * int(f['satisfaction'])} "
                    f"{f.get('satisfaction_comment') or ''}")
    if f.get("follow_up"):
        came = f["follow_up"]["came_back"]
        outcome = t("follow.came_back") if came else t("follow.ok")
        st.markdown(f"**{t('follow.header')}:** {outcome}")


def _do(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.rerun()


def _actions(me, case) -> None:
    cases = desk().cases
    allowed = allowed_actions(case, me)  # the state machine and the user's role
    st.subheader(t("case.actions"))
    if "start" in allowed and st.button(t("action.start"), key="act_start"):
        _do(cases.start, me, case.id)
    if "resolve" in allowed:
        with st.form("resolve_form"):
            fix = st.text_area(t("resolve.fix"), key="resolve_fix")
            cause = st.text_input(t("service.cause"), key="resolve_cause")
            labels, severity = _confirmation(me, case, "resolve")
            if st.form_submit_button(t("action.resolve"), type="primary"):
                _do(cases.resolve, me, case.id, fix, cause=cause, labels=labels,
                    severity=severity)
    if "dispatch" in allowed:
        with st.expander(t("dispatch.header")), st.form("dispatch_form"):
            who = st.text_input(t("case.assignee"), key="dispatch_who")
            when = st.text_input(t("dispatch.when"), key="dispatch_when",
                                 placeholder="2026-12-01T09:00:00Z")
            place = st.text_input(t("dispatch.place"), key="dispatch_place")
            tools = st.text_input(t("dispatch.tools"), key="dispatch_tools")
            parts = st.text_input(t("dispatch.parts"), key="dispatch_parts")
            if st.form_submit_button(t("action.dispatch")):
                _do(cases.dispatch, me, case.id, who, when, place, _list(tools),
                    _list(parts))
    if "service_record" in allowed:
        with st.expander(t("service.header")), st.form("service_form"):
            cause = st.text_input(t("service.cause"), key="service_cause")
            steps = st.text_area(t("service.steps"), key="service_steps")
            parts = st.text_input(t("dispatch.parts"), key="service_parts")
            result = st.text_input(t("service.result"), key="service_result")
            if st.form_submit_button(t("action.record")):
                _do(cases.record_service, me, case.id, cause, steps, _list(parts), result)
    if "delay" in allowed:
        with st.expander(t("delay.header")):
            code = st.selectbox(t("delay.code"), list(DELAY_REASONS),
                                format_func=lambda c: f"{c} · {t('delay.' + c)}", key="delay_code")
            note = st.text_input(t("delay.note"), key="delay_note")
            if st.button(t("action.delay"), key="act_delay"):
                _do(cases.set_delay, me, case.id, code, note)
    if "confirm" in allowed:
        with st.form("confirm_form"):
            score = st.slider(t("confirm.satisfaction"), 1, 5, 5, key="confirm_score")
            comment = st.text_input(t("confirm.comment"), key="confirm_comment")
            if st.form_submit_button(t("action.confirm")):
                _do(cases.confirm, me, case.id, score, comment)
    if "close" in allowed:
        unconfirmed = _unconfirmed(case)
        if not unconfirmed:
            if st.button(t("action.close"), key="act_close", type="primary"):
                _do(cases.close, me, case.id)
        else:
            with st.form("close_form"):
                st.caption(t("close.confirm_open"))
                labels, severity = _confirmation(me, case, "close", only=unconfirmed)
                if st.form_submit_button(t("action.close"), type="primary"):
                    _do(cases.close, me, case.id, labels=labels, severity=severity)
    if "follow_up" in allowed:
        c1, c2 = st.columns(2)
        if c1.button(t("follow.ok"), key="act_follow_ok"):
            _do(cases.follow_up, me, case.id, False)
        if c2.button(t("follow.came_back"), key="act_follow_back"):
            _do(cases.follow_up, me, case.id, True)


def _unconfirmed(case) -> list[str]:
    """Predicted fields the case has no confirmed value for."""
    asked = desk().cases.predictions(case)
    return [n for n, p in asked.items() if p["predicted"] and
            not (case.severity if n == "severity" else case.labels.get(n))]


def _confirmation(me, case, form: str, only: list[str] | None = None
                  ) -> tuple[dict[str, str], str | None]:
    """Inside a form: one choice per label field and the severity, pre-filled with the
    confirmed value or triage's prediction; choosing 'leave unconfirmed' keeps a field
    out.  Returns (labels, severity) as chosen."""
    asked = desk().cases.predictions(case)
    names = [n for n in asked if only is None or n in only]
    if not names:
        return {}, None
    st.markdown(f"**{t('resolve.confirm_header')}**")
    st.caption(t("resolve.confirm_help"))
    values = desk().lookup.label_fields(me)  # each field's known values, and "severity"
    chosen: dict[str, str] = {}
    cols = st.columns(min(len(names), 4))
    for n, name in enumerate(names):
        p = asked[name]
        known = values.get(name, [])
        options = ["", *dict.fromkeys([*([p["value"]] if p["value"] else []), *known])]
        pick = cols[n % len(cols)].selectbox(
            t("triage.severity") if name == "severity" else t_label(name), options,
            index=options.index(p["value"]) if p["value"] in options else 0,
            format_func=lambda v: v or t("resolve.unset"),
            help=t("resolve.predicted", value=p["predicted"] or "—"),
            key=f"{form}_confirm_{name}")
        if pick:
            chosen[name] = pick
    severity = chosen.pop("severity", None)
    return chosen, severity


def _list(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,，;；]", text or "") if p.strip()]
