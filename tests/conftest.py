"""Shared fixtures.

Fast tests use the hashing encoder ("hash:256") and the NumPy vector backend; tests
marked `model` share one engine with the real bundled model and the demo KB, built once
per session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.encoder import BUNDLED
from service.engine import Engine
from settings import Settings, load_settings
from tests.helpers import ZH_LEVELS, small_kb_records

# The server's own zone (the `timezone` setting's default, zones.server_zone) is UTC in
# the tests, wherever the developer's machine is; a test that wants another sets it.
os.environ["TZ"] = "UTC"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own KNOWNFIX_* variables must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("KNOWNFIX_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator:
    """This worker's own PostgreSQL server (tests/postgres.py), or a skip saying why
    there can be none here."""
    from tests.postgres import Cluster

    reason = Cluster.missing()
    if reason:
        pytest.skip(reason)
    cluster = Cluster()
    yield cluster
    cluster.stop()


STORES = ["sqlite", "postgresql"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a contract test's knowledge base lives: once a SQLite file, once a fresh
    database on the tests' own PostgreSQL.  The same test runs against both stores."""
    if request.param == "sqlite":
        return str(tmp_path / "kb.db")
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module", params=STORES)
def module_store(request: pytest.FixtureRequest) -> str:
    """For a module that builds one world for all its tests (the replay, the role
    matrix): the `database_url` to build it on, once "" (SQLite in its data folder) and
    once a fresh database on the tests' own PostgreSQL.  Every test runs on both."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """The `database_url` of the tests' settings: empty (SQLite in the data folder),
    or with TEST_STORE=postgresql in the environment a fresh database on the tests'
    own PostgreSQL, so any test module can be run on that store."""
    if os.environ.get("TEST_STORE", "sqlite") != "postgresql":
        return ""
    url = request.getfixturevalue("pg_cluster").new_database()
    # the CLI run in the test's process reads its settings from the environment
    request.getfixturevalue("monkeypatch").setenv("KNOWNFIX_DATABASE_URL", url)
    return url


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return load_settings(str(data_dir), model="hash:256", vector_backend="numpy",
                         database_url=database_url or None)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = Engine(settings)
    yield eng
    eng.close()


@pytest.fixture
def small_engine(engine: Engine) -> Engine:
    """The fast engine holding small_kb_records()."""
    engine.upsert(small_kb_records())
    return engine


@pytest.fixture
def zh_settings(data_dir: Path) -> Settings:
    """Fast settings on the Chinese severity scale of fixtures/cases_zh.csv."""
    return load_settings(str(data_dir), model="hash:256", vector_backend="numpy",
                         severity_levels=ZH_LEVELS)


@pytest.fixture
def receiver():
    """A webhook receiver on loopback for one test (tests/service/notify_servers.py)."""
    from tests.service.notify_servers import Receiver

    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The real bundled model, FAISS and the demo KB; loaded once per session."""
    from service.demo import load_demo

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        s = load_settings(str(tmp_path_factory.mktemp("demo")), model=BUNDLED,
                          vector_backend="faiss")
    eng = Engine(s)
    load_demo(eng)
    yield eng
    eng.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes minutes; tests/hostile runs these only "
                            "with `-m slow`")


@pytest.fixture
def kf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `knownfix ARGS...` in this process on a small KB in tmp_path / "data" (fast
    encoder and index, no background tuning): `kf(*args, ok=True, input=None)` returns
    typer's result, and asserts exit code 0 unless `ok=False`."""
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("KNOWNFIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KNOWNFIX_MODEL", "hash:256")
    monkeypatch.setenv("KNOWNFIX_VECTOR_BACKEND", "numpy")
    monkeypatch.setenv("KNOWNFIX_AUTO_TUNE", "false")
    engine = Engine(load_settings())
    engine.upsert(small_kb_records())
    engine.close()
    runner = CliRunner()

    def run(*args: object, ok: bool = True, input: str | None = None):
        result = runner.invoke(app, [str(a) for a in args], input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run
