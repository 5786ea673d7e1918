"""The knowledge base: cases, articles, labels, links and events in SQLite.

The names below are imported on first use, so importing one part of the package (say
kb.records) does not load the others (the file readers)."""

from __future__ import annotations

from importlib import import_module

_WHERE = {"ColumnMapping": "kb.importer", "ImportReport": "kb.importer",
          "import_file": "kb.importer", "Record": "kb.records", "KnowledgeBase": "kb.store"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'kb' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
