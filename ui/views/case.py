"""Case: everything about one case and the actions its state allows."""

from __future__ import annotations

import re

import streamlit as st

from errors import KnownFixError
from service.auth import CUSTOMER, PERMISSIONS, ROLES
from service.cases import DELAY_REASONS, FOLLOW_UP_OUTCOMES, TRANSITIONS, allowed_actions
from service.customer_links import PURPOSES
from service.queries import Found
from ui.actions import act, drawn, pressed, show_flash
from ui.i18n import error_text, fmt_time, t, value_name
from ui.render import md_escape, show_markdown
from ui.resources import desk
from ui.session import user
from ui.views.article import open_editor
from ui.views.charges import billed_badge, case_charges
from ui.views.intake import show_triage
from ui.widgets import (
    PER_PAGE,
    paged,
    pager,
    person,
    pick_person,
    service_history,
    t_label,
    timeline,
    turn_page,
    warranty_badge,
    when_picker,
)


def render() -> None:
    me = user()
    st.header(t("case.header"))
    wanted = st.query_params.get("id")
    if wanted:  # a notification's link: /case?id=CASE (service/notify/messages.py)
        _open(wanted)
        del st.query_params["id"]
    case_id = _finder(me)
    if case_id is None:
        return
    try:
        seen = drawn("case", case_id)  # the version this user's last view showed
        case = desk().queries.case(me, case_id)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    show_flash()
    _facts(case)
    _equipment(me, case)
    billed_badge(me, case)
    show_triage(me, case_id, seen)
    _checklist(me, case)
    events = desk().queries.timeline(me, case.id)
    _records(case, events)
    case_charges(me, case, seen)
    _answers(me, case)
    _articles(me, case)
    _actions(me, case, seen)
    st.subheader(t("case.timeline"))
    timeline(events)


def _finder(me) -> str | None:
    """A search box over every case (number, customer, description), a page of what it
    finds, each a button that opens the case.  Returns the case to show: the one opened
    (none yet: the newest), unless a search is typed."""
    text = st.text_input(t("case.find"), key="case_q", placeholder=t("case.find_hint"),
                         on_change=turn_page, args=("case_q_page",))
    if not text.strip():
        current = st.session_state.get("case_id")
        if current is None:
            newest = desk().queries.find_cases(me, "", 0, 1).items
            current = newest[0].id if newest else None
        if current is None:
            st.info(t("case.none"))
        return current
    found, total = paged("case_q_page", lambda offset: _found(
        desk().queries.find_cases(me, text, offset, PER_PAGE)))
    if not total:
        st.info(t("case.found_none"))
    for case in found:
        f = case.fields
        label = " · ".join(p for p in (case.id, f.get("customer") or "",
                                       (case.title or case.description)[:60],
                                       t(f"state.{case.state}")) if p)
        st.button(md_escape(label), key=f"case_pick_{case.id}", type="tertiary", on_click=_open,
                  args=(case.id,))
    pager("case_q_page", total)
    return None


def _found(page: Found) -> tuple[list, int]:
    return page.items, page.total


def _open(case_id: str) -> None:
    """Show this case; the search box empties for the next search (also a callback)."""
    st.session_state.update(case_id=case_id, case_q="", case_q_page=0)


def _facts(case) -> None:
    f = case.fields
    cols = st.columns(4)
    cols[0].metric(t("case.state"), t(f"state.{case.state}"))
    cols[1].metric(t("triage.severity"), value_name("severity", case.severity or case.priority))
    cols[2].metric(t("case.assignee"), person(f.get("assignee")))
    cols[3].metric(t("case.due"), fmt_time(f.get("due_resolution")))
    st.markdown(f"**{t('intake.description')}:**")
    show_markdown(case.description)  # customer text (also from e-mail): no raw markdown
    facts = {t("work.kind"): t(f"work.{f.get('work_type') or 'fault'}"),  # or 定期维护
             t("intake.channel"): t(f"channel.{f['channel']}") if f.get("channel") else "—",
             t("intake.customer"): f.get("customer") or "—",
             t("intake.contact"): f.get("contact") or "—",
             t("intake.product"): f.get("product") or "—",
             t("intake.asset_model"): f.get("asset_model") or "—",
             t("intake.asset_serial"): f.get("asset_serial") or "—",
             t("case.received"): fmt_time(f.get("received_at")),
             t("intake.last_service"): fmt_time(f.get("last_service_at"))}
    st.table({t("case.field"): list(facts), t("case.value"): list(facts.values())})


