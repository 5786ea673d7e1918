"""Search page: the knowledge base's articles and resolved cases, with why they matched."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from ui.i18n import t
from ui.resources import engine
from ui.widgets import fix_card


def render() -> None:
    st.header(t("search.header"))
    query = st.text_input(t("search.query"), placeholder=t("search.placeholder"),
                          key="search_query")
    kinds = {"": t("search.kind.all"), "article": t("search.kind.article"),
             "case": t("search.kind.case")}
    kind = st.radio(t("search.kind"), list(kinds), format_func=kinds.get, horizontal=True,
                    key="search_kind")
    if not query.strip():
        return
    try:
        results = engine().search(query, k=10, kind=kind or None)
    except KnownFixError as exc:
        st.error(str(exc))
        return
    if not results:
        st.info(t("search.none"))
    for r in results:
        fix_card(r.hit.key, r.record.title or r.record.text[:80], r.record.fix,
                 r.hit.score, r.hit.matched)
