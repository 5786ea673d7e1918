"""service/migrate.py: changing the embedding model without taking search down.

The two "models" are the hashing encoders hash:256 (current) and hash:128 (new): the new
index is built beside the old one while search answers from the old one, an interrupted
build (an exception, or a child process killed with SIGKILL) resumes from its last
checkpoint, and the switch changes model and index folder together, atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from errors import BadInput
from indexer.encoder import HashEncoder
from indexer.index import Index
from kb.records import Record
from service.engine import Engine
from service.migrate import STATE_FILE, ModelMigration, folder_for, migration_status
from settings import load_settings

REPO = Path(__file__).resolve().parents[2]
WORDS = ["nvr", "disk", "camera", "offline", "licence", "expired", "ups", "smoke", "switch",
         "port", "fan", "noise", "screen", "flicker", "battery", "charger", "power", "reboot"]


def records(n: int, start: int = 0) -> list[Record]:
    out = []
    for i in range(start, start + n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4)]
        out.append(Record("case", f"R{i}", text=f"{' '.join(words)} fault {i}",
                          fix=f"fix {i}", labels={"category": words[0]}, state="closed"))
    return out


class CountingEncoder(HashEncoder):
    """hash:128 that counts the texts it encodes, optionally slowly or failing."""

    def __init__(self, delay: float = 0.0, fail_after: int | None = None) -> None:
        super().__init__(128)
        self.texts = 0
        self.calls = 0
        self.delay = delay
        self.fail_after = fail_after

    def encode(self, texts, batch_size=64, progress=False):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        if self.delay:
            time.sleep(self.delay)
        self.texts += len(texts)
        return super().encode(texts, batch_size, progress)


@pytest.fixture
def settings(data_dir):
    """hash:256 + NumPy, stored in settings.json (the migration rewrites that file)."""
    data_dir.mkdir(parents=True)
    (data_dir / "settings.json").write_text(json.dumps(
        {"model": "hash:256", "vector_backend": "numpy"}), encoding="utf-8")
    return load_settings(str(data_dir))


@pytest.fixture
def engine(settings):
    eng = Engine(settings)
    eng.upsert(records(300))
    eng.save()
    yield eng
    eng.close()


@pytest.fixture
def prepared(settings):
    """The same data folder, with no engine left open (for other processes)."""
    eng = Engine(settings)
    eng.upsert(records(300))
    eng.close()
    return settings


def keys(results) -> list[str]:
    return [r.hit.key for r in results]


def test_folder_names_are_per_model_and_never_the_current_one():
    a, b = folder_for("hash:128"), folder_for("bundled:all-MiniLM-L6-v2")
    assert a != b and a.startswith("index-hash-128-") and "/" not in b
    assert folder_for("hash:128", avoid=a) != a


def test_switch_changes_model_and_index_together(engine, settings):
    before = keys(engine.search("nvr disk camera offline fault 12"))
    old_dir = settings.index_dir
    migration = ModelMigration(settings, "hash:128")
    assert migration.run(engine) is True
    # the running engine now answers with the new model and the new folder
    assert engine.encoder.name == "hash:128" and engine.encoder.dim == 128
    assert engine.settings.index_name == migration.status.index_name
    assert keys(engine.search("nvr disk camera offline fault 12"))[0] == before[0]
    # so does every process started from now on
    stored = load_settings(settings.data_dir)
    assert (stored.model, stored.index_name) == ("hash:128", migration.status.index_name)
    assert stored.vector_backend == "numpy"  # other stored settings are kept
    fresh = Engine(stored)
    try:
        assert fresh.stats()["index"]["count"] == 300 and fresh.encoder.name == "hash:128"
        assert keys(fresh.search("nvr disk camera offline fault 12"))[0] == before[0]
    finally:
        fresh.close()
    assert not old_dir.exists()  # the old index folder is removed after the switch
    status = migration_status(stored)
    assert status["state"] == "switched" and status["percent"] == 100.0


def test_search_answers_from_the_old_index_during_the_build(engine, settings):
    slow = CountingEncoder(delay=0.05)
    migration = ModelMigration(settings, "hash:128", encoder=slow, chunk=10,
                               checkpoint_seconds=0.2)
    seen: list[tuple[str, str, list[str]]] = []
    thread = migration.start(engine)
    deadline = time.monotonic() + 60
    while thread.is_alive() and time.monotonic() < deadline:
        model = engine.encoder.name
        found = keys(engine.search("licence expired ups smoke"))
        seen.append((model, migration.status.state, found))
        if len(seen) == 5:  # while it builds, records keep changing: the build sees them
            engine.upsert([Record("case", "NEW", text="brand new fan noise screen flicker",
                                  fix="replaced the fan", state="closed")])
    thread.join(60)
    assert not thread.is_alive() and migration.status.state == "switched", migration.status
    during = [s for s in seen if s[1] == "building"]
    assert len(during) >= 5, "the build finished too fast to observe"
    assert all(model == "hash:256" and found for model, _, found in during)
    assert engine.encoder.name == "hash:128"
    assert keys(engine.search("brand new fan noise screen flicker"))[0] == "case:NEW"
    assert engine.stats()["index"]["count"] == 301


def test_an_interrupted_build_resumes_where_it_stopped(engine, settings):
    crashing = CountingEncoder(fail_after=12)
    first = ModelMigration(settings, "hash:128", encoder=crashing, chunk=10,
                           checkpoint_seconds=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        first.build()
    state = json.loads((Path(settings.data_dir) / STATE_FILE).read_text("utf-8"))
    assert state["state"] == "failed" and 0 < state["done"] < 300
    partial = json.loads((first.folder / "manifest.json").read_text("utf-8"))
    assert 0 < partial["count"] < 300
    # meanwhile search still works on the old index, and the KB changes
    assert load_settings(settings.data_dir).model == "hash:256"
    assert keys(engine.search("nvr disk"))
    engine.upsert([Record("case", "R3", text="rewritten: charger battery power",
                          state="closed")])
    engine.kb.delete("case", "R5")

    again = CountingEncoder()
    second = ModelMigration(settings, "hash:128", encoder=again, chunk=10,
                            checkpoint_seconds=0)
    assert second.folder == first.folder  # same folder: it resumes
    assert second.build() is True
    # only what was not indexed yet was encoded again (+ the rewritten record)
    assert again.texts <= 300 - partial["count"] + 1
    # and the result equals a build from scratch
    full = Index(Path(settings.data_dir) / "scratch", HashEncoder(128), "numpy")
    full.rebuild(engine.kb)
    assert set(second.index.key_to_id) == set(full.key_to_id)
    assert "case:R5" not in second.index and "case:R3" in second.index
    for q in ["charger battery power", "nvr disk camera", "licence expired fault 40"]:
        got = [(h.key, round(h.score, 4)) for h in second.index.search(q, 10)]
        assert got == [(h.key, round(h.score, 4)) for h in full.search(q, 10)], q
    second.switch(engine)
    assert engine.encoder.name == "hash:128"


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from indexer.encoder import HashEncoder
from service.migrate import ModelMigration
from settings import load_settings

class Slow(HashEncoder):
    def encode(self, texts, batch_size=64, progress=False):
        time.sleep(0.05)
        return super().encode(texts, batch_size, progress)

ModelMigration(load_settings({data!r}), "hash:128", encoder=Slow(128), chunk=10,
               checkpoint_seconds=0).run()
"""


