"""The app as a team's daily tool (issue 12), in the real browser: a refresh keeps the
session and a refresh after signing out lands on the sign-in page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.driver import (
    CHROMIUM,
    NO_CHROMIUM,
    msg,
    no_exception,
    open_page,
    settle,
    sign_in,
    sign_out,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]
COOKIE = "knownfix_session"


def _session_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None)


def test_a_refresh_keeps_the_session_and_sign_out_ends_it(new_page) -> None:
    page = new_page()
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    sign_in(page, "engineer")
    open_page(page, "queue", "zh")
    expect(page.get_by_role("heading", name=msg("queue.header"))).to_be_visible()
    cookie = _session_cookie(page)
    assert cookie, page.context.cookies()

    page.reload(wait_until="domcontentloaded")  # F5
    settle(page)
    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.get_by_role("heading", name=msg("queue.header"))).to_be_visible()
    expect(page.get_by_role("button", name=msg("signin.out"), exact=True)).to_be_visible()
    no_exception(page)

    sign_out(page, "zh")
    page.wait_for_function(f"() => !document.cookie.includes('{COOKIE}=')")
    page.reload(wait_until="domcontentloaded")
    settle(page)
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    expect(page.get_by_role("button", name=msg("signin.out"), exact=True)).to_have_count(0)

    # the old token, sent again by hand (a copied cookie), is refused: revoked on the server
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": page.url}])
    page.reload(wait_until="domcontentloaded")
    settle(page)
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    no_exception(page)

