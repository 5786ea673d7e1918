"""Shared set-up for the reliability tests: a seeded data folder, the environment the
child processes run in, and a way to print measurements into the test output.

A test taking `seeded_kb` runs on both stores (issue 14): once with the knowledge base
in the data folder's SQLite file, once in a fresh database on the tests' own
PostgreSQL (`pg_cluster`); the data folder holds the index either way."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from service.engine import Engine
from settings import Settings, load_settings
from tests.conftest import STORES
from tests.helpers import small_kb_records

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).with_name("workers.py")
PYTHON = sys.executable
FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "faiss"}


def fast_settings(data_dir: str | Path, database_url: str = "") -> Settings:
    """The settings the children use: the hashing encoder and FAISS (real index files);
    the knowledge base in the data folder, or at `database_url`."""
    return load_settings(str(data_dir), model=FAST["KNOWNFIX_MODEL"],
                         vector_backend=FAST["KNOWNFIX_VECTOR_BACKEND"],
                         database_url=database_url or None)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNOWNFIX_")}
    env.update(FAST)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def seed(data_dir: Path, database_url: str = "") -> Path:
    """A data folder holding the small labelled KB (in the folder, or at `database_url`),
    its index saved; returns the folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir.parent / "work").mkdir(exist_ok=True)
    engine = Engine(fast_settings(data_dir, database_url), background=False)
    engine.upsert(small_kb_records())
    engine.save()
    engine.close()
    return data_dir


class ForkServer:
    """workers.py serve: forks warm children on request and reaps them."""

    def __init__(self, log: Path) -> None:
        self.log = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([PYTHON, str(WORKERS), "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=child_env())
        assert self._answer() == "ready"

    def _answer(self) -> str:
        line = self.proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"the fork server stopped (see {self.log.name})")
        return line

    def _ask(self, command: str) -> str:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def fork(self, op: str, seed: int, data_dir: Path, database_url: str = "") -> int:
        """A child doing `op` on `data_dir` (and the knowledge base at `database_url`)."""
        return int(self._ask(f"fork {op} {seed} {data_dir} {database_url}".rstrip())
                   .split()[1])

    def wait(self, pid: int) -> int:
        return int(self._ask(f"wait {pid}").split()[1])

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self.log.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    return seed(tmp_path / "data")


@dataclass(frozen=True)
class Seeded:
    """A seeded data folder and where its knowledge base is: `url` empty (the SQLite file
    in the folder) or a PostgreSQL database."""

    data: Path
    url: str = ""

    @property
    def settings(self) -> Settings:
        return fast_settings(self.data, self.url)

    @property
    def database(self) -> str:
        """The knowledge base's location: the SQLite file's path or the URL."""
        return self.settings.database

    @property
    def store(self) -> str:
        return "postgresql" if self.url else "sqlite"

    @property
    def work(self) -> Path:
        """The children's scratch folder (progress and error logs, import files)."""
        return self.data.parent / "work"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    """The `database_url` of a test that runs on both stores: empty (SQLite in the data
    folder), or a fresh database on the tests' own PostgreSQL."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def seeded_kb(tmp_path: Path, store: str) -> Seeded:
    """`seeded` on each store in turn."""
    return Seeded(seed(tmp_path / "data", store), store)


@pytest.fixture
def report(capsys: pytest.CaptureFixture) -> Callable[[str], None]:
    """Print a line into the test output even when pytest captures output."""
    def show(line: str) -> None:
        with capsys.disabled():
            print(f"\n[reliability] {line}", end="", flush=True)
    return show


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
