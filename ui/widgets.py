"""Display pieces shared by pages."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from service.auth import CUSTOMER
from service.customers import Asset, ServiceEntry
from triage.stored import StoredTriage
from ui.i18n import MESSAGES, basis_text, fmt_time, reason_text, t, value_name, zone, zone_label
from ui.render import highlight, md_escape, show_markdown
from ui.resources import desk
from zones import all_zones, picked_utc

PER_PAGE = 20


def fix_card(key: str, title: str, fix: str, score: float, matched: list[str],
             actions: bool = False, case_id: str | None = None, on_action=None) -> None:
    """One known fix: title, score, why it matched, its resolution; optional buttons."""
    kind = t("kind.article") if key.startswith("article:") else t("kind.case")
    with st.container(border=True):
        st.markdown(f"**{html.escape(title)}** · {kind} `{html.escape(key.split(':', 1)[1])}`")
        st.progress(min(max(score, 0.0), 1.0), text=f"{t('search.score')} {score:.2f}")
        st.caption(f"{t('search.matched')}: " + (", ".join(matched) or t("search.meaning")))
        if fix:
            st.markdown(f"**{t('search.fix')}:** " + highlight(fix, matched).replace("\n", "<br>"),
                        unsafe_allow_html=True)
        if actions and on_action:
            left, right = st.columns(2)
            if left.button(t("fix.used"), key=f"used-{case_id}-{key}", type="primary"):
                on_action(key, True)
            if right.button(t("fix.not_helpful"), key=f"nh-{case_id}-{key}"):
                on_action(key, False)


def triage_summary(tri: StoredTriage | None, severity: str | None) -> None:
    """Predicted labels with confidence, severity (the case's priority) with the reason
    for it, escalation advice; reasons said in the user's language from their codes (the
    English words for a triage stored before codes existed)."""
    labels = tri.labels if tri else {}
    cols = st.columns(max(len(labels) + 1, 2))
    for col, (name, pred) in zip(cols, labels.items(), strict=False):
        col.metric(t_label(name), value_name(name, pred.value), f"{pred.confidence:.0%}",
                   delta_color="off")
    cols[len(labels)].metric(t("triage.severity"), value_name("severity", severity))
    reason = (basis_text(tri.severity_basis) or tri.severity_reason) if tri else ""
    st.caption(f"{t('triage.severity')}: {reason or '—'}")
    if tri and tri.escalate:
        st.warning(f"{t('triage.escalate')}: " + "; ".join(said_reasons(tri.reasons,
                                                                         tri.reason_codes)))
    else:
        st.success(t("triage.no_escalate"))


def said_reasons(reasons: list[str], codes: list[dict] | None) -> list[str]:
    """Escalation reasons in the user's language where their codes allow."""
    if codes and len(codes) == len(reasons):
        return [reason_text(c) or r for c, r in zip(codes, reasons, strict=True)]
    return list(reasons)


def t_label(name: str) -> str:
    key = f"label.{name}"
    try:
        return t(key)
    except KeyError:
        return name


def timeline(events: list[dict]) -> None:
    for ev in events:
        actor = t("answer.customer") if ev["actor"] == CUSTOMER.username else ev["actor"]
        st.markdown(f"- `{fmt_time(ev['at'])}` **{html.escape(actor)}** "
                    f"{html.escape(t_action(ev['action']))}")


def t_action(action: str) -> str:
    try:
        return t(f"event.{action}")
    except KeyError:
        return action


def person(username: str | None) -> str:
    """A user as people know them: the display name ("—" for nobody; the name as stored
    when it is no user, e.g. from an old import)."""
    if not username:
        return "—"
    found = {u.username: u for u in desk().users.all(include_inactive=True)}.get(username)
    return found.display_name or username if found else username


def pick_person(work: str, label: str, key: str, current: str = "") -> str:
    """Choose who takes `work` ("escalate", "dispatch" or "maintenance") among the users
    the service would accept (Users.candidates), by display name, `current` chosen at
    first; "" when none is chosen."""
    people = desk().users.candidates(work)
    names = {u.username: u.display_name or u.username for u in people}
    shared = {n for n in names.values() if list(names.values()).count(n) > 1}
    shown = {u: f"{n} ({u})" if n in shared else n for u, n in names.items()}
    choice = st.selectbox(label, list(shown), format_func=shown.get,
                          index=list(shown).index(current) if current in shown else None,
                          placeholder=t("people.pick"), key=key,
                          help=t("people.who", roles=_roles(work)))
    return choice or ""


def _roles(work: str) -> str:
    from service.auth import taking_roles

    return t("people.or").join(t(f"role.{r}") for r in taking_roles(work))


