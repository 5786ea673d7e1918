"""Who is signed in, in this browser session."""

from __future__ import annotations

import streamlit as st

from errors import KnownFixError
from service.auth import PAGE_NEEDS, User, can
from ui.i18n import t
from ui.resources import desk


def current_user() -> User | None:
    """The signed-in user, or None (also when the session has expired)."""
    token = st.session_state.get("token")
    if not token:
        return None
    try:
        return desk().users.session(token)
    except KnownFixError:
        st.session_state.pop("token", None)
        return None


def sign_in(username: str, password: str) -> User:
    users = desk().users
    token = users.sign_in(username, password)
    st.session_state["token"] = token
    user = users.session(token)
    st.session_state["lang"] = user.lang or "zh"
    return user


def sign_out() -> None:
    token = st.session_state.pop("token", None)
    if token:
        desk().users.sign_out(token)


def user() -> User:
    """The signed-in user; pages are only routed to when someone is signed in."""
    found = current_user()
    if found is None:
        st.stop()
    return found


def require_page(page: str) -> User:
    """The signed-in user, when they may open `page` (service.auth.PAGE_NEEDS); otherwise
    an error and the page stops.  The router only lists the pages a user may see; this
    keeps a restricted page shut however its script is reached."""
    me = user()
    if not can(me, PAGE_NEEDS[page]):
        st.error(t("error.forbidden", role=t("role." + me.role)))
        st.stop()
    return me