def _equipment(me, case) -> None:
    """The asset the case is about (设备档案): its warranty, saying whether parts are
    free, and its earlier cases with their fixes."""
    if not case.fields.get("asset_id"):
        return
    asset, history = desk().customers.asset_card(me, case.fields["asset_id"])
    st.markdown(f"**{t('asset.header')}:** " + " · ".join(
        md_escape(p) for p in (asset.product, asset.model, asset.serial, asset.location) if p))
    warranty_badge(asset)
    with st.expander(t("asset.earlier", n=sum(h.case_id != case.id for h in history)),
                     expanded=True):
        service_history(history, but=case.id)


def _checklist(me, case) -> None:
    """An article's steps as a checklist to walk the customer through (操作指导)."""
    found = desk().queries.checklist(me, case.id)
    if found is None:
        return
    st.subheader(t("case.checklist", title=found.title))
    for n, step in enumerate(found.steps):
        st.checkbox(step, key=f"step-{case.id}-{found.article_id}-{n}")


def _records(case, events: list[dict]) -> None:
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
        when = md_escape(fmt_time(f["dispatch"].get("planned_at")))
        st.markdown(f"**{t('dispatch.header')}:** {d['assignee']} · {when} · "
                    f"{d['place']} · {t('dispatch.tools')}: {', '.join(d['tools']) or '—'} · "
                    f"{t('dispatch.parts')}: {', '.join(d['parts']) or '—'}")
    if f.get("service_record"):
        r = f["service_record"]
        cause = md_escape(r.get("cause", ""))
        st.markdown(f"**{t('service.header')}:** {t('service.cause')}: {cause}")
        show_markdown(r.get("steps", ""))
        if r.get("parts_used"):  # written as text before the parts catalogue
            parts = "、".join(md_escape(str(p)) for p in r["parts_used"])
            st.markdown(f"**{t('service.parts_text')}:** {parts}")
    if case.fix:
        st.markdown(f"**{t('search.fix')}:**")
        show_markdown(case.fix)
    if f.get("satisfaction"):
        st.markdown(f"**{t('confirm.satisfaction')}:** {'★' * int(f['satisfaction'])} "
                    f"{f.get('satisfaction_comment') or ''}")
    # every follow-up call (a case that came back may have had several), oldest first;
    # the case's own record of the last one where the log has none (imported history)
    calls = [{**ev["detail"], "by": ev["actor"], "at": ev["at"]} for ev in events
             if ev["action"] == "follow_up"] or ([f["follow_up"]] if f.get("follow_up") else [])
    for call in calls:
        # stored before outcomes existed: came back or not
        outcome = call.get("outcome") or ("came_back" if call.get("came_back") else "solved")
        said = t("follow.done", outcome=t(f"follow.outcome.{outcome}"),
                 who=md_escape(_who(call.get("by"))), at=fmt_time(call.get("at")))
        st.markdown(f"**{t('follow.header')}:** {said}")
        if call.get("note"):
            show_markdown(call["note"])


