"""One Desk (model, index, database, services) per process, shared by every session.

It loads in a background thread, started by the first script run of the process: the
sign-in page draws at once while the model and index load behind it, and the first page
that needs the Desk waits (with a spinner) only for what is left."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from service.desk import Desk
from settings import load_settings
from ui.i18n import t


def _open() -> Desk:
    desk = Desk.open(load_settings())
    desk.engine.warm()
    return desk


@st.cache_resource(show_spinner=False)
def _loading() -> Future[Desk]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knownfix-load")
    future = pool.submit(_open)
    pool.shutdown(wait=False)
    return future


def start_loading() -> None:
    """Begin loading the Desk if no session of this process has yet."""
    _loading()


def wait_loaded() -> Desk:
    """The process's Desk, once loaded.  A failed load is raised here and tried again on
    the next call."""
    try:
        return _loading().result()
    except Exception:
        _loading.clear()
        raise


def desk() -> Desk:
    """The process's Desk; a page that needs it before it is loaded shows a spinner."""
    if not _loading().done():
        with st.spinner(t("app.loading")):
            return wait_loaded()
    return wait_loaded()


def reset() -> None:
    """Forget the loaded Desk (tests; the next call loads a fresh one)."""
    _loading.clear()
