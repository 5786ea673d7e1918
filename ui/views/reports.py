"""Reports (managers): the per-case work report (工作报表) of a period with its filters,
the period's statistics, and CSV and Excel downloads of both.

The statistics are computed once per rerun (`Reports.aggregates`); the files are written
only when a download button is pressed (Streamlit calls the data function then)."""

from __future__ import annotations

import io
from datetime import tzinfo

import pandas as pd
import streamlit as st

from errors import KnownFixError
from service.auth import User
from service.cases import CHANNELS, STATES, WORK_TYPES
from service.reports import write_aggregates, write_work_xlsx
from service.work_report import WorkFilter, WorkRow, display, write_csv
from ui import figures
from ui.i18n import MESSAGES, error_text, fmt_pct, fmt_week, lang, t, value_name, zone
from ui.resources import desk
from ui.session import require_page
from ui.views.charges import billing_downloads
from ui.views.coverage import period
from ui.widgets import dash, headed, person, t_label

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render() -> None:
    me = require_page("reports")
    st.header(t("rep.header"))
    start, end = period("rep")
    imported = st.checkbox(t("rep.include_imported"), key="rep_imported",
                           help=t("rep.include_imported_help"))
    try:
        data = figures.aggregates(figures.version(me), start, end, imported, me)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    _metrics(data)
    _work_report(me, start, end, imported, data)
    billing_downloads(me, start, end)
    _statistics(data)
    st.subheader(t("rep.download"))
    c1, c2 = st.columns(2)
    c1.download_button(t("rep.stats_csv"), lambda: _aggregates_file(data, "csv"),
                       file_name="knownfix-report.csv", mime="text/csv", key="rep_csv",
                       on_click="ignore")
    c2.download_button(t("rep.stats_xlsx"), lambda: _aggregates_file(data, "xlsx"),
                       file_name="knownfix-report.xlsx", mime=XLSX, key="rep_xlsx",
                       on_click="ignore")


def _metrics(data: dict) -> None:
    out, sat, routine = data["outcomes"], data["satisfaction"], data["maintenance"]
    cols = st.columns(5)
    cols[0].metric(t("rep.cases"), data["period"]["cases"], help=t("rep.faults_only"))
    cols[1].metric(t("rep.fcr"), fmt_pct(out.get("first_contact_rate")))
    cols[2].metric(t("rep.escalation_rate"), fmt_pct(out.get("escalation_rate")))
    cols[3].metric(t("confirm.satisfaction"),
                   "—" if sat.get("mean") is None else f"{sat['mean']:.2f}")
    cols[4].metric(t("rep.maintenance"), routine["cases"],
                   help=t("rep.maintenance_help", done=routine["done"], open=routine["open"]))


def _work_report(me: User, start: str, end: str, imported: bool, data: dict) -> None:
    """The cases of the period one by one, filtered, with their downloads."""
    st.subheader(t("rep.work"))
    st.caption(t("rep.work_help"))
    found = _filters()
    try:
        rows = desk().reports.work_report(me, start, end, found, imported)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    # the download functions run on another thread, without the session
    language, tz = lang(), zone()
    if not rows:
        st.info(t("rep.work_none"))
    else:
        st.caption(t("rep.work_count", n=len(rows)))
        st.dataframe(dash(display(rows, language, tz)), hide_index=True)
    c1, c2 = st.columns(2)
    c1.download_button(t("rep.work_csv"), lambda: _work_csv(rows, language, tz),
                       file_name=f"knownfix-work-{start}.csv", mime="text/csv",
                       key="rep_work_csv", on_click="ignore")
    c2.download_button(t("rep.work_xlsx"), lambda: _work_xlsx(rows, data, language, tz),
                       file_name=f"knownfix-work-{start}.xlsx", mime=XLSX,
                       key="rep_work_xlsx", type="primary", on_click="ignore")


