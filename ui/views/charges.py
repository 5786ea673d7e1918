"""Parts and charges (备件与费用) on the case page, and the billing download for finance
on the Reports page; both over `desk().charges` (service/charges.py)."""

from __future__ import annotations

import io
from datetime import tzinfo

import streamlit as st

from errors import KnownFixError
from service import billing
from service.auth import User, can
from service.cases import Case
from service.charges import ITEM_KINDS, RECORD, Billing, Item, Part, money_text
from ui.actions import act
from ui.i18n import error_text, fmt_time, lang, t, zone
from ui.resources import desk
from ui.widgets import dash

FIND_LIMIT = 50  # parts offered for one search


def case_charges(me: User, case: Case, seen: int) -> None:
    """The case's parts and charges: what was recorded (which parts are free under
    warranty), the running total, what went to finance (已转财务), and for the people
    who record them while the case is not closed, the forms to add and take back."""
    try:
        found = desk().charges.of_case(me, case.id)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.subheader(t("charge.header"))
    for bill in found.billings:
        st.success(t("charge.billed", total=money_text(bill.total), number=bill.id,
                     at=fmt_time(bill.created_at)))
    if found.items:
        st.dataframe(dash([_row(i) for i in found.items]), hide_index=True)
        st.markdown("**" + t("charge.total", total=money_text(found.total),
                             unbilled=money_text(found.unbilled)) + "**")
    else:
        st.caption(t("charge.none"))
    if case.state == "closed":
        if can(me, RECORD):
            st.info(t("charge.closed"))
        return
    st.caption(t("charge.parts_now", why=t(f"charge.why.{found.warranty}")))
    if not can(me, RECORD):
        return
    with st.expander(t("charge.record"), expanded=not found.items):
        _add_part(me, case, seen)
        _add_item(me, case, seen)
        _remove(me, case, seen, [i for i in found.items if not i.billed])


def billed_badge(me: User, case: Case) -> None:
    """At the top of the case page: 已转财务 with the total, once the case's charges
    went to finance."""
    try:
        billed = desk().charges.of_case(me, case.id).billed
    except KnownFixError:
        return  # the section below says why
    if billed:
        st.success(t("charge.billed_badge", total=money_text(billed)),
                   icon=":material/receipt_long:")


def _row(item: Item) -> dict[str, str]:
    note = t(f"charge.why.{item.why}") if item.why else ""
    return {t("charge.kind"): t(f"charge.kind.{item.kind}"), t("charge.code"): item.code,
            t("charge.name"): item.name, t("charge.quantity"): item.line()["quantity"],
            t("charge.unit"): item.unit, t("charge.unit_price"): money_text(item.unit_price),
            t("charge.amount"): money_text(item.amount), t("charge.note"): note,
            t("charge.state"): t("charge.state_billed" if item.billed else "charge.state_open")}


def _done(case: Case, what: str) -> str:
    return t("done.action", id=case.id, action=t(what))


def _add_part(me: User, case: Case, seen: int) -> None:
    """Find a catalogue part by code or name, pick it, say how many."""
    st.markdown(f"**{t('charge.add_part')}**")
    query = st.text_input(t("charge.find"), key="charge_find")
    parts = {p.code: p for p in desk().charges.parts(me, query, FIND_LIMIT)}
    if not parts:
        st.caption(t("charge.no_parts"))
        return
    with st.form("charge_part_form"):
        code = st.selectbox(t("charge.pick"), list(parts), key="charge_part",
                            format_func=lambda c: _part_label(parts[c]))
        qty = st.number_input(t("charge.quantity"), min_value=0.0, value=1.0, step=1.0,
                              format="%g", key="charge_part_qty")
        if st.form_submit_button(t("charge.add_part"), key="charge_part_submit"):
            act("case", case.id, seen, desk().charges.add_part, me, case.id, code, qty,
                done=_done(case, "charge.add_part"))


def _part_label(part: Part) -> str:
    unit = f" / {part.unit}" if part.unit else ""
    return f"{part.code} · {part.name} · {money_text(part.price)}{unit}"


def _add_item(me: User, case: Case, seen: int) -> None:
    """Labour (hours at a rate), travel or another charge."""
    with st.form("charge_item_form"):
        st.markdown(f"**{t('charge.add_item')}**")
        c1, c2, c3 = st.columns(3)
        kind = c1.selectbox(t("charge.kind"), [k for k in ITEM_KINDS if k != "part"],
                            format_func=lambda k: t(f"charge.kind.{k}"), key="charge_kind")
        qty = c2.number_input(t("charge.item_quantity"), min_value=0.0, value=1.0, step=0.5,
                              format="%g", key="charge_item_qty")
        price = c3.text_input(t("charge.item_price"), key="charge_item_price")
        note = st.text_input(t("charge.item_note"), key="charge_item_note")
        if st.form_submit_button(t("charge.add_item"), key="charge_item_submit"):
            act("case", case.id, seen, desk().charges.add_item, me, case.id, kind, price,
                qty, note, done=_done(case, "charge.add_item"),
                kept={t("charge.item_price"): price, t("charge.item_note"): note})


def _remove(me: User, case: Case, seen: int, open_items: list[Item]) -> None:
    """Take back an item not billed yet."""
    if not open_items:
        return
    items = {i.id: i for i in open_items}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c1.selectbox(t("charge.remove_pick"), list(items), key="charge_remove_pick",
                          format_func=lambda n: _item_label(items[n]))
    if c2.button(t("charge.remove"), key="charge_remove"):
        act("case", case.id, seen, desk().charges.remove, me, case.id, chosen,
            done=_done(case, "charge.remove"))


def _item_label(item: Item) -> str:
    what = " ".join(p for p in (t(f"charge.kind.{item.kind}"), item.code, item.name) if p)
    return f"{what} × {item.line()['quantity']} = {money_text(item.amount)}"


# -- Reports: the billing download ------------------------------------------------------------
def billing_downloads(me: User, start: str, end: str) -> None:
    """What went to finance in the period (count and total), as CSV and Excel files."""
    from ui.views.reports import XLSX

    st.subheader(t("bill.header"))
    try:
        bills = desk().charges.billing(me, start, end)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    if bills:
        st.caption(t("bill.count", n=len(bills), total=money_text(sum(b.total for b in bills))))
    else:
        st.info(t("bill.none"))
    language, tz = lang(), zone()  # the download runs on another thread, without the session
    c1, c2 = st.columns(2)
    c1.download_button(t("bill.csv"), lambda: _csv(bills, language, tz),
                       file_name=f"knownfix-billing-{start}.csv", mime="text/csv",
                       key="bill_csv", on_click="ignore")
    c2.download_button(t("bill.xlsx"), lambda: _xlsx(bills, language, tz),
                       file_name=f"knownfix-billing-{start}.xlsx", mime=XLSX,
                       key="bill_xlsx", on_click="ignore")


def _csv(bills: list[Billing], language: str, tz: tzinfo) -> bytes:
    buf = io.StringIO()
    billing.write_csv(bills, language, buf, tz)
    return buf.getvalue().encode("utf-8-sig")


def _xlsx(bills: list[Billing], language: str, tz: tzinfo) -> bytes:
    buf = io.BytesIO()
    billing.write_xlsx(bills, language, buf, tz)
    return buf.getvalue()
