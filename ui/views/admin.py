"""Admin: users and roles, settings, import with a column mapping, rebuild the index,
tuning (what it chose, the figures before and after, tune now), back up."""

from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from errors import KnownFixError
from kb.importer import ColumnMapping
from kb.reader import open_table
from service.auth import ROLES
from service.display_names import DisplayName
from settings import LOCAL, SETTINGS, SettingsError, load_settings
from triage.params import PINNED_BY
from triage.tuning import MIN_RECORDS
from ui.boundary import boundary
from ui.i18n import (
    LANGUAGES,
    error_text,
    field_name,
    fmt_time,
    setting_text,
    t,
    value_name,
    zone_label,
)
from ui.resources import desk
from ui.session import require_page
from ui.widgets import dash, zone_select


def render() -> None:
    me = require_page("admin")
    st.header(t("admin.header"))
    if desk().engine.integrity:  # what the start-up index check repaired
        st.info(desk().engine.integrity)
    parts = {"users": (t("admin.users"), _users), "settings": (t("admin.settings"), _settings),
             "import": (t("admin.import"), _import), "index": (t("admin.index"), _index),
             "tuning": (t("admin.tuning"), _tuning), "backup": (t("admin.backup"), _backup),
             "names": (t("names.tab"), _names)}
    # one boundary per tab: a tab that fails says so in one line, the others still draw
    tabs = st.tabs([title for title, _draw in parts.values()])
    for tab, (name, (_title, draw)) in zip(tabs, parts.items(), strict=True):
        with tab, boundary(f"admin/{name}"):
            draw(me)