def test_a_killed_build_resumes(prepared):
    """SIGKILL a child process in the middle of the build, then resume it here."""
    settings = prepared
    code = CHILD.format(repo=str(REPO), data=settings.data_dir)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    state_file = Path(settings.data_dir) / STATE_FILE
    deadline = time.monotonic() + 120
    state: dict = {}
    while time.monotonic() < deadline and child.poll() is None:
        try:
            state = json.loads(state_file.read_text("utf-8"))
        except (OSError, ValueError):
            state = {}
        if state.get("done", 0) >= 60:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the child finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert load_settings(settings.data_dir).model == "hash:256"  # not switched
    counting = CountingEncoder()
    resumed = ModelMigration(settings, "hash:128", encoder=counting, chunk=10)
    assert resumed.build() is True
    assert counting.texts < 300  # it did not start over
    assert len(resumed.index) == 300
    resumed.switch()
    after = Engine(load_settings(settings.data_dir))
    try:
        assert after.encoder.name == "hash:128" and after.stats()["index"]["count"] == 300
        assert keys(after.search("nvr disk camera offline fault 12"))
    finally:
        after.close()


def test_the_switch_is_atomic(engine, settings, monkeypatch):
    migration = ModelMigration(settings, "hash:128")
    assert migration.build() is True
    new_name = migration.status.index_name
    pairs = {("hash:256", "index"), ("hash:128", new_name)}
    # readers polling settings.json see the old pair or the new pair, never a mix
    stop, bad, reads = threading.Event(), [], [0]

    def reader() -> None:
        while not stop.is_set():
            s = load_settings(settings.data_dir)
            reads[0] += 1
            if (s.model, s.index_name) not in pairs:
                bad.append((s.model, s.index_name))

    # a failure before the replace changes nothing: old model, old index, still serving
    real_replace = os.replace

    def failing(src, dst):
        if Path(dst).name == "settings.json":
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        migration.switch(engine)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (load_settings(settings.data_dir).model, engine.encoder.name) == \
        ("hash:256", "hash:256")
    assert settings.index_dir.is_dir() and keys(engine.search("nvr disk"))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    migration.switch(engine)
    time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert not bad and reads[0] > 2
    assert (load_settings(settings.data_dir).model, engine.encoder.name) == \
        ("hash:128", "hash:128")


def test_rebuilding_the_same_model_without_downtime(engine, settings):
    first = ModelMigration(settings, "hash:256")
    assert first.run(engine)
    name1 = engine.settings.index_name
    assert name1 != "index" and engine.encoder.name == "hash:256"
    second = ModelMigration(engine.settings, "hash:256")
    assert second.folder.name != name1  # never builds into the folder in use
    assert second.run(engine)
    assert engine.stats()["index"]["count"] == 300 and keys(engine.search("ups smoke"))
    assert sorted(p.name for p in Path(settings.data_dir).iterdir() if p.is_dir()) == \
        [engine.settings.index_name]


def test_environment_override_is_refused(settings, monkeypatch):
    monkeypatch.setenv("KNOWNFIX_MODEL", "hash:256")
    with pytest.raises(BadInput, match="KNOWNFIX_MODEL"):
        ModelMigration(settings, "hash:128")


def test_cli_reindex_model(prepared):
    from cli.main import app

    settings = prepared
    result = CliRunner().invoke(app, ["reindex", "--model", "hash:128", "--data-dir",
                                      settings.data_dir])
    assert result.exit_code == 0, result.output
    assert "indexed 300 records with hash:128" in result.stdout
    result = CliRunner().invoke(app, ["search", "licence expired", "--json", "--data-dir",
                                      settings.data_dir])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)
    bad = CliRunner().invoke(app, ["reindex", "--model", "no/such-model-here", "--data-dir",
                                   settings.data_dir])
    assert bad.exit_code == 1 and "no/such-model-here" in bad.stderr
    assert load_settings(settings.data_dir).model == "hash:128"
