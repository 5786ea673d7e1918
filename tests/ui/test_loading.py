"""The process's Desk loads behind the first page: the sign-in page draws while it is
still loading, a page that needs it waits for it, and a failed load is tried again."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from errors import IndexCorrupt
from service.desk import Desk
from tests.ui.conftest import APP, BACKEND, MODEL
from ui import resources
from ui.i18n import MESSAGES


@pytest.fixture
def data_dir(ui_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    shutil.copytree(ui_template, data)
    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(data))
    monkeypatch.setenv("KNOWNFIX_MODEL", MODEL)
    monkeypatch.setenv("KNOWNFIX_VECTOR_BACKEND", BACKEND)
    resources.reset()
    yield data
    resources.reset()


def test_sign_in_page_draws_while_the_desk_is_still_loading(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_open = resources._open

    def held_open() -> Desk:
        assert release.wait(60), "the test never released the load"
        return real_open()

    monkeypatch.setattr(resources, "_open", held_open)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception
    assert [h.value for h in at.header] == [MESSAGES["signin.header"][1]]
    assert not resources._loading().done()  # drawn without waiting for the load
    release.set()
    desk = resources.wait_loaded()
    try:
        assert desk.engine._triage_with().learner.models is not None  # warmed: trained
        assert desk.users.get("agent").role == "first_line"
    finally:
        desk.close()


def test_a_failed_load_is_raised_then_tried_again(data_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = resources._open
    calls = []

    def flaky_open() -> Desk:
        calls.append(1)
        if len(calls) == 1:
            raise IndexCorrupt("index unreadable: run `knownfix reindex`")
        return real_open()

    monkeypatch.setattr(resources, "_open", flaky_open)
    with pytest.raises(IndexCorrupt, match="knownfix reindex"):
        resources.wait_loaded()
    desk = resources.wait_loaded()
    try:
        assert len(calls) == 2
        assert resources.desk() is desk  # loaded once, then shared
    finally:
        desk.close()
