"""Reports (managers): the service layer's statistics for a period, with CSV and Excel
downloads (工作报表 / 统计分析)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from errors import KnownFixError
from ui.i18n import MESSAGES, error_text, fmt_pct, fmt_week, t, value_name
from ui.resources import desk
from ui.session import require_page
from ui.views.coverage import period
from ui.widgets import dash, headed, person, t_label


def render() -> None:
    me = require_page("reports")
    st.header(t("rep.header"))
    start, end = period("rep")
    reports = desk().reports
    try:
        data = reports.summary(me, start, end)
        weekly = reports.weekly(me, start, end)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    out, sat = data["outcomes"], data["satisfaction"]
    cols = st.columns(4)
    cols[0].metric(t("rep.cases"), data["period"]["cases"])
    cols[1].metric(t("rep.fcr"), fmt_pct(out.get("first_contact_rate")))
    cols[2].metric(t("rep.escalation_rate"), fmt_pct(out.get("escalation_rate")))
    cols[3].metric(t("confirm.satisfaction"),
                   "—" if sat.get("mean") is None else f"{sat['mean']:.2f}")
    st.subheader(t("rep.weekly"))
    st.dataframe(headed(weekly, week=fmt_week), hide_index=True)
    vol = data["volume"]
    tabs = st.tabs([t("intake.channel"), t("triage.severity"), t("case.state"),
                    *[t_label(n) for n in vol["by_label"]]])
    tables = [("channel", vol["by_channel"]), ("severity", vol["by_severity"]),
              ("state", vol["by_state"]), *vol["by_label"].items()]
    for tab, (field, table) in zip(tabs, tables, strict=True):
        tab.bar_chart(pd.Series({_named(field, k): n for k, n in table.items()},
                                dtype="float64"))
    st.subheader(t("rep.timing"))
    st.dataframe(headed(_flat(data["timing"]), measure=lambda m: t(f"measure.{m}"),
                        severity=_level), hide_index=True)
    st.subheader(t("rep.engineers"))
    st.dataframe(headed(data["engineers"], assignee=person), hide_index=True)
    st.subheader(t("rep.delays"))
    st.bar_chart(pd.Series({t(f"delay.{code}"): n for code, n in
                            out.get("delay_reasons", {}).items()}, dtype="float64"))
    _corrections(data["corrections"])
    st.subheader(t("rep.download"))
    c1, c2 = st.columns(2)
    buf = io.StringIO()
    reports.export(me, start, end, "csv", buf)
    c1.download_button("CSV", buf.getvalue().encode("utf-8-sig"), file_name="knownfix-report.csv",
                       mime="text/csv", key="rep_csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.xlsx"
        reports.export(me, start, end, "xlsx", path)
        c2.download_button("Excel", path.read_bytes(), file_name="knownfix-report.xlsx",
                           key="rep_xlsx")


def _corrections(found: dict) -> None:
    """How often people corrected triage when confirming labels: per field, and by week."""
    st.subheader(t("rep.corrections"))
    st.caption(t("rep.corrections_help"))
    if not found["by_field"]:
        st.info(t("rep.corrections_none"))
        return
    st.dataframe(dash([{t("rep.corr_field"): _field(name), t("rep.corr_confirmed"): r["confirmed"],
                   t("rep.corr_corrected"): r["corrected"],
                   t("rep.corr_rate"): fmt_pct(r["rate"])}
                       for name, r in found["by_field"].items()]), hide_index=True)
    week, field = t("cov.week"), t("rep.corr_field")
    weeks = pd.DataFrame([{week: fmt_week(w["week"]), field: _field(w["field"]), "rate": w["rate"]}
                          for w in found["weeks"]])
    st.line_chart(weeks.pivot_table(index=week, columns=field, values="rate"))


def _field(name: str) -> str:
    return t("triage.severity") if name == "severity" else t_label(name)


def _flat(timing: dict) -> list[dict]:
    return [{"measure": measure, **row} for measure, rows in timing.items() for row in rows]


def _level(level: str) -> str:
    """A severity level of the timing table; "(all)" is every level together."""
    return t("rep.all_levels") if level == "(all)" else value_name("severity", level)


def _named(field: str, key: str) -> str:
    """A channel, state, level or label value of the volume charts, named ("—" none)."""
    if key in ("", "(none)"):
        return "—"
    if field in ("channel", "state"):
        return t(f"{field}.{key}") if f"{field}.{key}" in MESSAGES else key
    return value_name(field, key)
