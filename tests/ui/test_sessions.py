"""A refreshed page stays signed in (issue 12).  A refresh is a new Streamlit session: the
app finds the session again through the browser's cookie, which AppTest cannot send, so
these tests hand the new session the cookie the first one set (ui.session.browser_token);
tests/browser/test_daily.py does the same in Chromium with a real cookie."""

from __future__ import annotations

import re
import time

import pytest

from service.auth import SESSION_SECONDS
from service.demo import DEMO_PASSWORD
from tests.ui.conftest import page_path
from tests.ui.test_pages import EXPECTED_PAGES, button, healthy, msg, sign_in
from ui import session


def cookie_script(at) -> str:
    """The cookie the page's script writes ("" when it writes none)."""
    scripts = [h.proto.body for h in at.sidebar.get("html")]
    assert len(scripts) <= 1, scripts
    return scripts[0] if scripts else ""


def written_token(at) -> str:
    found = re.search(rf'{session.COOKIE}=([\w-]+); path=/; max-age={SESSION_SECONDS}; '
                      r'SameSite=Strict', cookie_script(at))
    assert found, cookie_script(at)
    return found.group(1)


@pytest.fixture
def browser(monkeypatch):
    """The browser's cookie jar, as the next page load sends it."""
    jar: dict[str, str] = {}
    monkeypatch.setattr(session, "browser_token", lambda: jar.get("token"))
    return jar


def test_signing_in_sets_the_cookie_and_a_refresh_stays_signed_in(open_app, ui_desk, browser):
    at = sign_in(open_app(lang="en"), "engineer")
    healthy(at)
    token = written_token(at)
    assert token == at.session_state["token"]
    browser["token"] = token
    ui_desk.users.set_lang(ui_desk.users.get("engineer"), "en")

    again = open_app(lang="zh")  # F5: a fresh session, the cookie is all it has
    again.switch_page(page_path("queue")).run()
    healthy(again, "refreshed")
    assert set(again.session_state["pages"]) == EXPECTED_PAGES["engineer"]
    assert [h.value for h in again.header] == [msg("queue.header", "en")]  # the user's language
    assert again.session_state["token"] == token


def test_sign_out_revokes_the_session_and_removes_the_cookie(open_app, ui_desk, browser):
    at = sign_in(open_app(lang="zh"), "agent")
    browser["token"] = written_token(at)
    at = at.button(key="signout").click().run()
    healthy(at)
    assert set(at.session_state["pages"]) == {"signin"}
    assert f'{session.COOKIE}=; path=/; max-age=0' in cookie_script(at)
    with pytest.raises(Exception, match="expired"):
        ui_desk.users.session(browser["token"])

    again = open_app(lang="zh")  # the old cookie, had the script not run: still refused
    healthy(again)
    assert set(again.session_state["pages"]) == {"signin"}
    assert [h.value for h in again.header] == [msg("signin.header", "zh")]


def test_an_expired_session_lands_on_the_sign_in_page(open_app, ui_desk, browser):
    browser["token"] = ui_desk.users.sign_in("manager", DEMO_PASSWORD,
                                             now=time.time() - SESSION_SECONDS - 5)
    at = open_app(lang="en")
    healthy(at)
    assert set(at.session_state["pages"]) == {"signin"}
    assert "token" not in at.session_state


def test_a_forged_cookie_is_refused(open_app, browser):
    browser["token"] = "A" * 43
    at = open_app(lang="en")
    assert set(at.session_state["pages"]) == {"signin"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_changing_the_password_signs_out_the_other_browsers(open_app, ui_desk, browser, lang):
    elsewhere = ui_desk.users.sign_in("agent", DEMO_PASSWORD)
    at = open_app("agent", lang)
    before = at.session_state["token"]
    at.text_input(key="pw_current").input("wrong password")
    at.text_input(key="pw_new").input("a new passphrase")
    at.text_input(key="pw_repeat").input("a new passphrase")
    at = button(at, msg("password.submit", lang)).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [msg("err.signin_wrong", lang)]

    at.text_input(key="pw_current").input(DEMO_PASSWORD)
    at.text_input(key="pw_new").input("a new passphrase")
    at.text_input(key="pw_repeat").input("another passphrase")
    at = button(at, msg("password.submit", lang)).click().run()
    assert [e.value for e in at.error] == [msg("password.differ", lang)]

    at.text_input(key="pw_current").input(DEMO_PASSWORD)
    at.text_input(key="pw_new").input("a new passphrase")
    at.text_input(key="pw_repeat").input("a new passphrase")
    at = button(at, msg("password.submit", lang)).click().run()
    healthy(at)
    assert [s.value for s in at.success] == [msg("password.changed", lang)]
    # this browser holds a fresh session (and cookie); every earlier one has ended
    assert at.session_state["token"] != before and written_token(at) == at.session_state["token"]
    for token in (before, elsewhere):
        browser["token"] = token
        assert set(open_app(lang=lang).session_state["pages"]) == {"signin"}
    assert ui_desk.users.session(at.session_state["token"]).username == "agent"
