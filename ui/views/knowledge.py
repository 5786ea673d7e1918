"""Knowledge (engineers): write and review articles, drafts from closed cases,
versions, sources, duplicate warnings with merge; one article at a time in the
full-page editor (ui/views/article.py)."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from errors import KnownFixError
from ui.actions import act, drawn, show_flash
from ui.i18n import error_text, fmt_time, t
from ui.render import show_markdown
from ui.resources import desk
from ui.session import require_page
from ui.views import article as editor
from ui.widgets import PER_PAGE, paged, pager, turn_page

STATES = ("wip", "not_validated", "validated", "archived")


def render() -> None:
    me = require_page("knowledge")
    open_id = editor.editing()
    if open_id:
        editor.render(me, open_id, _duplicates)
        return
    st.header(t("kn.header"))
    show_flash()  # what the last action did, once
    review, write, browse = st.tabs([t("kn.review"), t("kn.write"), t("kn.browse")])
    with review:
        queue = desk().knowledge.review_queue()
        if not queue:
            st.info(t("kn.queue_empty"))
        for art in queue:
            _article(me, art.id, expanded=False)
    with write:
        _editor(me)
        made = st.session_state.get("kn_new_duplicates")
        if made:  # the article just written, and what it nearly repeats
            _duplicates(me, made[0], made[1], where="new")
    with browse:
        state = st.selectbox(t("case.state"), ["", *STATES],
                             format_func=lambda s: t(f"kn.state.{s}") if s else t("queue.all"),
                             key="kn_state", on_change=turn_page,
                             args=("kn_page", 0, ("kn_table",)))
        kn = desk().knowledge
        arts, total = paged("kn_page", lambda offset: (
            kn.list(state or None, offset, PER_PAGE), kn.count(state or None)))
        frame = pd.DataFrame([{"id": a.id, t("intake.title"): a.title,
                               t("case.state"): t(f"kn.state.{a.state or 'validated'}"),
                               t("kn.version"): a.version,
                               t("kn.updated"): fmt_time(a.updated_at)} for a in arts])
        picked = st.dataframe(frame, hide_index=True, on_select="rerun",
                              selection_mode="single-row", key="kn_table")
        rows = picked.selection.rows if picked else []
        pager("kn_page", total, forget=("kn_table",))
        if rows and rows[0] < len(frame):
            _article(me, frame.iloc[rows[0]]["id"], expanded=True, where="browse")


_FIELDS = ("title", "symptoms", "cause", "resolution", "env")


def _editor(me) -> None:
    """A new article (its near-duplicates are shown under the form once saved)."""
    if st.session_state.pop("kn_clear_new", False):
        for name in _FIELDS:  # the article was saved: an empty form for the next one
            st.session_state.pop(f"kn_{name}_new", None)
    prefill = st.session_state.pop("article_prefill", {})
    with st.form("kn_form_new"):
        title = st.text_input(t("intake.title"), prefill.get("title", ""), key="kn_title_new")
        symptoms = st.text_area(t("kn.symptoms"), prefill.get("symptoms", ""),
                                key="kn_symptoms_new")
        cause = st.text_input(t("service.cause"), key="kn_cause_new")
        resolution = st.text_area(t("kn.resolution"), height=160, key="kn_resolution_new",
                                  help=t("kn.markdown_help"))
        environment = st.text_input(t("kn.environment"), key="kn_env_new")
        saved = st.form_submit_button(t("kn.save"), type="primary")
    if not saved:
        return
    try:
        new_id, dups = desk().knowledge.create(me, title, symptoms, resolution, cause=cause,
                                               environment=environment)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.session_state.update(kn_new_duplicates=(new_id, dups), kn_clear_new=True,
                            flash=t("kn.saved", id=new_id))
    st.rerun()  # the page shows the article as stored


def _duplicates(me, article_id: str, dups: list[dict], where: str = "") -> None:
    for d in dups:
        st.warning(t("kn.duplicate", id=d["id"], title=d["title"], sim=d["similarity"]))
        if st.button(t("kn.merge", source=article_id, target=d["id"]),
                     key=_key(where, "merge", f"{article_id}-{d['id']}")):
            st.session_state.pop("kn_new_duplicates", None)
            act("article", article_id, drawn("article", article_id), desk().knowledge.merge,
                me, article_id, d["id"], done=t("kn.merged", source=article_id, target=d["id"]))


def _key(where: str, name: str, article_id: str) -> str:
    """A widget key for one article's button: the same article may be drawn in the review
    queue and in the list at once (`where` tells them apart)."""
    return f"{where}-{name}-{article_id}" if where else f"{name}-{article_id}"


def _article(me, article_id: str, expanded: bool, where: str = "") -> None:
    kn = desk().knowledge
    seen = drawn("article", article_id)
    art = kn.get(article_id)

    def do(fn, *args, action: str) -> None:
        act("article", art.id, seen, fn, me, art.id, *args,
            done=t("kn.done", id=art.id, action=action))
    state = t(f"kn.state.{art.state or 'validated'}")
    with st.expander(f"{art.id} · {art.title} · {state}", expanded=expanded):
        st.markdown(f"**{t('kn.symptoms')}**")
        show_markdown(art.symptoms)
        if art.cause:
            st.markdown(f"**{t('service.cause')}:** {html.escape(art.cause)}")
        st.markdown(f"**{t('kn.resolution')}**")
        show_markdown(art.resolution)
        if art.environment:
            st.text(f"{t('kn.environment')}: {art.environment}")
        use = kn.usage(art.id)
        st.caption(t("kn.usage", used=use["used"], bad=use["not_helpful"],
                     sources=", ".join(kn.sources(art.id)) or "—"))
        cols = st.columns(4)
        if art.state == "wip" and cols[0].button(
                t("kn.submit"), key=_key(where, "sub", art.id)):
            do(kn.submit, action=t("kn.submit"))
        if art.state in ("not_validated", None) and cols[1].button(
                t("kn.validate"), key=_key(where, "val", art.id), type="primary"):
            do(kn.validate, action=t("kn.validate"))
        if art.state == "not_validated" and cols[2].button(
                t("kn.reject"), key=_key(where, "rej", art.id)):
            do(kn.reject, t("kn.reject_reason"), action=t("kn.reject"))
        if art.state != "archived" and cols[3].button(
                t("kn.archive"), key=_key(where, "arc", art.id)):
            do(kn.archive, action=t("kn.archive"))
        _duplicates(me, art.id, kn.duplicates(art.id) if art.state != "archived" else [],
                    where)
        if st.button(f"{t('kn.edit')} · {t('kn.versions')}", key=_key(where, "edit", art.id),
                     icon=":material/edit_note:"):
            editor.open_editor(art.id)
