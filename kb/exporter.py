"""Write the knowledge base back to CSV (the same columns `knownfix import` can read)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from kb.store import KnowledgeBase

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FIELDS = ("kind", "id", "title", "text", "fix", "severity", "state")
_STAMPS = ("created_at", "updated_at")


def safe_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing a quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(kb: KnowledgeBase, out: str | Path | TextIO, kind: str | None = None) -> int:
    """Write every record (or every record of one kind); returns the number of rows."""
    records = kb.records(kind)
    label_cols = sorted({_label_col(f) for r in records for f in r.labels})
    extra_cols = sorted({_extra_col(c, label_cols) for r in records for c in r.extra})
    header = [*_FIELDS, *label_cols, *extra_cols, *_STAMPS]
    if not isinstance(out, str | Path):
        _write(out, header, records, label_cols)
    else:
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            _write(fh, header, records, label_cols)
    return len(records)


def _label_col(name: str) -> str:
    """A label's column; prefixed when it would clash with a record field."""
    return f"label:{name}" if name in _FIELDS or name in _STAMPS else name


def _extra_col(name: str, label_cols: list[str]) -> str:
    """An extra column's name; prefixed when it would clash with a field or a label."""
    clash = name in _FIELDS or name in _STAMPS or name in label_cols
    return f"extra:{name}" if clash else name


def _write(fh: TextIO, header: list[str], records: list, label_cols: list[str]) -> None:
    w = csv.writer(fh)
    w.writerow(header)
    for r in records:
        base = {**{_extra_col(c, label_cols): v for c, v in r.extra.items()},
                **{_label_col(f): v for f, v in r.labels.items()},
                "kind": r.kind, "id": r.id, "title": r.title, "text": r.text, "fix": r.fix,
                "severity": r.severity or "", "state": r.state or "",
                "created_at": r.created_at or "", "updated_at": r.updated_at or ""}
        w.writerow([safe_cell(str(base.get(c, ""))) for c in header])
