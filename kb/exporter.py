"""Write the knowledge base back to CSV (the same columns `knownfix import` can read)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from kb.store import KnowledgeBase

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing a quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(kb: KnowledgeBase, out: str | Path | TextIO, kind: str | None = None) -> int:
    """Write every record (or every record of one kind); returns the number of rows."""
    records = kb.records(kind)
    label_cols = sorted({f for r in records for f in r.labels})
    extra_cols = sorted({c for r in records for c in r.extra})
    header = ["kind", "id", "title", "text", "fix", "severity", "state", *label_cols,
              *(c for c in extra_cols if c not in label_cols), "created_at", "updated_at"]
    if not isinstance(out, str | Path):
        _write(out, header, records)
    else:
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            _write(fh, header, records)
    return len(records)


def _write(fh: TextIO, header: list[str], records: list) -> None:
    w = csv.writer(fh)
    w.writerow(header)
    for r in records:
        base = {"kind": r.kind, "id": r.id, "title": r.title, "text": r.text, "fix": r.fix,
                "severity": r.severity or "", "state": r.state or "",
                "created_at": r.created_at or "", "updated_at": r.updated_at or "",
                **r.extra, **r.labels}
        w.writerow([safe_cell(str(base.get(c, ""))) for c in header])
