"""triage/learner.py: the classifiers learn from at most TRAIN_MAX records (every article,
then the newest cases), so the first triage stays bounded on a very large KB."""

from __future__ import annotations

from kb.records import Record
from triage import learner


def test_training_keeps_articles_and_the_newest_cases(engine, monkeypatch):
    engine.upsert([Record("article", "A1", text="UPS smoke and burning smell", fix="cut power",
                          labels={"category": "power"}, state="validated")])
    engine.upsert([Record("case", f"C{i}", text=f"camera {i} offline again", fix="reboot",
                          labels={"category": "network" if i < 20 else "storage"},
                          state="closed") for i in range(30)])
    monkeypatch.setattr(learner, "TRAIN_MAX", 8)
    models = learner.train(engine.kb, engine._index)
    assert models.sizes["category"] == 8
    # the newest 7 cases are all "storage"; with the article, both classes it saw
    assert set(models.classifiers["category"].classes) == {"power", "storage"}
    monkeypatch.setattr(learner, "TRAIN_MAX", 1000)
    assert learner.train(engine.kb, engine._index).sizes["category"] == 31