def _filters() -> WorkFilter:
    """Engineer (from the users), customer (part of the name), channel, state and kind
    of work (from the catalogue); nothing chosen means any."""
    people = {u.username: u.display_name or u.username
              for u in desk().users.all(include_inactive=True)}
    c1, c2, c3, c4, c5 = st.columns(5)
    engineer = c1.selectbox(t("work.engineer"), list(people), format_func=people.get,
                            index=None, placeholder=t("rep.any"), key="rep_f_engineer")
    customer = c2.text_input(t("rep.customer_has"), key="rep_f_customer")
    channel = c3.selectbox(t("intake.channel"), CHANNELS, index=None,
                           format_func=lambda c: t(f"channel.{c}"), placeholder=t("rep.any"),
                           key="rep_f_channel")
    state = c4.selectbox(t("case.state"), STATES, index=None,
                         format_func=lambda s: t(f"state.{s}"), placeholder=t("rep.any"),
                         key="rep_f_state")
    work = c5.selectbox(t("work.kind"), WORK_TYPES, index=None,
                        format_func=lambda w: t(f"work.{w}"), placeholder=t("rep.any"),
                        key="rep_f_work")
    return WorkFilter(engineer or "", customer, channel or "", state or "", work or "")


def _statistics(data: dict) -> None:
    """The period's aggregates: weekly counts, volume charts, timing, engineers, delays
    and triage corrections."""
    st.subheader(t("rep.weekly"))
    st.dataframe(headed(data["weekly"], week=fmt_week), hide_index=True)
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
                            data["outcomes"].get("delay_reasons", {}).items()},
                           dtype="float64"))
    _answers(data["answers"])
    _self_service(data["self_service"])
    _corrections(data["corrections"])


def _work_csv(rows: list[WorkRow], language: str, tz: tzinfo) -> bytes:
    buf = io.StringIO()
    write_csv(rows, language, buf, tz)
    return buf.getvalue().encode("utf-8-sig")


def _work_xlsx(rows: list[WorkRow], data: dict, language: str, tz: tzinfo) -> bytes:
    buf = io.BytesIO()
    write_work_xlsx(rows, data, language, buf, tz)
    return buf.getvalue()


def _aggregates_file(data: dict, fmt: str) -> bytes:
    if fmt == "csv":
        text = io.StringIO()
        write_aggregates(data, fmt, text)
        return text.getvalue().encode("utf-8-sig")
    buf = io.BytesIO()
    write_aggregates(data, fmt, buf)
    return buf.getvalue()


def _answers(found: dict) -> None:
    """The customers' answers: response rate per question, satisfaction by engineer,
    channel, the way it was given and each label field."""
    st.subheader(t("rep.answers"))
    st.caption(t("rep.answers_help"))
    st.metric(t("rep.response_rate"), fmt_pct(found["response_rate"]))
    st.dataframe(headed(found["by_question"], response_rate=fmt_pct,
                        question=lambda q: t(f"answer.question.{q}")), hide_index=True)
    tables = [(t("rep.sat_engineer"), found["satisfaction_by_engineer"], {"assignee": person}),
              (t("rep.sat_channel"), found["satisfaction_by_channel"],
               {"channel": lambda c: _named("channel", c)}),
              (t("rep.sat_source"), found["satisfaction_by_source"],
               {"source": lambda s: t(f"answer.source.{s}") if s != "(none)" else "—"}),
              *[(t("rep.sat_label", field=t_label(name)), rows,
                 {"value": lambda v, name=name: _named(name, v)})
                for name, rows in found["satisfaction_by_label"].items()]]
    for title, rows, cells in tables:
        if rows:
            st.markdown(f"**{title}**")
            st.dataframe(headed(rows, **cells), hide_index=True)


def _self_service(found: dict) -> None:
    """The customer request page: requests answered by an article (no case) and filed."""
    st.subheader(t("rep.self_service"))
    st.caption(t("rep.self_service_help"))
    cols = st.columns(3)
    cols[0].metric(t("rep.deflections"), found["deflections"])
    cols[1].metric(t("rep.web_cases"), found["web_cases"])
    cols[2].metric(t("rep.deflection_rate"), fmt_pct(found["deflection_rate"]))
    if found["by_article"]:
        st.dataframe(headed(found["by_article"]), hide_index=True)


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
