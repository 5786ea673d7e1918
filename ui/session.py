"""Who is signed in, in this browser.

Signing in makes a session (service/auth.py: a row holding the SHA-256 of a random
token, expiring after SESSION_SECONDS).  The token lives in this Streamlit session's
state and in a cookie, so a refreshed page (a new Streamlit session) finds it again;
signing out or changing the password revokes it on the server, and the cookie is
removed."""

from __future__ import annotations

import re

import streamlit as st

from errors import KnownFixError
from service.auth import PAGE_NEEDS, SESSION_SECONDS, User, can
from ui.i18n import error_text, t, zone_caption
from ui.resources import desk
from ui.widgets import zone_select
from zones import known_zone

COOKIE = "knownfix_session"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")  # what secrets.token_urlsafe makes


def browser_token() -> str | None:
    """The session cookie the browser sent when this page was (re)loaded."""
    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (tests, bare mode)
        return None
    return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None


def current_user() -> User | None:
    """The signed-in user, or None (also when the session has expired or was revoked).
    A page opened afresh (refresh, new tab) is signed in by its cookie."""
    token = st.session_state.get("token")
    restored = not token
    token = token or browser_token()
    if not token:
        return None
    try:
        found = desk().users.session(token)
    except KnownFixError:
        st.session_state.pop("token", None)
        return None
    if restored:
        st.session_state["token"] = token
        st.session_state["lang"] = found.lang or "zh"
    st.session_state["tz"] = found.timezone or desk().engine.settings.zone_name
    return found


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


def change_password(me: User, current: str, new: str) -> None:
    """The signed-in user's own new password.  Every session of theirs ends (other
    browsers sign in again); this browser gets a fresh one."""
    users = desk().users
    users.set_password(me, me.username, new, current=current)
    st.session_state["token"] = users.sign_in(me.username, new)


def password_form(me: User) -> None:
    """Change one's own password (the current one first); other browsers sign in again."""
    with st.form("password_form", clear_on_submit=True):
        current = st.text_input(t("password.current"), type="password", key="pw_current")
        new = st.text_input(t("password.new"), type="password", key="pw_new")
        repeat = st.text_input(t("password.repeat"), type="password", key="pw_repeat")
        if not st.form_submit_button(t("password.submit")):
            return
    if new != repeat:
        st.error(t("password.differ"))
        return
    try:
        change_password(me, current, new)
    except KnownFixError as exc:
        st.error(error_text(exc))
        return
    st.success(t("password.changed"))


def zone_choice(me: User) -> None:
    """The user's own time zone, and the line naming the zone every time on the page is
    shown in."""
    mine = me.timezone if known_zone(me.timezone) else ""
    choice = zone_select(t("tz.label"), "tz_choice", mine)
    if choice != mine:
        try:
            desk().users.set_timezone(me, choice)
        except KnownFixError as exc:
            st.error(error_text(exc))
            return
        st.session_state["tz"] = choice or desk().engine.settings.zone_name
        st.rerun()
    st.caption(zone_caption())


def keep_cookie() -> None:
    """Put the session's token in the browser's cookie, or take it out once signed out
    (a small script; the cookie is this site's only, SameSite=Strict)."""
    token = st.session_state.get("token")
    if token and _TOKEN.fullmatch(token):
        secure = "; Secure" if (_url() or "").startswith("https:") else ""
        script = (f'document.cookie = "{COOKIE}={token}; path=/; max-age={SESSION_SECONDS}; '
                  f'SameSite=Strict{secure}";')
        st.session_state["cookie_set"] = True
    elif st.session_state.get("cookie_set") or browser_token():
        script = f'document.cookie = "{COOKIE}=; path=/; max-age=0; SameSite=Strict";'
    else:
        return
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def _url() -> str | None:
    try:
        return st.context.url
    except Exception:
        return None


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
