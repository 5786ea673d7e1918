"""Small Playwright helpers for driving the KnownFix Streamlit app: the text of a message in
a language (from ui/i18n.py, so tests follow the catalogue), waiting for a rerun to
finish, signing in, switching language, moving between pages and full-page screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ui.i18n import LANGUAGES, MESSAGES

CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = (f"{CHROMIUM} is not installed (Debian package chromium; `make test` installs it "
               "when run as root with apt-get)")
# every browser test module: `pytestmark = MARKS`
MARKS = [pytest.mark.browser, pytest.mark.model,
         pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]
TIMEOUT_MS = 180_000  # a loaded 2-core box: the first page also loads the model
DEMO_PASSWORD = "knownfix-demo"
expect.set_options(timeout=TIMEOUT_MS)

# Streamlit is busy while any of these is on the page (a rerun, a spinner, a skeleton of
# a page still drawing, elements of the previous run not yet replaced).
_BUSY = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"],'
         ' [data-testid="stSpinner"], [data-testid="stSkeleton"], [data-stale="true"]')


def msg(key: str, lang: str = "zh", **values: object) -> str:
    """The catalogue text of `key` in `lang`."""
    text = MESSAGES[key][0 if lang == "zh" else 1]
    return text.format(**values) if values else text


def settle(page: Page, quiet_ms: int = 400) -> None:
    """Wait until the app has been idle (nothing running, nothing stale) for quiet_ms."""
    page.wait_for_function(
        """([sel, quiet]) => {
            const now = performance.now();
            if (document.querySelector(sel) || !document.querySelector('[data-testid="stApp"]')) {
                window.__kfBusyAt = now; return false;
            }
            if (window.__kfBusyAt === undefined) window.__kfBusyAt = now;
            return now - window.__kfBusyAt >= quiet;
        }""", arg=[_BUSY, quiet_ms], polling=100, timeout=TIMEOUT_MS)
    page.evaluate("() => { window.__kfBusyAt = undefined; }")


def expect_state(page: Page, state: str) -> None:
    """The case page's 状态 metric shows `state` (a state name, e.g. "closed").  Matched
    on label and value together: while Streamlit reruns, the old metric can linger
    beside the new one for a moment, so "the metric labelled 状态" may be two."""
    metric = page.get_by_test_id("stMetric").filter(has_text=msg("case.state"))
    expect(metric.filter(has_text=msg(f"state.{state}")).first).to_be_visible()


def no_exception(page: Page) -> None:
    """No Python traceback or st.exception box on the page."""
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, errors.first.inner_text()


def sign_in(page: Page, username: str, lang: str = "zh") -> None:
    """Sign in on the sign-in page (its labels are in `lang`)."""
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("signin.user", lang), exact=True).fill(username)
    form.get_by_label(msg("signin.password", lang), exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name=msg("signin.submit", lang), exact=True).click()
    expect(page.get_by_role("button", name=re.compile(
        f"^({re.escape(msg('signin.out', 'zh'))}|{re.escape(msg('signin.out', 'en'))})$"))
    ).to_be_visible()
    settle(page)


def sign_out(page: Page, lang: str) -> None:
    page.get_by_role("button", name=msg("signin.out", lang), exact=True).click()
    expect(page.get_by_role("heading", name=msg("signin.header", lang))).to_be_visible()
    settle(page)


def set_language(page: Page, lang: str) -> None:
    """Choose the UI language in the sidebar select (no-op when it is already chosen)."""
    box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=re.compile(
        f"^({msg('app.language', 'zh')}|{msg('app.language', 'en')})$"))
    if box.input_value() != LANGUAGES[lang]:
        box.click()
        page.get_by_role("option", name=LANGUAGES[lang], exact=True).click()
    expect(page.get_by_test_id("stSidebar").get_by_role(
        "combobox", name=msg("app.language", lang), exact=True)).to_have_value(LANGUAGES[lang])
    settle(page)


def open_page(page: Page, name: str, lang: str) -> None:
    """Follow the sidebar link to page `name` (keeps the browser session signed in)."""
    title = msg(f"nav.{name}", lang)
    page.get_by_test_id("stSidebarNav").get_by_role(
        "link", name=re.compile(rf"{re.escape(title)}$")).click()
    expect(page).to_have_url(re.compile(rf"/{name}$"))
    settle(page)


def full_page_png(page: Page, path: Path, max_height: int = 5000) -> Path:
    """Screenshot the whole app: Streamlit scrolls inside its main block, so the viewport
    is made as tall as the content first.  Saved as a 256-colour PNG to keep it small."""
    from PIL import Image

    width = page.viewport_size["width"] if page.viewport_size else 1280
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const side = document.querySelector('[data-testid="stSidebarContent"]');
        return Math.max(main ? main.scrollHeight : 0, side ? side.scrollHeight : 0);
    }""")
    tall = max(900, min(int(height) + 16, max_height))
    page.set_viewport_size({"width": width, "height": tall})
    try:
        # No focus ring or hover toolbar in the picture.
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.mouse.move(width - 2, tall - 2)
        settle(page)
        page.wait_for_timeout(600)  # charts re-lay out to the new size
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size({"width": width, "height": 900})
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path
