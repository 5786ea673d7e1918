"""The knowledge base: cases, articles, labels, links and events in SQLite."""

from kb.importer import ColumnMapping, ImportReport, import_file
from kb.records import Record
from kb.store import KnowledgeBase

__all__ = ["ColumnMapping", "ImportReport", "KnowledgeBase", "Record", "import_file"]
