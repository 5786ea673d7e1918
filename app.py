"""KnownFix Streamlit app: the entry file only routes; pages live in ui/pages/."""

from __future__ import annotations

import streamlit as st

from ui.i18n import LANGUAGES, t
from ui.pages import search, triage
from ui.resources import engine

st.set_page_config(page_title="KnownFix", page_icon="🛠️", layout="wide")
st.sidebar.selectbox(t("app.language"), list(LANGUAGES), format_func=LANGUAGES.get, key="lang")
st.sidebar.title(t("app.title"))
engine()  # load model and index before the first page draws
nav = st.navigation([
    st.Page(triage.render, title=t("nav.triage"), icon="🩺", url_path="triage", default=True),
    st.Page(search.render, title=t("nav.search"), icon="🔎", url_path="search"),
])
nav.run()
