"""Fixtures for the Streamlit page tests (streamlit.testing AppTest).

The app reads its settings from KNOWNFIX_* variables and keeps one Desk per process in
st.cache_resource; AppTest runs the scripts in this process, so a test and the app share
that Desk.  Every test gets its own copy of a data folder built once per session: the demo
KB (hashing encoder, NumPy backend), the demo users, an open case and a closed one whose
drafted article waits for review.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from service import auth
from service.demo import DEMO_PASSWORD, ensure_demo_users, load_demo, load_demo_names
from service.desk import Desk
from settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
MODEL, BACKEND = "hash:256", "numpy"
OPEN_FAULT = "仓库摄像机每天掉线几次，IP地址与打印机冲突"
CLOSED_FAULT = "客户端安装报错0x8007045D，安装包复制到本地后仍失败"


def page_path(name: str) -> str:
    """The script of page `name`, absolute (AppTest resolves page paths from the cwd)."""
    return str(ROOT / "ui" / "pages" / f"{name}.py")


@pytest.fixture(scope="session")
def ui_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo KB and users, one open and one closed case."""
    path = tmp_path_factory.mktemp("ui-template") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        desk = Desk.open(load_settings(str(path), model=MODEL, vector_backend=BACKEND))
        # cheap Argon2 parameters for the demo users: verifying reads them from the stored
        # hash, so each sign-in in the tests costs milliseconds, not a third of a second
        mp.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                   parallelism=1))
        try:
            load_demo(desk.engine)
            load_demo_names(desk.names)
            ensure_demo_users(desk.users)
            agent = desk.users.get("agent")
            desk.cases.open(agent, OPEN_FAULT, title="仓库摄像机掉线", channel="phone",
                            customer="华东物流", contact="赵先生 13700001111")
            closed = desk.cases.open(agent, CLOSED_FAULT, channel="email")
            desk.cases.resolve(agent, closed.id, "以管理员身份运行安装程序", cause="权限不足")
            desk.cases.close(agent, closed.id)
        finally:
            desk.close()
    return path


@pytest.fixture
def ui_desk(ui_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Desk]:
    """The app's own Desk (ui.resources.desk) over a fresh copy of the template."""
    from ui import resources

    data = tmp_path / "data"
    shutil.copytree(ui_template, data)
    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(data))
    monkeypatch.setenv("KNOWNFIX_MODEL", MODEL)
    monkeypatch.setenv("KNOWNFIX_VECTOR_BACKEND", BACKEND)
    resources.reset()
    desk = resources.desk()
    assert Path(desk.engine.settings.data_dir) == data
    yield desk
    desk.close()
    resources.reset()


@pytest.fixture
def open_app(ui_desk: Desk, monkeypatch: pytest.MonkeyPatch):
    """open_app(user=None, lang="zh", script=APP): an AppTest after its first run, signed
    in as `user` (a session token in session state, as the sign-in page leaves it)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from ui import i18n

    latest: list[AppTest] = []
    in_script = i18n.lang

    def lang() -> str:
        # AppTest calls widgets' format_func (t(...)) in the test's thread too, outside the
        # script run, where st.session_state is not the app's: use the app's language there
        if get_script_run_ctx(suppress_warning=True) is None and latest:
            return latest[-1].session_state.get("lang", "zh")
        return in_script()

    monkeypatch.setattr(i18n, "lang", lang)

    def start(user: str | None = None, lang: str = "zh", script: Path | str = APP) -> AppTest:
        at = AppTest.from_file(str(script), default_timeout=30)
        latest.append(at)
        at.session_state["lang"] = lang
        if user:
            at.session_state["token"] = ui_desk.users.sign_in(user, DEMO_PASSWORD)
        return at.run()

    return start
