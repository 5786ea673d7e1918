"""The article editor: one article on the whole page (Knowledge, `?article=KA-…&edit=1`
or opened from the list or a case) — its fields on the left, a live preview rendered
through the sanitiser on the right, then its version history with a diff between any
two versions.  Save acts on the version the page showed (ui/actions.py): a stale page
is refused with who changed the article and when, and the typed text stays."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from errors import KnownFixError
from service.knowledge import AUDIENCES
from ui.actions import act, drawn, show_flash
from ui.diff import unified, version_lines
from ui.i18n import error_text, fmt_time, t, value_name
from ui.render import md_escape, show_markdown
from ui.resources import desk
from ui.widgets import dash, person, t_action, t_label

EDITING = "kn_edit"  # session state: the id of the article open in the editor
_PREFIX = "ed_"  # the editor's widget keys: ed_<part>_<article id>


def open_editor(article_id: str, switch: bool = False) -> None:
    """Show `article_id` in the editor, its fields as stored; `switch`: go to the
    Knowledge page first (from another page)."""
    st.session_state[EDITING] = article_id
    _forget(article_id)
    if switch:
        st.switch_page(st.session_state["pages"]["knowledge"])
    st.rerun()


def editing() -> str | None:
    """The article open in the editor, if any.  The address says which
    (`?article=KA-…&edit=1`), so a refresh or a copied link opens it again."""
    wanted = st.query_params.get("article")
    if wanted and st.query_params.get("edit") == "1" and wanted != st.session_state.get(EDITING):
        st.session_state[EDITING] = wanted
        _forget(wanted)
    current = st.session_state.get(EDITING)
    if current:
        st.query_params.update(article=current, edit="1")
    return current


def _close() -> None:
    st.session_state.pop(EDITING, None)
    for name in ("article", "edit"):
        st.query_params.pop(name, None)
    st.rerun()


def _forget(article_id: str) -> None:
    """Drop what the editor's fields hold for the article: they show it as stored."""
    for key in [k for k in st.session_state if str(k).startswith(_PREFIX)
                and str(k).endswith(f"_{article_id}")]:
        del st.session_state[key]


def _key(part: str, article_id: str) -> str:
    return f"{_PREFIX}{part}_{article_id}"


def render(me, article_id: str, duplicates: Callable[..., None]) -> None:
    """The editor page for `article_id`; `duplicates` draws near-duplicate warnings
    with their merge buttons (the Knowledge page's)."""
    kn = desk().knowledge
    if st.button(t("kn.back"), key="ed_back", icon=":material/arrow_back:"):
        _close()
    try:
        seen = drawn("article", article_id)
        art = kn.get(article_id)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.header(t("kn.editor", id=art.id))
    show_flash()
    st.caption(" · ".join([t(f"kn.state.{art.state or 'validated'}"),
                           t("kn.version_n", n=art.version),
                           *([t("kn.related", id=art.related_to)] if art.related_to else [])]))
    left, right = st.columns(2, gap="large")
    with left:
        typed = _fields(me, art)
        save = st.button(t("kn.save"), type="primary", key=_key("save", art.id))
        if st.button(t("kn.reload"), key=_key("reload", art.id)):
            _forget(art.id)
            st.rerun()
    with right:
        st.subheader(t("kn.preview"))
        with st.container(border=True):
            _preview(typed)
    if save:
        act("article", art.id, seen, kn.edit, me, art.id, typed["title"], typed["symptoms"],
            typed["resolution"], labels=typed["labels"], severity=typed["severity"],
            cause=typed["cause"], environment=typed["environment"],
            audience=typed["audience"], done=t("kn.saved", id=art.id),
            kept={t(_LABELS[n]): typed[n] for n in _LABELS})
    if art.state != "archived":
        duplicates(me, art.id, kn.duplicates(art.id), where="editor")
    _history(art.id)


# the article's text parts and their labels, in the order of the form
_LABELS = {"title": "intake.title", "symptoms": "kn.symptoms", "cause": "service.cause",
           "environment": "kn.environment", "resolution": "kn.resolution"}