def _answers(me, case) -> None:
    """The customer's answers (by link or by phone), the links sent, and a fresh link to
    paste into a chat while the case waits for an answer (客户确认, 回访)."""
    links = desk().links
    answers, sent = links.answers(me, case.id), links.links(me, case.id)
    asks = [p for p in PURPOSES if p in allowed_actions(case, me)]
    if not (answers or sent or asks):
        return
    st.subheader(t("answer.header"))
    for a in answers:
        said = [] if a.worked is None else [
            t("answer.worked_yes") if a.worked else t("answer.worked_no")]
        if a.outcome:
            said.append(t(f"follow.outcome.{a.outcome}"))
        if a.rating:
            said.append("★" * a.rating)
        line = t("answer.line", at=fmt_time(a.at), question=t(f"answer.question.{a.purpose}"),
                 source=t(f"answer.source.{a.source}"))
        st.markdown(md_escape(" · ".join([line, *said])))
        if a.comment:
            show_markdown(a.comment)
    if not answers:
        st.caption(t("answer.none"))
    if sent:
        st.caption(t("answer.sent", n=len(sent), until=fmt_time(sent[-1].expires_at)))
    shown = f"answer_url_{case.id}"
    for purpose in asks:
        if st.button(t("answer.copy", question=t(f"answer.question.{purpose}")),
                     key=f"answer_copy_{purpose}", icon=":material/link:"):
            try:
                st.session_state[shown] = links.issue(me, case.id, purpose)[1]
            except KnownFixError as exc:
                st.error(error_text(exc))
    if st.session_state.get(shown) and asks:
        st.caption(t("answer.copy_help", days=desk().engine.settings.answer_link_days))
        st.code(st.session_state[shown], language=None)


def _articles(me, case) -> None:
    """The articles drafted from the case or used on it, each opening in the article
    editor (for users who may open the Knowledge page)."""
    if "knowledge" not in st.session_state.get("pages", {}):
        return
    ids = dict.fromkeys(lk["target"].partition(":")[2]
                        for lk in desk().queries.links(me, case.id)
                        if lk["relation"] in ("created-from", "used")
                        and lk["target"].startswith("article:"))
    if not ids:
        return
    st.markdown(f"**{t('kn.from_case')}**")
    for aid in ids:
        title = desk().knowledge.get(aid).title
        if st.button(f"{aid} · {title} · {t('kn.edit')}", key=f"case_article_{aid}",
                     icon=":material/edit_note:"):
            open_editor(aid, switch=True)


def _actions(me, case, seen: int) -> None:
    """The forms of the actions this user may take now, each acting on version `seen`."""
    cases = desk().cases
    # what the state machine and the user's role allow now, and an action pressed on the
    # page as it was (refused below as stale, with what was typed kept on screen)
    allowed = set(allowed_actions(case, me))
    allowed |= {a for a, keys in _PRESSED.items() if pressed(*keys)}
    st.subheader(t("case.actions"))

    def do(action: str, fn, *args, kept: dict[str, str] | None = None, **kwargs) -> None:
        act("case", case.id, seen, fn, me, case.id, *args, kept=kept,
            done=t("done.action", id=case.id, action=t(f"workflow.{action}")), **kwargs)

    if "start" in allowed and st.button(t("action.start"), key="act_start"):
        do("start", cases.start)
    if "resolve" in allowed:
        with st.form("resolve_form"):
            fix = st.text_area(t("resolve.fix"), key="resolve_fix")
            cause = st.text_input(t("service.cause"), key="resolve_cause")
            labels, severity = _confirmation(me, case, "resolve")
            if st.form_submit_button(t("action.resolve"), type="primary",
                                     key="resolve_submit"):
                do("resolve", cases.resolve, fix, cause=cause, labels=labels,
                   severity=severity, kept={t("resolve.fix"): fix, t("service.cause"): cause})
    if "dispatch" in allowed:
        with st.expander(t("dispatch.header")), st.form("dispatch_form"):
            who = pick_person("dispatch", t("case.assignee"), "dispatch_who")
            when = when_picker(t("dispatch.when"), "dispatch_when")
            place = st.text_input(t("dispatch.place"), key="dispatch_place")
            tools = st.text_input(t("dispatch.tools"), key="dispatch_tools")
            parts = st.text_input(t("dispatch.parts"), key="dispatch_parts")
            if st.form_submit_button(t("action.dispatch"), key="dispatch_submit"):
                do("dispatch", cases.dispatch, who, when, place, _list(tools), _list(parts),
                   kept={t("dispatch.place"): place, t("dispatch.tools"): tools,
                         t("dispatch.parts"): parts})
    if "service_record" in allowed:
        with st.expander(t("service.header")), st.form("service_form"):
            cause = st.text_input(t("service.cause"), key="service_cause")
            steps = st.text_area(t("service.steps"), key="service_steps")
            result = st.text_input(t("service.result"), key="service_result")
            st.caption(t("service.parts_help"))  # parts: from the catalogue (ui/views/charges)
            if st.form_submit_button(t("action.record"), key="service_submit"):
                do("service_record", cases.record_service, cause, steps, result=result,
                   kept={t("service.cause"): cause, t("service.steps"): steps,
                         t("service.result"): result})
    if "delay" in allowed:
        with st.expander(t("delay.header")):
            code = st.selectbox(t("delay.code"), list(DELAY_REASONS),
                                format_func=lambda c: f"{c} · {t('delay.' + c)}", key="delay_code")
            note = st.text_input(t("delay.note"), key="delay_note")
            if st.button(t("action.delay"), key="act_delay"):
                do("delay", cases.set_delay, code, note, kept={t("delay.note"): note})
    if "confirm" in allowed:
        with st.form("confirm_form"):
            score = st.slider(t("confirm.satisfaction"), 1, 5, 5, key="confirm_score")
            comment = st.text_input(t("confirm.comment"), key="confirm_comment")
            if st.form_submit_button(t("action.confirm"), key="confirm_submit"):
                do("confirm", cases.confirm, score, comment,
                   kept={t("confirm.comment"): comment})
    if "close" in allowed:
        unconfirmed = _unconfirmed(case)
        if not unconfirmed:
            if st.button(t("action.close"), key="act_close", type="primary"):
                do("close", cases.close)
        else:
            with st.form("close_form"):
                st.caption(t("close.confirm_open"))
                labels, severity = _confirmation(me, case, "close", only=unconfirmed)
                if st.form_submit_button(t("action.close"), type="primary",
                                         key="close_submit"):
                    do("close", cases.close, labels=labels, severity=severity)
    _barred(me, case)
    if "follow_up" in allowed:
        _follow_up(case, do)


