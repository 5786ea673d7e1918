"""triage/tuning.py and the Engine's tuning: the knowledge base chooses its quality
settings on its own time-ordered history, leaves pinned settings alone, keeps the
choice across a restart and a reindex, and never looks at an evaluation's TEST rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb.importer import ColumnMapping
from service.engine import Engine
from service.evaluate import EvalSpec, evaluate
from settings import load_settings
from tests.helpers import FIXTURES, small_kb_records
from triage.params import TriageParams
from triage.tuning import MIN_RECORDS, windows

INCIDENTS = FIXTURES / "incidents_zh.csv"
LEVELS = "三级,二级,一级"
MAPPING = dict(text=["故障表述"], fix="处理记录", severity="严重程度", id="工单号",
               labels={"category": "类别", "component": "部件", "cause": "原因"})


def zh_engine(folder: Path, **settings) -> Engine:
    """The hashing encoder reads no language at all: a stand-in for an embedding model
    that cannot read Chinese."""
    s = load_settings(str(folder), model="hash:256", vector_backend="numpy",
                      severity_levels=LEVELS, **settings)
    return Engine(s, background=False)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Iterator[Engine]:
    """The Chinese incident history imported and tuned once for the module."""
    engine = zh_engine(tmp_path_factory.mktemp("tuned"))
    engine.import_file(INCIDENTS, ColumnMapping(**MAPPING))
    engine.tune()
    yield engine
    engine.close()


def test_windows_cover_the_newest_part_of_the_history_in_order():
    for n in (200, 2000, 20000):
        slices = windows(n)
        assert slices[-1][1] == pytest.approx(1.0)
        assert all(a < b for a, b in slices)
        assert all(slices[i][1] == pytest.approx(slices[i + 1][0])
                   for i in range(len(slices) - 1))
    assert len(windows(200)) > len(windows(20000))


def test_too_little_history_keeps_the_defaults_and_says_so(tmp_path):
    engine = Engine(load_settings(str(tmp_path), model="hash:256", vector_backend="numpy"),
                    background=False)
    try:
        engine.upsert(small_kb_records())
        result = engine.tune()
        assert result.status == "too_little_history"
        assert str(MIN_RECORDS) in result.note and result.chosen == {}
        assert engine.params == TriageParams.from_settings(engine.settings)
    finally:
        engine.close()


def test_tuning_an_unreadable_language_moves_weight_to_the_words(tuned):
    t = tuned.tuning
    assert t.status == "tuned" and t.labelled == 420
    # the encoder cannot read Chinese: Chinese queries lean on the lexical side
    assert t.chosen["fusion"]["cjk"] <= 0.3
    assert tuned._index.ranking.fusion["cjk"] == t.chosen["fusion"]["cjk"]
    assert t.after["hit@5"] >= t.before["hit@5"]
    assert set(t.after["accuracy"]) == {"category", "component", "cause"}
    assert t.validation["relevant_by"] == "cause"
    assert 0 < t.validation["queries"] < 420


def test_severity_cutoffs_reach_the_recall_asked_for_on_the_validation_records(tuned):
    after = tuned.tuning.after["severity"]
    assert set(tuned.params.severity_cutoffs) == {"二级", "一级"}
    assert after["top_recall"] >= tuned.settings.top_severity_recall
    assert after["over_rated_at_top"] is not None  # the price is reported


def test_thresholds_are_chosen_for_the_precision_asked_for(tuned):
    chosen = tuned.tuning.chosen
    assert 0.05 <= chosen["match_threshold"] <= 0.99
    assert 0.05 <= chosen["confidence_threshold"] <= 0.99
    assert tuned._triage_with().params.match_threshold == chosen["match_threshold"]


def test_a_pinned_setting_is_not_tuned_and_the_tuning_survives_a_restart_and_a_reindex(
        tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"fusion_weight": 0.7,
                                                        "label_boost": 0.3}))
    engine = zh_engine(tmp_path)
    engine.import_file(INCIDENTS, ColumnMapping(**MAPPING))
    result = engine.tune()
    assert result.status == "tuned"
    assert "fusion" not in result.chosen and "label_boost" not in result.chosen
    assert set(result.pinned) == {"fusion", "label_boost"}
    assert engine.params.fusion == {"latin": 0.7, "cjk": 0.7}
    assert engine.params.label_boost == 0.3
    assert engine._index.ranking.fusion == {"latin": 0.7, "cjk": 0.7}
    chosen, params = result.chosen, engine.params
    engine.close()
    again = zh_engine(tmp_path)
    try:
        assert again.tuning.chosen == chosen and again.params == params
        again.reindex()
        assert again.params == params and again._index.ranking == params.ranking
        manifest = json.loads((Path(again.settings.index_dir) / "manifest.json").read_text())
        assert manifest["tuning"]["chosen"] == chosen
    finally:
        again.close()


def test_an_import_tunes_in_the_background_when_history_has_grown(tmp_path):
    s = load_settings(str(tmp_path), model="hash:256", vector_backend="numpy",
                      severity_levels=LEVELS)
    engine = Engine(s)  # a server's engine: tuning may start by itself
    try:
        engine.import_file(INCIDENTS, ColumnMapping(**MAPPING))
        engine.wait_for_tuning()
        assert engine.tuning is not None and engine.tuning.labelled == 420
        # nothing new to learn from: no second tuning
        assert engine.maybe_tune() is False
    finally:
        engine.close()


def split(tmp_path: Path) -> tuple[Path, Path, int]:
    rows = list(csv.DictReader(INCIDENTS.open(encoding="utf-8")))
    cut = int(len(rows) * 0.8)
    paths = []
    for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
        path = tmp_path / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)
        paths.append(path)
    return paths[0], paths[1], cut


def test_evaluate_tune_reads_only_train(tmp_path):
    train, test, n_train = split(tmp_path)
    s = load_settings(str(tmp_path / "d"), model="hash:256", vector_backend="numpy",
                      severity_levels=LEVELS)
    spec = EvalSpec(str(train), str(test), ColumnMapping(**{**MAPPING, "id": None}),
                    relevant_by="原因", tune=True)
    result = evaluate(spec, s)
    tuned = result["tuned"]
    # everything tuning saw came from TRAIN: its records and its validation slices
    assert tuned["labelled"] == n_train == result["train"]["rows"]
    assert tuned["validation"]["queries"] + tuned["validation"]["teach"][0] <= n_train
    plain = evaluate(EvalSpec(str(train), str(test), spec.mapping, relevant_by="原因"), s)
    assert "tuned" not in plain
    assert result["retrieval"]["hit@5"] >= plain["retrieval"]["hit@5"]


def test_knownfix_tune_and_dry_run_on_the_command_line(tmp_path):
    runner = CliRunner()
    data = str(tmp_path / "kb")
    env = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy",
           "KNOWNFIX_SEVERITY_LEVELS": LEVELS, "KNOWNFIX_AUTO_TUNE": "false"}
    got = runner.invoke(app, ["import", str(INCIDENTS), "--text", "故障表述", "--label",
                              "cause=原因", "--severity", "严重程度", "--data-dir", data],
                        env=env)
    assert got.exit_code == 0, got.output
    dry = runner.invoke(app, ["tune", "--dry-run", "--data-dir", data], env=env)
    assert dry.exit_code == 0 and "would choose" in dry.output and "stored: none" in dry.output
    untouched = runner.invoke(app, ["stats", "--json", "--data-dir", data], env=env)
    assert json.loads(untouched.output)["tuning"] is None  # a dry run stores nothing
    done = runner.invoke(app, ["tune", "--json", "--data-dir", data], env=env)
    assert done.exit_code == 0
    assert json.loads(done.output)["result"]["status"] == "tuned"
    stats = runner.invoke(app, ["stats", "--json", "--data-dir", data], env=env)
    assert json.loads(stats.output)["tuning"]["status"] == "tuned"
