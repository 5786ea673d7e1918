"""Intake (业务受理): record a request; triage appears; link a fix, mark one unhelpful,
or escalate with the packet."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from service.cases import CHANNELS, allowed_actions
from ui.actions import act, check, drawn, pressed, show_flash
from ui.i18n import error_text, fmt_time, t
from ui.render import md_escape
from ui.resources import desk
from ui.session import user
from ui.widgets import (
    fix_card,
    person,
    pick_person,
    said_reasons,
    triage_summary,
    warranty_badge,
    when_picker,
)


def render() -> None:
    me = user()
    st.header(t("intake.header"))
    _lookup()
    with st.form("intake_form"):
        c1, c2, c3 = st.columns(3)
        channel = c1.selectbox(t("intake.channel"), CHANNELS,
                               format_func=lambda c: t(f"channel.{c}"), key="in_channel")
        customer = c2.text_input(t("intake.customer"), key="in_customer")
        contact = c3.text_input(t("intake.contact"), key="in_contact")
        c4, c5, c6 = st.columns(3)
        product = c4.text_input(t("intake.product"), key="in_product")
        asset_model = c5.text_input(t("intake.asset_model"), key="in_asset_model")
        asset_serial = c6.text_input(t("intake.asset_serial"), key="in_asset_serial")
        title = st.text_input(t("intake.title"), key="in_title")
        c7, c8 = st.columns(2)
        with c7:
            received = when_picker(t("case.received"), "in_received", help=t("when.now"))
        with c8:
            last_service = when_picker(t("intake.last_service"), "in_last_service")
        description = st.text_area(t("intake.description"), key="in_description", height=120)
        submitted = st.form_submit_button(t("intake.submit"), type="primary")
    if submitted and not description.strip():
        st.error(t("error.empty"))
        submitted = False
    if submitted:
        try:
            case = desk().cases.open(
                me, description, title=title, channel=channel, customer=customer,
                contact=contact, product=product, asset_model=asset_model,
                asset_serial=asset_serial, last_service_at=last_service or None,
                received_at=received or None)
        except KnownFixError as exc:
            st.error(error_text(exc))
            return
        st.session_state["intake_case"] = case.id
        st.session_state["case_id"] = case.id
    case_id = st.session_state.get("intake_case")
    if case_id:
        seen = drawn("case", case_id)
        show_flash()
        show_triage(me, case_id, seen)


def show_triage(me, case_id: str, seen: int) -> None:
    """The stored triage of a case, with link / not-helpful / escalate actions, each
    taken on version `seen` of the case (what this user's page showed)."""
    cases = desk().cases
    case = desk().queries.case(me, case_id)
    tri = case.triage
    matches = tri.matches if tri else []
    st.subheader(f"{t('case.number')} {case.id} · {t('state.' + case.state)}")
    triage_summary(tri, case.priority)
    if case.fields.get("recurrence_of"):
        st.warning(t("case.recurrence", other=case.fields["recurrence_of"]))
    if case.fields.get("duplicate_of"):
        st.info(t("case.duplicate", other=case.fields["duplicate_of"]))
    st.subheader(t("triage.fixes"))
    records = desk().queries.records(me, [m.key for m in matches])

    def link(key: str, helpful: bool) -> None:
        check("case", case_id, seen, cases.link_fix, me, case_id, key, helpful,
              done=t("fix.linked") if helpful else t("fix.marked"))

    allowed = set(allowed_actions(case, me))
    for m in matches:
        rec = records.get(m.key)
        linkable = "link" in allowed or pressed(f"used-{case_id}-{m.key}",
                                                f"nh-{case_id}-{m.key}")
        fix_card(m.key, m.title, rec.fix if rec else "", m.score, m.matched,
                 actions=linkable, case_id=case_id, on_action=link)
    if "escalate" in allowed or pressed(f"esc_submit_{case_id}"):
        _escalate(me, case, seen)
    if st.button(t("case.open_page"), key=f"goto_{case_id}"):
        st.session_state["case_id"] = case_id
        st.switch_page(st.session_state["pages"]["case"])


def _escalate(me, case, seen: int) -> None:
    """Hand the case on, with the triage packet, on version `seen`."""
    case_id, tri = case.id, case.triage
    with (st.expander(t("escalate.header"), expanded=bool(tri and tri.escalate)),
          st.form(f"escalate_{case_id}")):
        to = pick_person("escalate", t("escalate.to"), f"esc_to_{case_id}")
        reason = st.text_input(t("escalate.reason"), key=f"esc_reason_{case_id}",
                               value="; ".join(said_reasons(tri.reasons, tri.reason_codes)
                                               if tri else []))
        if st.form_submit_button(t("escalate.submit"), key=f"esc_submit_{case_id}"):
            act("case", case_id, seen, desk().cases.escalate, me, case_id, to, reason,
                done=t("escalate.done", to=person(to)), kept={t("escalate.reason"): reason})


def _lookup() -> None:
    """Find the equipment by its serial number (设备档案): its record fills the form and
    its warranty and last service show.  The case is linked to it by the serial."""
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input(t("intake.lookup"), key="in_lookup", placeholder=t("intake.lookup_hint"))
    c2.button(t("intake.lookup_go"), key="in_lookup_go", on_click=_fill_from_asset)
    found = st.session_state.get("in_asset")
    if found is None:
        return
    if not found:
        st.warning(t("intake.lookup_none"))
        return
    records = desk().customers
    asset = records.asset(found)
    owner = records.customer(asset.customer_id) if asset.customer_id else None
    with st.container(border=True):
        st.markdown(" · ".join(md_escape(p) for p in (
            owner.name if owner else "", owner.service_level if owner else "",
            asset.product, asset.model, asset.serial, asset.location) if p))
        warranty_badge(asset)
        st.caption(t("intake.lookup_last", at=fmt_time(records.last_service(asset.id))))


def _fill_from_asset() -> None:
    """The lookup's button: the asset with the serial typed fills customer, contact,
    product, model and serial ("" in `in_asset` when none has it)."""
    records = desk().customers
    asset = records.find_asset(st.session_state.get("in_lookup", ""))
    st.session_state["in_asset"] = asset.id if asset else ""
    if asset is None:
        return
    owner = records.customer(asset.customer_id) if asset.customer_id else None
    first = owner.contacts[0] if owner and owner.contacts else {}
    st.session_state.update(
        in_customer=owner.name if owner else "",
        in_contact=" ".join(v for v in (first.get("name"), first.get("phone")) if v),
        in_product=asset.product, in_asset_model=asset.model, in_asset_serial=asset.serial)