def _fields(me, art) -> dict:
    """The form's widgets, filled from the article as stored; returns what they hold."""
    aid = art.id
    typed: dict = {
        "title": st.text_input(t("intake.title"), art.title, key=_key("title", aid)),
        "symptoms": st.text_area(t("kn.symptoms"), art.symptoms, height=150,
                                 key=_key("symptoms", aid), help=t("kn.markdown_help")),
        "cause": st.text_input(t("service.cause"), art.cause, key=_key("cause", aid)),
        "environment": st.text_input(t("kn.environment"), art.environment,
                                     key=_key("environment", aid)),
        "resolution": st.text_area(t("kn.resolution"), art.resolution, height=260,
                                   key=_key("resolution", aid), help=t("kn.markdown_help"))}
    known = desk().lookup.label_fields(me)  # each field's values, and the severity scale
    names = [*(n for n in known if n != "severity"), *(n for n in art.labels if n not in known)]
    cols = st.columns(min(len(names) + 1, 4))
    labels = {}
    for n, name in enumerate(names):
        labels[name] = _choice(cols[n % len(cols)], name, t_label(name), art.labels.get(name),
                               known.get(name, []), _key(f"label-{name}", aid))
    typed["labels"] = labels
    typed["severity"] = _choice(cols[len(names) % len(cols)], "severity", t("triage.severity"),
                                art.severity, known.get("severity", []), _key("severity", aid))
    typed["audience"] = st.radio(t("kn.audience"), AUDIENCES, AUDIENCES.index(art.audience),
                                 format_func=lambda v: t(f"kn.audience.{v}"), horizontal=True,
                                 help=t("kn.audience_help"), key=_key("audience", aid))
    return typed


def _choice(col, field: str, label: str, current: str | None, values: list[str],
            key: str) -> str:
    """A select of a label field's values (or severities) by their display names; ""
    for none."""
    options = ["", *dict.fromkeys([*([current] if current else []), *values])]
    return col.selectbox(label, options, index=options.index(current) if current else 0,
                         format_func=lambda v: value_name(field, v), key=key)


def _preview(typed: dict) -> None:
    """The article as readers will see it: user text only through the sanitiser."""
    st.markdown(f"#### {md_escape(typed['title'])}")
    shown = [f"{t_label(k)}: {value_name(k, v)}" for k, v in typed["labels"].items() if v]
    if typed["severity"]:
        shown.append(f"{t('triage.severity')}: {value_name('severity', typed['severity'])}")
    if shown:
        st.caption(md_escape(" · ".join(shown)))
    for name in ("symptoms", "cause", "environment", "resolution"):
        if typed[name].strip():
            st.markdown(f"**{t(_LABELS[name])}**")
            show_markdown(typed[name])


def _history(article_id: str) -> None:
    """Every stored version (who, when, what), and the diff between two of them."""
    versions = desk().knowledge.versions(article_id)
    st.subheader(t("kn.versions"))
    st.table(dash([{t("kn.version"): v["version"], t("kn.action"): t_action(v["action"]),
                    t("case.state"): t(f"kn.state.{v['state'] or 'validated'}"),
                    t("kn.by"): person(v["actor"]), t("kn.updated"): fmt_time(v["at"])}
                   for v in versions]), hide_index=True)
    if len(versions) < 2:
        return
    st.markdown(f"**{t('kn.diff')}**")
    by_number = {v["version"]: v for v in versions}
    numbers = list(by_number)
    c1, c2 = st.columns(2)

    def name(n: int) -> str:
        return t("kn.version_n", n=n)
    old = c1.selectbox(t("kn.diff_from"), numbers, index=len(numbers) - 2, format_func=name,
                       key=f"ed_from_{len(numbers)}_{article_id}")
    new = c2.selectbox(t("kn.diff_to"), numbers, index=len(numbers) - 1, format_func=name,
                       key=f"ed_to_{len(numbers)}_{article_id}")
    parts = {"title": "intake.title", "severity": "triage.severity", "labels": "kn.labels",
             "text": "kn.symptoms", "cause": "service.cause", "environment": "kn.environment",
             "fix": "kn.resolution"}
    diff = unified(version_lines(by_number[old], lambda p: t(parts[p])),
                   version_lines(by_number[new], lambda p: t(parts[p])), name(old), name(new))
    if diff:
        st.code(diff, language="diff")  # st.code shows text, never markup
    else:
        st.info(t("kn.diff_same"))
