"""Sign in."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from ui.i18n import error_text, t
from ui.session import sign_in


def render() -> None:
    st.header(t("signin.header"))
    with st.form("signin"):
        username = st.text_input(t("signin.user"), key="signin_user")
        password = st.text_input(t("signin.password"), type="password", key="signin_password")
        submitted = st.form_submit_button(t("signin.submit"), type="primary")
    if submitted:
        try:
            sign_in(username.strip(), password)
        except KnownFixError as exc:
            st.error(error_text(exc))
            return
        st.rerun()
