"""Import rows from a file into the knowledge base through a column mapping.

Each row either becomes a record or is reported with the reason it was not taken;
rows are written in batches, each batch one transaction, so nothing is half-written.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from errors import BadInput, MissingColumn
from kb.reader import SURPLUS, SURROGATE, open_table
from kb.records import KINDS, Record
from kb.store import KnowledgeBase

BATCH = 500


@dataclass
class ColumnMapping:
    """Which file column feeds which record field."""

    text: list[str] = field(default_factory=list)
    title: str | None = None
    fix: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    id: str | None = None
    kind: str = "case"

    def columns(self) -> list[str]:
        named = [*self.text, self.title, self.fix, self.severity, self.id, *self.labels.values()]
        return [c for c in named if c]

    def check(self, available: list[str]) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"unknown kind {self.kind!r} (use case or article)")
        if not self.text and not self.title:
            raise BadInput("map at least one text column (--text COL)")
        missing = [c for c in self.columns() if c not in available]
        if missing:
            raise MissingColumn(f"column(s) not in the file: {_names(missing)} "
                                f"(columns: {_names(available)})")


def _names(columns: list[str], most: int = 30, width: int = 40) -> str:
    """Column names for a one-line message: each cut to `width`, at most `most` of them."""
    shown = [" ".join(c.split())[:width] + ("…" if len(c) > width else "")
             for c in columns[:most]]
    more = f", … ({len(columns) - most} more)" if len(columns) > most else ""
    return ", ".join(shown) + more


def parse_label_options(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ['category=Cat', 'component'] into {'category': 'Cat', 'component': 'component'}."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, _, col = pair.partition("=")
        name, col = name.strip(), (col or name).strip()
        if not name:
            raise BadInput(f"bad label mapping {pair!r}: use NAME=COLUMN")
        out[name] = col
    return out


@dataclass
class Rejected:
    row: int
    reason: str
    values: dict[str, str]


@dataclass
class ImportReport:
    taken: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0
    encoding: str | None = None

    @property
    def rows_per_s(self) -> float:
        return self.taken / self.seconds if self.seconds > 0 else 0.0


class RowConverter:
    """Turns one file row into a Record, or raises BadInput with the reason."""

    def __init__(self, mapping: ColumnMapping, levels: list[str], default_prefix: str) -> None:
        self.m = mapping
        self.levels = {lv.casefold(): lv for lv in levels}
        self.prefix = default_prefix
        self.used = set(mapping.columns())

    def __call__(self, rowno: int, row: dict[str, str]) -> Record:
        m = self.m
        if SURPLUS in row:
            raise BadInput(f"more cells than the header has columns: {row[SURPLUS]!r}")
        text = "\n".join(v for v in (row.get(c, "").strip() for c in m.text) if v)
        title = row.get(m.title, "").strip() if m.title else ""
        if not text and not title:
            raise BadInput("empty description")
        rid = row.get(m.id, "").strip() if m.id else f"{self.prefix}-{rowno}"
        if not rid:
            raise BadInput(f"empty id in column {m.id!r}")
        severity = None
        if m.severity and row.get(m.severity, "").strip():
            raw = row[m.severity].strip()
            severity = self.levels.get(raw.casefold())
            if severity is None:
                levels = ", ".join(self.levels.values())
                raise BadInput(f"unknown severity {raw!r} (levels: {levels})")
        labels = {name: row.get(col, "").strip() for name, col in m.labels.items()}
        return Record(
            kind=m.kind, id=rid, title=title, text=text,
            fix=row.get(m.fix, "").strip() if m.fix else "",
            labels={k: v for k, v in labels.items() if v}, severity=severity,
            state="validated" if m.kind == "article" else "closed",
            extra={k: v for k, v in row.items() if k not in self.used and k and v != ""},
        )


def convert_rows(rows: Iterable[dict[str, str]], convert: RowConverter,
                 report: ImportReport) -> Iterator[Record]:
    """Yield a Record per good row; add a Rejected to the report for each bad one."""
    for rowno, row in enumerate(rows, start=1):
        cells = "".join(row.values())
        if "\x00" in cells:
            report.rejected.append(Rejected(rowno, "NUL byte in a cell", row))
            continue
        if SURROGATE.search(cells):
            report.rejected.append(Rejected(rowno, "a cell is not valid Unicode text "
                                            "(a lone surrogate)", row))
            continue
        try:
            yield convert(rowno, row)
        except BadInput as exc:
            report.rejected.append(Rejected(rowno, str(exc), row))


def import_file(kb: KnowledgeBase, path: str | Path, mapping: ColumnMapping, *,
                encoding: str | None = None, actor: str = "import",
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Read `path`, convert and upsert its rows. Returns what was taken and rejected."""
    table = open_table(path, encoding)
    mapping.check(table.columns)
    report = ImportReport(encoding=table.encoding)
    convert = RowConverter(mapping, kb.levels, Path(path).stem)
    start = time.perf_counter()
    batch: list[Record] = []
    try:
        for rec in convert_rows(table.rows, convert, report):
            batch.append(rec)
            if len(batch) >= BATCH:
                report.taken += kb.upsert(batch, actor)
                batch = []
                if progress:
                    progress(report.taken)
    except BadInput as exc:  # the file breaks off: say what the finished batches wrote
        if report.taken:
            raise type(exc)(f"{exc} ({report.taken} rows had been imported)") from exc
        raise
    if batch:
        report.taken += kb.upsert(batch, actor)
        if progress:
            progress(report.taken)
    report.seconds = time.perf_counter() - start
    return report


def write_rejects(report: ImportReport, path: str | Path) -> None:
    """Write the rejected rows, each with its row number and reason, as CSV."""
    cols: list[str] = []
    for rej in report.rejected:
        cols += [c for c in rej.values if c not in cols]
    with open(path, "w", encoding="utf-8-sig", newline="", errors="backslashreplace") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "reason", *cols])
        for rej in report.rejected:
            w.writerow([rej.row, rej.reason, *(rej.values.get(c, "") for c in cols)])