def _users(me) -> None:
    users = desk().users
    st.dataframe(dash([{t("signin.user"): u.username, t("admin.display_name"): u.display_name,
                        t("admin.role"): t("role." + u.role), t("admin.team"): u.team,
                        t("app.language"): LANGUAGES.get(u.lang, u.lang),
                        t("tz.label"): zone_label(u.timezone) if u.timezone else None}
                       for u in users.all()]), hide_index=True)
    with st.form("user_add"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input(t("signin.user"), key="ua_name")
        display = c2.text_input(t("admin.display_name"), key="ua_display")
        role = c3.selectbox(t("admin.role"), ROLES, format_func=lambda r: t("role." + r),
                            key="ua_role")
        c4, c5, c6 = st.columns(3)
        password = c4.text_input(t("signin.password"), type="password", key="ua_password")
        team = c5.text_input(t("admin.team"), key="ua_team")
        with c6:
            zone = zone_select(t("tz.label"), "ua_timezone")
        if st.form_submit_button(t("admin.add_user")):
            try:
                users.add(me, name.strip(), password, role, display, team=team, timezone=zone)
                st.success(t("admin.user_added", name=name))
            except KnownFixError as exc:
                st.error(error_text(exc))
    _user_zone(me)


def _user_zone(me) -> None:
    """Set a user's own time zone (their times are shown in it; default: the setting)."""
    users = desk().users
    with st.form("user_zone"):
        c1, c2 = st.columns(2)
        name = c1.selectbox(t("signin.user"), [u.username for u in users.all()],
                            key="uz_name")
        with c2:
            zone = zone_select(t("tz.label"), "uz_timezone")
        if st.form_submit_button(t("tz.set_user")):
            try:
                users.update(me, name, timezone=zone)
                st.success(t("tz.user_set", name=name))
            except KnownFixError as exc:
                st.error(error_text(exc))


def _names(me) -> None:
    """The display names of label values and severity levels, edited in one table and
    saved in one transaction."""
    entries = desk().names.entries(me)
    if not entries:
        st.info(t("names.none"))
        return
    st.caption(t("names.help"))
    cols = {k: t(f"names.{k}") for k in ("field", "value", "zh", "en")}
    table = pd.DataFrame([{cols["field"]: t("triage.severity") if e.field == "severity"
                           else field_name(e.field), cols["value"]: e.value,
                           cols["zh"]: e.zh, cols["en"]: e.en} for e in entries])
    with st.form("names_form"):
        edited = st.data_editor(table, hide_index=True, num_rows="fixed", key="names_editor",
                                disabled=[cols["field"], cols["value"]],
                                width="stretch")
        if not st.form_submit_button(t("names.save")):
            return
    rows = [DisplayName(e.field, e.value, *("" if pd.isna(v) else str(v) for v in (zh, en)))
            for e, zh, en in
            zip(entries, edited[cols["zh"]], edited[cols["en"]], strict=True)]
    try:
        st.success(t("names.saved", n=desk().names.set_many(me, rows)))
    except KnownFixError as exc:
        st.error(error_text(exc))


def _settings(me) -> None:
    current = desk().engine.settings
    st.caption(t("admin.settings_help"))
    with st.form("settings_form"):
        values, before = {}, {}
        for s in SETTINGS:
            if s.name in LOCAL:  # this server's own: its folder, its database address
                continue
            label, help_ = setting_text(s.name, s.help)
            value = getattr(current, s.name)
            if isinstance(value, dict):  # a table per severity level, not JSON
                st.markdown(f"**{label}**", help=help_)
                before[s.name] = value
                values[s.name] = _per_level(s.name, value, current.levels)
            else:
                before[s.name] = _shown(value)
                values[s.name] = st.text_input(label, before[s.name], help=help_,
                                               key=f"set_{s.name}")
        if st.form_submit_button(t("admin.save")):
            # only what the admin changed is pinned: the rest stays free for tuning
            changed = {k: v for k, v in values.items() if v != before[k]}
            try:
                new = load_settings(current.data_dir,
                                    database_url=current.database_url or None, **changed)
                path = desk().save_settings(me, new)
                st.success(t("admin.saved", path=str(path)))
            except (KnownFixError, SettingsError) as exc:
                st.error(error_text(exc))


def _per_level(name: str, value: dict, levels: list[str]) -> dict:
    """A setting held per severity level (deadlines: [response h, resolution h];
    severity_rules: [phrases]) as a table with a row per level; what the table holds."""
    order = [*levels, *(lv for lv in value if lv not in levels)]
    level = t("triage.severity")
    if name == "deadlines":
        cols = (t("admin.deadline_response"), t("admin.deadline_resolution"))
        rows = [{level: value_name("severity", lv),
                 **dict(zip(cols, value.get(lv) or (None, None), strict=True))} for lv in order]
    else:
        cols = (t("admin.rule_phrases"),)
        rows = [{level: value_name("severity", lv), cols[0]: "、".join(value.get(lv, []))}
                for lv in order]
    edited = st.data_editor(pd.DataFrame(rows), hide_index=True, num_rows="fixed",
                            disabled=[level], key=f"set_{name}", width="stretch")
    out: dict = {}
    for lv, (_i, row) in zip(order, edited.iterrows(), strict=True):
        cells = [None if pd.isna(row[c]) else row[c] for c in cols]
        if name == "deadlines":
            if any(c is not None for c in cells) or lv in value:
                out[lv] = [_number(c) for c in cells]
        elif cells[0] and str(cells[0]).strip():
            out[lv] = [p.strip() for p in re.split(r"[、,，;；\n]", str(cells[0])) if p.strip()]
    return out


def _number(cell) -> int | float | None:
    """A table cell as a plain number (whole hours as int), None when it is not one."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else value


def _shown(value) -> str:
    """A setting's value as the form shows it."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _tuning(me) -> None:
    """What tuning chose, where each quality setting comes from, and the figures on the
    validation records before and after; a button to tune now."""
    engine = desk().engine
    tuning, params, pinned = engine.tuning, engine.params.to_json(), engine.settings.pinned
    if tuning is None:
        st.info(t("admin.tuning_none"))
    elif tuning.status != "tuned":
        st.info(t("admin.tuning_too_little", n=MIN_RECORDS))
    else:
        st.caption(t("admin.tuning_at", at=fmt_time(tuning.at), n=tuning.labelled,
                     q=tuning.validation.get("queries"), s=round(tuning.seconds)))
    rows = []
    for name, setting in PINNED_BY.items():
        source = ("admin.source_pinned" if setting in pinned else "admin.source_tuned"
                  if tuning and name in tuning.chosen else "admin.source_default")
        rows.append({t("admin.tuning_setting"): setting_text(setting, "")[0],
                     t("admin.tuning_value"): _value(params[name]),
                     t("admin.tuning_source"): t(source)})
    st.dataframe(dash(rows), hide_index=True)
    if tuning is not None and tuning.status == "tuned":
        st.subheader(t("admin.tuning_figures"))
        st.dataframe(dash(_figures(tuning.before, tuning.after)), hide_index=True)
    if st.button(t("admin.tune_now"), key="admin_tune"):
        with st.spinner(t("admin.tuning_running")):
            try:
                desk().tune(me)
            except KnownFixError as exc:
                st.error(error_text(exc))
                return
        st.rerun()


def _value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{t('script.' + k) if k in ('cjk', 'latin') else k} {v}"
                         for k, v in value.items())
    return "—" if value is None else str(value)