def _follow_up(case, do) -> None:
    """The follow-up call (客服回访): outcome, what the customer said, and a rating when
    the case has none yet."""
    with st.form("follow_form"):
        st.markdown(f"**{t('follow.header')}**")
        outcome = st.radio(t("follow.outcome"), FOLLOW_UP_OUTCOMES, horizontal=True,
                           format_func=lambda o: t(f"follow.outcome.{o}"), key="follow_outcome")
        note = st.text_area(t("follow.note"), key="follow_note")
        rating = None
        if not case.fields.get("satisfaction"):
            rating = st.selectbox(t("follow.rating"), [None, 5, 4, 3, 2, 1], key="follow_rating",
                                  format_func=lambda r: "★" * r if r else t("follow.no_rating"))
        if st.form_submit_button(t("follow.submit"), key="follow_submit"):
            do("follow_up", desk().cases.follow_up, outcome, note, satisfaction=rating,
               kept={t("follow.note"): note})


def _barred(me, case) -> None:
    """Actions the case's state allows but the user's role does not: shown disabled,
    saying which roles may take them."""
    for action, step in TRANSITIONS.items():
        if case.state in step.states and me.role not in PERMISSIONS[step.permission]:
            roles = t("people.or").join(t(f"role.{r}") for r in ROLES
                                        if r in PERMISSIONS[step.permission])
            st.button(t("case.barred", action=t(f"workflow.{action}"), roles=roles),
                      disabled=True, key=f"barred_{action}")


# the buttons of each action of the case page (the forms' submit buttons included)
_PRESSED = {"start": ("act_start",), "resolve": ("resolve_submit",),
            "dispatch": ("dispatch_submit",), "service_record": ("service_submit",),
            "delay": ("act_delay",), "confirm": ("confirm_submit",),
            "close": ("act_close", "close_submit"),
            "follow_up": ("follow_submit",)}


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
            format_func=lambda v, field=name: value_name(field, v) if v else t("resolve.unset"),
            help=t("resolve.predicted", value=value_name(name, p["predicted"])),
            key=f"{form}_confirm_{name}")
        if pick:
            chosen[name] = pick
    severity = chosen.pop("severity", None)
    return chosen, severity


def _list(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,，;；]", text or "") if p.strip()]


def _who(username: str | None) -> str:
    """Who recorded something: a user, or the customer answering by link."""
    return t("answer.customer") if username == CUSTOMER.username else person(username)
