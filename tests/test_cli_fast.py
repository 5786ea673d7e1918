"""A fast command line (issue 10): commands that do not need the embedding model do not
load it, nor the classifiers; the model is loaded on its first encode, and then without
a progress bar unless `knownfix --progress` asks for one.

The knowledge base here names the real bundled model in its index manifest (it was built
with a stand-in of the same name and dimension), so a command that encoded anything
would load the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from errors import ModelMismatch
from indexer.encoder import BUNDLED, HashEncoder, LazyEncoder
from service.auth import SYSTEM, Users
from service.desk import Desk
from service.engine import Engine
from settings import load_settings
from tests.helpers import small_kb_records

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn")
# Runs the command line in this process, then prints which heavy modules it imported.
PROBE = """
import json, sys
from cli.main import main
args, heavy, code = json.loads(sys.argv[1]), json.loads(sys.argv[2]), 0
sys.argv = ["knownfix", *args]
try:
    main()
except SystemExit as stop:
    code = stop.code or 0
print("\\nPROBE", json.dumps({"code": code,
                              "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


class StandIn(HashEncoder):
    """Named as the bundled model, with its dimension: builds an index whose manifest
    says 'bundled model' without loading it."""

    def __init__(self) -> None:
        super().__init__(384)
        self.name = BUNDLED


@pytest.fixture(scope="module")
def bundled_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data folder whose index was built 'with the bundled model', a case in it, and
    a user: (folder, case id)."""
    folder = tmp_path_factory.mktemp("fast") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        settings = load_settings(str(folder), model=BUNDLED, vector_backend="faiss")
    desk = Desk(Engine(settings, encoder=StandIn()))
    desk.engine.upsert(small_kb_records())
    case = desk.cases.open(SYSTEM, "NVR提示硬盘错误，录像回放查不到", channel="phone")
    Users(desk.engine.kb).add(SYSTEM, "li", "password-123", "engineer")
    desk.close()
    manifest = json.loads((folder / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["model"], manifest["dim"]) == (BUNDLED, 384)
    return folder, case.id


def probe(args: list[str], folder: Path) -> tuple[dict, subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNOWNFIX_")}
    env.update(PYTHONPATH=str(ROOT), KNOWNFIX_DATA_DIR=str(folder))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                          env=env,
                          cwd=folder.parent, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("PROBE ")]
    assert line, done.stderr[-2000:]
    return json.loads(line[-1][6:]), done, seconds


@pytest.mark.parametrize("args", [
    ["case", "show", "{case}"], ["case", "show", "{case}", "--json"], ["case", "list"],
    ["case", "delay", "{case}", "--code", "B"], ["user", "list"], ["stats"], ["report"],
    ["report", "work", "--out", "{tmp}/work.xlsx"], ["export", "{tmp}/kb.csv"], ["settings"],
    ["privacy-report"], ["backup", "--out", "{tmp}/kb.zip"],
], ids=lambda a: " ".join(a))
def test_commands_that_need_no_model_do_not_load_it(bundled_kb, tmp_path, args):
    folder, case_id = bundled_kb
    args = [a.replace("{case}", case_id).replace("{tmp}", str(tmp_path)) for a in args]
    result, done, seconds = probe(args, folder)
    assert result["code"] == 0, done.stderr[-2000:]
    assert result["loaded"] == [], f"{args} loaded {result['loaded']} ({seconds:.1f} s)"
    assert "Loading weights" not in done.stderr


def test_backup_check_and_restore_do_not_load_the_model(bundled_kb, tmp_path):
    folder, _ = bundled_kb
    zip_path, target = tmp_path / "kb.zip", tmp_path / "restored" / "data"
    for args in (["backup", "--out", str(zip_path)], ["check-backup", str(zip_path)],
                 ["restore", str(zip_path), "--data-dir", str(target)],
                 ["case", "list", "--data-dir", str(target)]):
        result, done, seconds = probe(args, folder)
        assert result["code"] == 0, done.stderr[-2000:]
        assert result["loaded"] == [], f"{args} loaded {result['loaded']} ({seconds:.1f} s)"


def test_the_model_loads_on_first_encode_without_a_progress_bar(bundled_kb):
    folder, _ = bundled_kb
    result, done, _ = probe(["triage", "NVR beeps: HDD error", "--json"], folder)
    assert result["code"] == 0, done.stderr[-2000:]
    assert {"torch", "sentence_transformers"} <= set(result["loaded"])
    assert "Loading weights" not in done.stderr and "it/s]" not in done.stderr
    assert json.loads(done.stdout.split("\nPROBE ")[0])["matches"]
    shown, done, _ = probe(["--progress", "triage", "NVR beeps: HDD error"], folder)
    assert shown["code"] == 0, done.stderr[-2000:]
    assert "Loading weights" in done.stderr


# -- the lazy encoder ---------------------------------------------------------------------------
def test_the_lazy_encoder_loads_on_first_encode():
    lazy = LazyEncoder("hash:64")
    assert (lazy.name, lazy.loaded) == ("hash:64", False)
    lazy.expect_dim(64)
    assert lazy.dim == 64 and not lazy.loaded, "the dimension the index recorded serves"
    vecs = lazy.encode(["NVR disk error"])
    assert lazy.loaded and vecs.shape == (1, 64)


class CountingEncoder(HashEncoder):
    def __init__(self) -> None:
        super().__init__(64)
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64, progress=False):
        self.texts += texts
        return super().encode(texts, batch_size, progress)


def test_a_text_encoded_again_soon_is_not_computed_twice():
    """Taking in a case encodes its description for the index, triage and the duplicate
    check: the model computes it once; batches and other texts go to the model."""
    lazy, model = LazyEncoder("hash:64"), CountingEncoder()
    lazy._loaded = model
    first = lazy.encode(["门禁刷卡没反应"])
    first[0, 0] = 42.0  # a caller's changes do not reach what is remembered
    again = lazy.encode(["门禁刷卡没反应"])
    assert np.array_equal(again, model.encode(["门禁刷卡没反应"]))
    assert model.texts == ["门禁刷卡没反应", "门禁刷卡没反应"]  # the model once, the check once
    lazy.encode(["a", "b"])
    lazy.encode(["a"])
    assert model.texts[-3:] == ["a", "b", "a"]  # a batch is not remembered
    for n in range(LazyEncoder.RECENT + 1):
        lazy.encode([f"text {n}"])
    lazy.encode(["门禁刷卡没反应"])  # pushed out by newer texts: computed again
    assert model.texts[-1] == "门禁刷卡没反应"


def test_a_model_of_another_dimension_is_found_when_it_loads():
    lazy = LazyEncoder("hash:64")
    lazy.expect_dim(384)  # what an index built by another model of that name recorded
    with pytest.raises(ModelMismatch, match="384"):
        lazy.encode(["NVR disk error"])


def test_an_engine_opens_reads_and_writes_without_the_model(tmp_path):
    settings = load_settings(str(tmp_path / "data"), model="hash:256", vector_backend="numpy")
    first = Engine(settings)
    first.upsert(small_kb_records())
    first.close()
    desk = Desk(Engine(settings))
    encoder = desk.engine.encoder
    assert isinstance(encoder, LazyEncoder) and not encoder.loaded
    assert desk.engine.stats()["index"]["dim"] == 256
    desk.cases.get("C1")
    desk.cases.list()
    assert not encoder.loaded
    desk.engine.search("NVR disk error")
    assert encoder.loaded
    desk.close()
