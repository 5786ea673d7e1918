"""KnownFix Streamlit app. The entry file only routes: who is signed in decides which
pages exist; pages live in ui/pages/ and call the service layer."""

from __future__ import annotations

import streamlit as st

from service.auth import pages_for
from ui.actions import new_run
from ui.boundary import boundary
from ui.i18n import LANGUAGES, t
from ui.resources import desk, start_loading
from ui.session import current_user, keep_cookie, password_form, sign_out, zone_choice

# page (script ui/pages/NAME.py) -> icon; who sees which: service.auth.PAGE_NEEDS
ICONS = {"intake": "📞", "queue": "📋", "case": "🗂️", "customers": "🏢", "search": "🔎",
         "knowledge": "📚", "coverage": "📈", "reports": "🧾", "plans": "🗓️", "admin": "⚙️"}

st.set_page_config(page_title="KnownFix", page_icon="🛠️", layout="wide")
new_run()  # pages act on the versions of records they drew in the run before this one
# Streamlit's "Press Enter to submit form" hints are English whatever the language: hidden
st.markdown('<style>[data-testid="InputInstructions"] { display: none; }</style>',
            unsafe_allow_html=True)
start_loading()  # model, index and database load while the first page draws
me = current_user()
with st.sidebar, boundary("sidebar"):
    st.title(t("app.title"))
    choice = st.selectbox(t("app.language"), list(LANGUAGES), format_func=LANGUAGES.get,
                          index=list(LANGUAGES).index(st.session_state.get("lang", "zh")),
                          key="lang_choice")
    if choice != st.session_state.get("lang", "zh"):
        st.session_state["lang"] = choice
        if me:
            desk().users.set_lang(me, choice)
        st.rerun()
    if me:
        st.caption(f"{me.display_name} · {t('role.' + me.role)}")
        if st.button(t("signin.out"), key="signout"):
            sign_out()
            st.rerun()
        with st.popover(t("password.header")):
            password_form(me)
        zone_choice(me)  # names the zone the page's times are in
    keep_cookie()  # a refreshed page stays signed in; signed out, the cookie goes

if me is None:
    pages = {"signin": st.Page("ui/pages/signin.py", title=t("signin.header"), icon="🔑",
                               url_path="signin", default=True)}
else:
    home = "admin" if me.role == "admin" else "intake"
    pages = {name: st.Page(f"ui/pages/{name}.py", title=t(f"nav.{name}"), icon=ICONS[name],
                           url_path=name, default=name == home)
             for name in pages_for(me)}
st.session_state["pages"] = pages
page = st.navigation(list(pages.values()))
with boundary(page.url_path or "home"):  # no traceback ever reaches a user
    page.run()