def _figures(before: dict, after: dict) -> list[dict]:
    def row(label: str, b, a) -> dict:
        return {t("admin.fig_metric"): label, t("admin.fig_before"): _value(b),
                t("admin.fig_after"): _value(a)}
    out = [row(t("admin.fig_accuracy", field=f), before["accuracy"].get(f), v)
           for f, v in after.get("accuracy", {}).items()]
    out.append(row(t("admin.fig_hit5"), before.get("hit@5"), after.get("hit@5")))
    b, a = before.get("severity") or {}, after.get("severity") or {}
    if a:
        out += [row(t("admin.fig_sev_acc"), b.get("accuracy"), a.get("accuracy")),
                row(t("admin.fig_top_recall"), b.get("top_recall"), a.get("top_recall")),
                row(t("admin.fig_over"), b.get("over_rated_at_top"), a.get("over_rated_at_top"))]
    return out


def _import(me) -> None:
    upload = st.file_uploader(t("admin.upload"), type=["csv", "tsv", "xlsx", "jsonl"],
                              key="import_upload")
    if upload is None:
        return
    try:
        path = st.session_state.get("import_path")
        if st.session_state.get("import_name") != upload.name or not path:
            path = str(desk().store_upload(me, upload.name, upload.getvalue()))
            st.session_state.update(import_path=path, import_name=upload.name)
        columns = open_table(path).columns
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    none = ["", *columns]
    with st.form("import_form"):
        text = st.multiselect(t("admin.map_text"), columns, key="map_text",
                              placeholder=t("people.pick_columns"))
        c1, c2, c3 = st.columns(3)
        title = c1.selectbox(t("intake.title"), none, key="map_title", format_func=_column)
        fix = c2.selectbox(t("search.fix"), none, key="map_fix", format_func=_column)
        id_col = c3.selectbox(t("col.id"), none, key="map_id", format_func=_column)
        c4, c5 = st.columns(2)
        severity = c4.selectbox(t("triage.severity"), none, key="map_severity",
                                format_func=_column)
        kind = c5.selectbox(t("search.kind"), ["case", "article"],
                            format_func=lambda k: t("kind." + k), key="map_kind")
        labels = st.text_input(t("admin.map_labels"), placeholder="category=类别, component=部件",
                               key="map_labels")
        go = st.form_submit_button(t("admin.run_import"), type="primary")
    if not go:
        return
    mapping = ColumnMapping(
        text=text, title=title or None, fix=fix or None, id=id_col or None,
        severity=severity or None, kind=kind,
        labels=dict(p.split("=", 1) for p in labels.replace("，", ",").split(",") if "=" in p))
    bar = st.progress(0.0, text=t("admin.importing"))
    try:
        report = desk().import_file(me, path, mapping,
                                    progress=lambda n: bar.progress(0.5, text=f"{n} …"))
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    bar.progress(1.0, text=t("admin.imported", n=report.taken, bad=len(report.rejected)))
    for rej in report.rejected[:50]:
        st.warning(t("admin.rejected_row", row=rej.row,
                     reason=error_text(rej.error) if rej.error else rej.reason))


def _column(name: str) -> str:
    """A column of the uploaded file as the mapping's select boxes show it; "—" none."""
    return name or "—"


def _index(me) -> None:
    stats = desk().engine.stats()
    index = stats["index"]
    st.dataframe(dash([{t("admin.index_what"): t(f"admin.index_{k}"), t("admin.index_value"): v}
                       for k, v in _index_facts(index).items()]), hide_index=True)
    if st.button(t("admin.reindex"), key="admin_reindex"):
        total = max(stats["records"]["case"] + stats["records"]["article"], 1)
        bar = st.progress(0.0, text=t("admin.reindexing"))
        try:
            n = desk().reindex(me, lambda done: bar.progress(min(done / total, 1.0)))
        except KnownFixError as exc:
            st.error(error_text(exc))
            return
        bar.progress(1.0, text=t("admin.reindexed", n=n))


def _index_facts(index: dict) -> dict[str, str]:
    """The index's facts (Engine.stats()["index"]) as the table shows them."""
    return {"count": f"{index.get('count', 0):,}", "model": str(index.get("model") or ""),
            "dim": str(index.get("dim") or ""), "backend": str(index.get("backend") or ""),
            "up_to_date": t("admin.yes") if index.get("up_to_date") else t("admin.no"),
            "saved_at": fmt_time(index.get("saved_at"))}


def _backup(me) -> None:
    if st.button(t("admin.backup_now"), key="admin_backup"):
        try:
            path = desk().backup(me)
        except KnownFixError as exc:
            st.error(error_text(exc))
            return
        st.success(t("admin.backup_done", path=str(path)))
        st.download_button(t("admin.download"), path.read_bytes(), file_name=path.name,
                           key="admin_backup_download")
