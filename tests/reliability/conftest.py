"""Shared set-up for the reliability tests: a seeded data folder, the environment the
child processes run in, and a way to print measurements into the test output."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from service.engine import Engine
from settings import Settings, load_settings
from tests.helpers import small_kb_records

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).with_name("workers.py")
PYTHON = sys.executable
FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "faiss"}


def fast_settings(data_dir: str | Path) -> Settings:
    """The settings the children use: the hashing encoder and FAISS (real index files)."""
    return load_settings(str(data_dir), model=FAST["KNOWNFIX_MODEL"],
                         vector_backend=FAST["KNOWNFIX_VECTOR_BACKEND"])


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNOWNFIX_")}
    env.update(FAST)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def seed(data_dir: Path) -> Path:
    """A data folder holding the small labelled KB, its index saved; returns it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir.parent / "work").mkdir(exist_ok=True)
    engine = Engine(fast_settings(data_dir))
    engine.upsert(small_kb_records())
    engine.save()
    engine.close()
    return data_dir


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    return seed(tmp_path / "data")


@pytest.fixture
def report(capsys: pytest.CaptureFixture) -> Callable[[str], None]:
    """Print a line into the test output even when pytest captures output."""
    def show(line: str) -> None:
        with capsys.disabled():
            print(f"\n[reliability] {line}", end="", flush=True)
    return show


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
