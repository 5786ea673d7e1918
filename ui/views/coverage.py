"""Coverage (managers): where the knowledge base is thin — link rate over time,
escalation by category, cases without a good match, article reuse, gaps to write up,
stale and low-rated articles."""

from __future__ import annotations

from datetime import datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from errors import KnownFixError
from ui import figures
from ui.i18n import error_text, fmt_pct, fmt_week, t, value_name, zone
from ui.session import require_page
from ui.widgets import headed, paged, pager, t_label
from zones import day_start_utc

GAPS_PER_PAGE = 10


def period(prefix: str) -> tuple[str, str]:
    """A date range picker (default: the last 12 weeks), its days on the clock of the
    user's zone: [the first day's midnight, the midnight after the last day) in UTC."""
    here = zone()
    today = datetime.now(here).date()
    c1, c2 = st.columns(2)
    start = c1.date_input(t("rep.from"), today - timedelta(weeks=12), key=f"{prefix}_from")
    end = c2.date_input(t("rep.to"), today, key=f"{prefix}_to")
    return day_start_utc(start, here), day_start_utc(end + timedelta(days=1), here)


def render() -> None:
    me = require_page("coverage")
    st.header(t("cov.header"))
    start, end = period("cov")
    try:
        version = figures.version(me)
        cov = figures.coverage(version, start, end, False, me)
        summary = figures.summary(version, start, end, False, me)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    know = summary["knowledge"]
    c1, c2, c3 = st.columns(3)
    c1.metric(t("cov.link_rate"), fmt_pct(know["link_rate"]))
    c2.metric(t("cov.no_match"), summary["gaps"]["cases"])
    c3.metric(t("rep.escalation_rate"), fmt_pct(summary["outcomes"]["escalation_rate"]))
    weeks = pd.DataFrame(cov["weeks"])
    if not weeks.empty:
        weeks["week"] = weeks["week"].map(fmt_week)
        st.subheader(t("cov.link_trend"))
        st.altair_chart(alt.Chart(weeks).mark_line(point=True).encode(
            x=alt.X("week:N", title=t("cov.week")),
            y=alt.Y("link_rate:Q", title=t("cov.link_rate"), axis=alt.Axis(format="%"))),
            width="stretch")
        st.subheader(t("cov.no_match_trend"))
        st.altair_chart(alt.Chart(weeks).mark_bar().encode(
            x=alt.X("week:N", title=t("cov.week")),
            y=alt.Y("no_match:Q", title=t("cov.no_match"))), width="stretch")
    for name, values in cov["by_label"].items():
        frame = pd.DataFrame(values)
        if frame.empty:
            continue
        frame["value"] = frame["value"].map(lambda v, field=name: value_name(field, v))
        st.subheader(t("cov.escalation_by", field=t_label(name)))
        st.altair_chart(alt.Chart(frame).mark_bar().encode(
            x=alt.X("escalation_rate:Q", title=t("rep.escalation_rate"),
                    axis=alt.Axis(format="%")),
            y=alt.Y("value:N", sort="-x", title=t_label(name)),
            tooltip=[alt.Tooltip("value", title=t_label(name)),
                     alt.Tooltip("cases", title=t("col.cases")),
                     alt.Tooltip("escalated", title=t("col.escalated")),
                     alt.Tooltip("no_match", title=t("cov.no_match"))]), width="stretch")
    _reuse(know)
    _gaps(summary["gaps"])
    _stale(know)


def _reuse(know: dict) -> None:
    reuse = pd.DataFrame(know["reuse"])
    st.subheader(t("cov.reuse"))
    if reuse.empty:
        st.info(t("cov.no_reuse"))
        return
    reuse = reuse.sort_values("uses", ascending=False).reset_index(drop=True)
    reuse["share"] = reuse["uses"].cumsum() / reuse["uses"].sum()
    reuse["label"] = reuse["id"].map(_article_id) + " " + reuse["title"].str.slice(0, 24)
    bars = alt.Chart(reuse).mark_bar().encode(
        x=alt.X("label:N", sort=None, title=t("kind.article")),
        y=alt.Y("uses:Q", title=t("cov.uses")))
    line = alt.Chart(reuse).mark_line(point=True, color="#d62728").encode(
        x=alt.X("label:N", sort=None),
        y=alt.Y("share:Q", title=t("cov.cumulative"), axis=alt.Axis(format="%")))
    st.altair_chart(alt.layer(bars, line).resolve_scale(y="independent"),
                    width="stretch")


def _gaps(gaps: dict) -> None:
    """The gap clusters, the largest first, a page at a time."""
    st.subheader(t("cov.gaps"))
    clusters = gaps["clusters"]
    if not clusters:
        st.info(t("cov.no_gaps"))
    shown, total = paged("cov_gaps_page", lambda offset: (
        clusters[offset:offset + GAPS_PER_PAGE], len(clusters)), GAPS_PER_PAGE)
    for g in shown:
        with st.container(border=True):
            st.markdown(f"**{t('cov.gap_count', n=g['count'])}** · {g['representative']}")
            st.text(g["description"][:300])
            if st.button(t("cov.write"), key=f"gap-write-{g['representative']}"):
                st.session_state["article_prefill"] = {
                    "title": g["description"].splitlines()[0][:60],
                    "symptoms": g["description"]}
                st.switch_page(st.session_state["pages"]["knowledge"]) \
                    if "knowledge" in st.session_state["pages"] else st.info(t("cov.engineers"))
    pager("cov_gaps_page", total, GAPS_PER_PAGE)


def _stale(know: dict) -> None:
    c1, c2 = st.columns(2)
    with c1:
        st.subheader(t("cov.stale", days=know["stale_days"]))
        st.dataframe(headed(know["stale"], id=_article_id), hide_index=True)
    with c2:
        st.subheader(t("cov.not_helpful"))
        st.dataframe(headed(know["not_helpful"], id=_article_id), hide_index=True)
    st.subheader(t("cov.never_used"))
    st.dataframe(headed(know["never_used"], id=_article_id), hide_index=True)


def _article_id(key: str) -> str:
    """An article's id from its record key ("article:KA-000123")."""
    return key.removeprefix("article:")
