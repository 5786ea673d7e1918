"""The bundled demo knowledge base (kb/demo/): loaded into an empty KB by `make run`."""

from __future__ import annotations

from pathlib import Path

from kb.importer import ColumnMapping, ImportReport
from service.engine import Engine

DEMO_DIR = Path(__file__).resolve().parent.parent / "kb" / "demo"
LABELS = {"category": "category", "component": "component"}

CASES = ColumnMapping(text=["description"], title="title", fix="resolution", labels=LABELS,
                      severity="severity", id="id", kind="case")
ARTICLES = ColumnMapping(text=["symptoms"], title="title", fix="resolution", labels=LABELS,
                         severity="severity", id="id", kind="article")


def load_demo(engine: Engine, only_if_empty: bool = True) -> list[ImportReport]:
    """Import the demo articles and cases; does nothing when the KB already has records."""
    counts = engine.kb.counts()
    if only_if_empty and counts["case"] + counts["article"] > 0:
        return []
    return [engine.import_file(DEMO_DIR / "articles.jsonl", ARTICLES),
            engine.import_file(DEMO_DIR / "cases.jsonl", CASES)]
