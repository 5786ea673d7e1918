"""Search: the knowledge base's articles and resolved cases, with why they matched."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from ui.i18n import error_text, t, value_name
from ui.resources import desk
from ui.session import user
from ui.widgets import fix_card, t_label


def render() -> None:
    me = user()
    st.header(t("search.header"))
    query = st.text_input(t("search.query"), placeholder=t("search.placeholder"),
                          key="search_query")
    kinds = {"": t("search.kind.all"), "article": t("search.kind.article"),
             "case": t("search.kind.case")}
    kind = st.radio(t("search.kind"), list(kinds), format_func=kinds.get, horizontal=True,
                    key="search_kind")
    fields = desk().lookup.label_fields(me)
    fields.pop("severity")  # the scale, not a label to filter on
    labels = {}
    if fields:
        cols = st.columns(len(fields))
        for col, (name, values) in zip(cols, fields.items(), strict=True):
            value = col.selectbox(t_label(name), ["", *values],
                                  format_func=lambda v, field=name: value_name(field, v)
                                  if v else t("search.kind.all"),
                                  key=f"search_label_{name}")
            if value:
                labels[name] = value
    if not query.strip():
        return
    try:
        results = desk().lookup.search(me, query, k=10, kind=kind or None, labels=labels)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    if not results:
        st.info(t("search.none"))
    for r in results:
        fix_card(r.hit.key, r.record.title or r.record.text[:80], r.record.fix,
                 r.hit.score, r.hit.matched)
