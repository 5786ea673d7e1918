"""Customers (客户服务档案 / 设备档案): find customers by name or contact and equipment by
serial, model or product; see a customer's equipment and an asset's warranty and service
history; add and edit records; merge a duplicate into the record kept (managers and
admins; others see the button disabled, saying who may)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import streamlit as st

from errors import KnownFixError
from service.auth import can
from service.customers import Asset, Customer, contacts_of
from ui.actions import show_flash
from ui.i18n import error_text, t
from ui.render import md_escape
from ui.resources import desk
from ui.session import require_page
from ui.widgets import roles_for, service_history, warranty_badge

SHOWN = 50  # records listed per search


def render() -> None:
    me = require_page("customers")
    st.header(t("cust.header"))
    show_flash()
    text = st.text_input(t("cust.find"), key="cust_q", placeholder=t("cust.find_hint"))
    customers, assets = desk().customers.search(me, text, SHOWN)
    left, right = st.columns(2)
    with left:
        st.subheader(t("cust.customers"))
        if not customers:
            st.caption(t("cust.none"))
        for c in customers:
            st.button(md_escape(_customer_label(c)), key=f"cust_pick_{c.id}", type="tertiary",
                      on_click=_pick, args=("customer", c.id))
        _add_customer(me)
    with right:
        st.subheader(t("cust.assets"))
        if not assets:
            st.caption(t("cust.no_assets"))
        for a in assets:
            st.button(md_escape(_asset_label(a)), key=f"asset_pick_{a.id}", type="tertiary",
                      on_click=_pick, args=("asset", a.id))
    st.divider()
    kind, rid = st.session_state.get("cust_pick", (None, None))
    try:
        if kind == "customer":
            _customer(me, rid)
        elif kind == "asset":
            _asset(me, rid)
    except KnownFixError as exc:
        st.error(error_text(exc))


def _pick(kind: str, rid: str) -> None:
    st.session_state["cust_pick"] = (kind, rid)


def _customer_label(c: Customer) -> str:
    first = c.contacts[0] if c.contacts else {}
    return " · ".join(p for p in (c.id, c.name, first.get("name"), first.get("phone")) if p)


def _asset_label(a: Asset) -> str:
    return " · ".join(p for p in (a.id, a.model or a.product, a.serial, a.location) if p)


def _done(fn: Callable, *args, done: str, **kwargs) -> None:
    """Run a write; say what was done on the page drawn again, or why it was refused."""
    try:
        fn(*args, **kwargs)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.session_state["flash"] = done
    st.rerun()


def _customer(me, customer_id: str) -> None:
    c, assets = desk().customers.customer_card(me, customer_id)
    st.subheader(f"{c.name} · {c.id}")
    facts = {t("cust.address"): c.address, t("cust.contract"): c.contract,
             t("cust.service_level"): c.service_level, t("cust.note"): c.note}
    for contact in c.contacts:
        facts[t("cust.contact")] = " · ".join(v for v in contact.values() if v)
    st.table({t("case.field"): list(facts), t("case.value"): [v or "—" for v in facts.values()]})
    st.markdown(f"**{t('cust.assets')}**")
    if not assets:
        st.caption(t("cust.no_assets"))
    for a in assets:
        st.button(md_escape(_asset_label(a)), key=f"cust_asset_{a.id}", type="tertiary",
                  on_click=_pick, args=("asset", a.id))
    if can(me, "customer.edit"):
        _edit_customer(me, c)
        _add_asset(me, c)
    _merge(me, "customer", c.id, [(o.id, _customer_label(o)) for o in
                                  desk().customers.find_customers(limit=500) if o.id != c.id])


def _customer_form(c: Customer | None, key: str) -> dict:
    """The fields of a customer, pre-filled from `c`; what was typed, as the service's
    arguments."""
    c = c or Customer("", "")
    joined = {k: ";".join(x.get(k, "") for x in c.contacts) for k in ("name", "phone", "email")}
    out = {"name": st.text_input(t("cust.name"), c.name, key=f"{key}_name")}
    c1, c2, c3 = st.columns(3)
    names = c1.text_input(t("cust.contact"), joined["name"], key=f"{key}_contact",
                          help=t("cust.several"))
    phones = c2.text_input(t("cust.phone"), joined["phone"], key=f"{key}_phone")
    emails = c3.text_input(t("cust.email"), joined["email"], key=f"{key}_email")
    out["contacts"] = contacts_of(names, phones, emails)
    out["address"] = st.text_input(t("cust.address"), c.address, key=f"{key}_address")
    c4, c5 = st.columns(2)
    out["contract"] = c4.text_input(t("cust.contract"), c.contract, key=f"{key}_contract")
    out["service_level"] = c5.text_input(t("cust.service_level"), c.service_level,
                                         key=f"{key}_level")
    out["note"] = st.text_area(t("cust.note"), c.note, key=f"{key}_note")
    return out


def _add_customer(me) -> None:
    if not can(me, "customer.edit"):
        return
    with st.expander(t("cust.add")), st.form("cust_add_form"):
        values = _customer_form(None, "cust_new")
        if st.form_submit_button(t("cust.add"), key="cust_add_submit"):
            _done(_add_and_show, me, values, done=t("cust.added"))


def _add_and_show(me, values: dict) -> None:
    added = desk().customers.add_customer(me, **values)
    _pick("customer", added.id)


def _edit_customer(me, c: Customer) -> None:
    with st.expander(t("cust.edit")), st.form(f"cust_edit_{c.id}"):
        values = _customer_form(c, f"cust_edit_{c.id}")
        if st.form_submit_button(t("cust.save"), key=f"cust_edit_submit_{c.id}"):
            _done(desk().customers.edit_customer, me, c.id, **values, done=t("cust.saved"))


def _asset_form(a: Asset | None, key: str) -> dict:
    a = a or Asset("", None)
    c1, c2, c3 = st.columns(3)
    out = {"product": c1.text_input(t("intake.product"), a.product, key=f"{key}_product"),
           "model": c2.text_input(t("intake.asset_model"), a.model, key=f"{key}_model"),
           "serial": c3.text_input(t("intake.asset_serial"), a.serial, key=f"{key}_serial"),
           "location": st.text_input(t("asset.location"), a.location, key=f"{key}_location")}
    c4, c5 = st.columns(2)
    out["installed_at"] = c4.date_input(t("asset.installed"), _day(a.installed_at),
                                        key=f"{key}_installed")
    out["warranty_end"] = c5.date_input(t("asset.warranty_end"), _day(a.warranty_end),
                                        key=f"{key}_warranty", help=t("asset.warranty_help"))
    out["note"] = st.text_area(t("cust.note"), a.note, key=f"{key}_note")
    return out


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _add_asset(me, c: Customer) -> None:
    with st.expander(t("asset.add")), st.form(f"asset_add_{c.id}"):
        values = _asset_form(None, f"asset_new_{c.id}")
        if st.form_submit_button(t("asset.add"), key=f"asset_add_submit_{c.id}"):
            _done(desk().customers.add_asset, me, c.id, **values, done=t("asset.added"))


def _asset(me, asset_id: str) -> None:
    a, history = desk().customers.asset_card(me, asset_id)
    st.subheader(f"{a.model or a.product} · {a.serial or a.id}")
    warranty_badge(a)
    owner = desk().customers.customer(a.customer_id).name if a.customer_id else "—"
    facts = {t("intake.customer"): owner, t("intake.product"): a.product,
             t("intake.asset_model"): a.model, t("intake.asset_serial"): a.serial,
             t("asset.location"): a.location, t("asset.installed"): a.installed_at,
             t("asset.warranty_end"): a.warranty_end, t("cust.note"): a.note}
    st.table({t("case.field"): list(facts), t("case.value"): [v or "—" for v in facts.values()]})
    if a.customer_id:
        st.button(t("asset.open_customer"), key=f"asset_owner_{a.id}", on_click=_pick,
                  args=("customer", a.customer_id))
    st.markdown(f"**{t('asset.history')}**")
    service_history(history)
    if can(me, "customer.edit"):
        with st.expander(t("asset.edit")), st.form(f"asset_edit_{a.id}"):
            values = _asset_form(a, f"asset_edit_{a.id}")
            if st.form_submit_button(t("cust.save"), key=f"asset_edit_submit_{a.id}"):
                _done(desk().customers.edit_asset, me, a.id, **values, done=t("cust.saved"))
    _merge(me, "asset", a.id, [(o.id, _asset_label(o)) for o in
                               desk().customers.search_assets(limit=500) if o.id != a.id])


def _merge(me, kind: str, rid: str, others: list[tuple[str, str]]) -> None:
    """Merge this record into another of its kind (customer.merge); a role without it
    sees the button disabled, saying which roles may."""
    if not can(me, "customer.merge"):
        st.button(t("cust.merge_barred", roles=roles_for("customer.merge")), disabled=True,
                  key=f"merge_barred_{rid}")
        return
    labels = dict(others)
    with st.expander(t("cust.merge")), st.form(f"merge_{kind}_{rid}"):
        st.caption(t("cust.merge_customer_help") if kind == "customer"
                   else t("cust.merge_asset_help"))
        into = st.selectbox(t("cust.merge_into"), list(labels), format_func=labels.get,
                            index=None, placeholder=t("cust.merge_choose"), key=f"merge_into_{rid}")
        if st.form_submit_button(t("cust.merge"), key=f"merge_submit_{rid}"):
            if not into:
                st.error(t("cust.merge_pick"))
                return
            merge = (desk().customers.merge_customers if kind == "customer"
                     else desk().customers.merge_assets)
            _done(_merge_and_show, me, kind, merge, rid, into,
                  done=t("cust.merged", source=rid, into=into))


def _merge_and_show(me, kind: str, merge: Callable, source: str, into: str) -> None:
    kept = merge(me, source, into)
    _pick(kind, kept.id)