def when_picker(label: str, key: str, help: str | None = None) -> str:
    """A date and a time (a quarter-hour step; 09:00 when only the day is given) on the
    clock of the user's zone, as the service takes it: ISO-8601 in UTC (zones.picked_utc);
    "" when no day is chosen."""
    c1, c2 = st.columns(2)
    day = c1.date_input(f"{label} · {t('when.date')}", value=None, key=f"{key}_date",
                        help=help)
    hour = c2.time_input(f"{label} · {t('when.time')}", value=None, key=f"{key}_time",
                         step=900)
    return picked_utc(day, hour, zone()) if day else ""


def zone_select(label: str, key: str, current: str = "") -> str:
    """Pick a time zone: "default" (the `timezone` setting's, returned as ""), the
    common zones, then every other by name."""
    default = desk().engine.settings.zone_name
    options = ["", *all_zones()]
    return st.selectbox(label, options, index=options.index(current) if current in options
                        else 0, key=key, format_func=lambda name: zone_label(name) if name
                        else t("tz.default", zone=zone_label(default)))


def headed(rows: list[dict], **cells: Callable[[Any], Any]) -> pd.DataFrame:
    """A service's rows (dicts with the service's own keys) as a table for st.dataframe:
    each column named from the catalogue (col.KEY), each cell of column KEY shown through
    cells[KEY] when given, and "—" in every empty cell."""
    shown = [{t(f"col.{k}") if f"col.{k}" in MESSAGES else k:
              cells[k](v) if k in cells and v is not None else v for k, v in row.items()}
             for row in rows]
    return dash(shown)


def dash(data) -> pd.DataFrame:
    """A table for st.dataframe with "—" in every empty cell (None, NaN, "")."""
    frame = (data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)).astype(object)
    return frame.where(frame.notna() & frame.ne(""), "—")


def paged(key: str, fetch: Callable[[int], tuple[Sequence, int]],
          per_page: int = PER_PAGE) -> tuple[Sequence, int]:
    """One page of a list: `fetch(offset)` gives (the items from offset on, how many in
    all); the page number is kept in session state under `key`.  A page the list has
    shrunk below falls back to its last page.  Draw `pager(key, total)` under it."""
    page = st.session_state.get(key, 0)
    items, total = fetch(page * per_page)
    if not items and total:
        st.session_state[key] = page = (total - 1) // per_page
        items, total = fetch(page * per_page)
    return items, total


def pager(key: str, total: int, per_page: int = PER_PAGE, forget: tuple[str, ...] = ()
          ) -> None:
    """Previous / next buttons and "page x of y" under a list `paged(key, …)` drew; nothing
    when it fits on one page.  `forget`: widgets whose state belongs to the page shown
    (a table's selected row), cleared when the page turns."""
    pages = -(-total // per_page)
    if pages <= 1:
        return
    page = min(st.session_state.get(key, 0), pages - 1)
    c1, c2, c3 = st.columns([1, 3, 1], vertical_alignment="center")
    c1.button(t("page.prev"), key=f"{key}_prev", disabled=page == 0,
              on_click=turn_page, args=(key, page - 1, forget))
    c2.caption(t("page.of", page=page + 1, pages=pages, total=total))
    c3.button(t("page.next"), key=f"{key}_next", disabled=page >= pages - 1,
              on_click=turn_page, args=(key, page + 1, forget))


def turn_page(key: str, page: int = 0, forget: tuple[str, ...] = ()) -> None:
    """Show page `page` (from 0) of the list paged under `key` (a widget callback; with
    no page, back to the first, e.g. when the list's filter changed), clearing the
    widgets `forget` names."""
    st.session_state[key] = page
    for name in forget:
        st.session_state.pop(name, None)


def roles_for(permission: str) -> str:
    """The roles that hold `permission`, named in the user's language ("经理、管理员")."""
    from service.auth import PERMISSIONS, ROLES

    return t("people.or").join(t(f"role.{r}") for r in ROLES if r in PERMISSIONS[permission])


def warranty_badge(asset: Asset) -> None:
    """Whether the asset is in warranty today (三包期: parts free), out of it, or
    not known."""
    state = asset.in_warranty(desk().customers.today())
    if state is None:
        st.badge(t("asset.warranty_unknown"), icon=":material/help:", color="gray")
    elif state:
        st.badge(t("asset.in_warranty", until=asset.warranty_end), icon=":material/verified:",
                 color="green")
    else:
        st.badge(t("asset.out_of_warranty", until=asset.warranty_end),
                 icon=":material/warning:", color="orange")


def service_history(entries: Sequence[ServiceEntry], but: str | None = None) -> None:
    """An asset's earlier cases, newest first: when, state, what it was and what fixed
    it (`but`: the case on screen, left out)."""
    shown = [e for e in entries if e.case_id != but]
    if not shown:
        st.caption(t("asset.no_history"))
    for e in shown:
        with st.container(border=True):
            st.markdown(f"**{md_escape(e.case_id)}** · {fmt_time(e.received_at)} · "
                        f"{t(f'state.{e.state}')} · {md_escape(e.title)}")
            if e.fix:
                show_markdown(e.fix)
