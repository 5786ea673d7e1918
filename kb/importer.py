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
from typing import TypeVar

from errors import BadInput, KnownFixError, MissingColumn, UnknownLabel
from kb.exporter import is_export_header, unguard_cell
from kb.reader import SURPLUS, SURROGATE, open_table
from kb.records import KINDS, STATES, Record
from kb.store import KnowledgeBase

BATCH = 500
T = TypeVar("T")


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
    # a file's severity value -> a level of the scale ({'高': 'high'}); --severity-map
    severity_map: dict[str, str] = field(default_factory=dict)

    def columns(self) -> list[str]:
        named = [*self.text, self.title, self.fix, self.severity, self.id, *self.labels.values()]
        return [c for c in named if c]

    def check(self, available: list[str], levels: list[str] | None = None,
              header_row: int = 1) -> None:
        """BadInput unless the mapping fits the file's columns and the severity scale."""
        if self.kind not in KINDS:
            raise BadInput(f"unknown kind {self.kind!r} (use case or article)",
                           "import_kind", kind=self.kind)
        if not self.text and not self.title:
            raise BadInput("map at least one text column (--text COL)", "import_no_text")
        missing = [c for c in self.columns() if c not in available]
        if missing:
            raise MissingColumn(f"column(s) not in the file: {_names(missing)} "
                                f"(columns: {_names(available)}; header taken from row "
                                f"{header_row}, give --header-row N if it is another row)",
                                "import_missing", missing=_names(missing),
                                available=_names(available), header_row=header_row)
        scale = {lv.casefold() for lv in levels or []}
        for value, level in self.severity_map.items():
            if scale and level.casefold() not in scale:
                raise UnknownLabel(f"--severity-map {value}={level}: {level!r} is not a "
                                   f"severity level (levels: {', '.join(levels or [])})",
                                   "import_map_level", value=value, level=level,
                                   levels=", ".join(levels or []))


def _names(columns: list[str], most: int = 30, width: int = 40) -> str:
    """Column names for a one-line message: each cut to `width`, at most `most` of them."""
    shown = [" ".join(c.split())[:width] + ("…" if len(c) > width else "")
             for c in columns[:most]]
    more = f", … ({len(columns) - most} more)" if len(columns) > most else ""
    return ", ".join(shown) + more


@dataclass
class Rejected:
    """A row not taken: its number, the reason in English, its cells, and the error
    itself (its key and values say the reason in the user's language at the edge)."""

    row: int
    reason: str
    values: dict[str, str]
    error: KnownFixError | None = None


@dataclass
class ImportReport:
    """Records written, rows rejected (with reasons), rows that replaced an earlier row
    of the same file (--last-wins), and the row the header was found in."""

    taken: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0
    encoding: str | None = None
    replaced: int = 0
    header_row: int = 1

    @property
    def rows_per_s(self) -> float:
        return self.taken / self.seconds if self.seconds > 0 else 0.0


class RowConverter:
    """Turns one file row into a Record, or raises BadInput with the reason.

    A file KnownFix exported (its columns: `kb.exporter.is_export_header`) comes back as
    it was written: kind, state and created_at are taken from their columns, `label:X` and
    `extra:X` columns go back to label and column X; nothing of it lands in `extra`."""

    def __init__(self, mapping: ColumnMapping, levels: list[str], default_prefix: str,
                 columns: list[str] | None = None, last_wins: bool = False) -> None:
        self.m = mapping
        self.levels = {lv.casefold(): lv for lv in levels}
        self.severity_map = {k.casefold(): self.levels.get(v.casefold(), v)
                             for k, v in mapping.severity_map.items()}
        self.prefix = default_prefix
        self.used = set(mapping.columns())
        self.export = is_export_header(columns or [])
        if self.export:
            self.used |= {"kind", "state", "created_at", "updated_at"}
        self.last_wins = last_wins
        self.first_row: dict[tuple[str, str], int] = {}
        self.replaced = 0

    def __call__(self, rowno: int, row: dict[str, str]) -> Record:
        m = self.m
        if SURPLUS in row:
            raise BadInput(f"more cells than the header has columns: {row[SURPLUS]!r}",
                           "import_surplus", cells=repr(row[SURPLUS])[:80])
        row = {k: unguard_cell(v) for k, v in row.items()}
        text = "\n".join(v for v in (row.get(c, "").strip() for c in m.text) if v)
        title = row.get(m.title, "").strip() if m.title else ""
        if not text and not title:
            raise BadInput("empty description", "import_empty")
        rid = row.get(m.id, "").strip() if m.id else f"{self.prefix}-{rowno}"
        if not rid:
            raise BadInput(f"empty id in column {m.id!r}", "import_empty_id", column=m.id)
        kind = self._kind(row)
        self._check_duplicate(kind, rid, rowno)
        labels = {name: row.get(col, "").strip() for name, col in m.labels.items()}
        extra = {k: v for k, v in row.items() if k not in self.used and k and v != ""}
        if self.export:
            labels |= {k.removeprefix("label:"): v.strip() for k, v in row.items()
                       if k.startswith("label:") and k not in self.used}
            extra = {k.removeprefix("extra:"): v for k, v in extra.items()
                     if not k.startswith("label:")}
        return Record(
            kind=kind, id=rid, title=title, text=text,
            fix=row.get(m.fix, "").strip() if m.fix else "",
            labels={k: v for k, v in labels.items() if v}, severity=self._severity(row),
            state=self._state(kind, row), extra=extra,
            created_at=(row.get("created_at") or None) if self.export else None,
        )

    def _kind(self, row: dict[str, str]) -> str:
        """The row's own kind in a KnownFix export, else the mapping's."""
        if self.export and row.get("kind", "").strip() in KINDS:
            return row["kind"].strip()
        return self.m.kind

    def _state(self, kind: str, row: dict[str, str]) -> str:
        """The row's own state in a KnownFix export; imported history is closed cases and
        validated articles."""
        state = row.get("state", "").strip() if self.export else ""
        if state in STATES[kind]:
            return state
        return "validated" if kind == "article" else "closed"

    def _severity(self, row: dict[str, str]) -> str | None:
        """The row's severity on the scale (through --severity-map), None when empty."""
        if not self.m.severity or not row.get(self.m.severity, "").strip():
            return None
        raw = row[self.m.severity].strip()
        level = self.levels.get(self.severity_map.get(raw.casefold(), raw).casefold())
        if level is None:
            levels = ", ".join(self.levels.values())
            raise BadInput(f"unknown severity {raw!r} (levels: {levels}; map it with "
                           f"--severity-map {raw}=LEVEL, or add it to the setting "
                           "severity_levels)", "import_severity", value=raw, levels=levels)
        return level

    def _check_duplicate(self, kind: str, rid: str, rowno: int) -> None:
        """BadInput for an id already seen in this file, unless the later row wins."""
        first = self.first_row.setdefault((kind, rid), rowno)
        if first == rowno:
            return
        if not self.last_wins:
            raise BadInput(f"duplicate id {rid!r} (also row {first}); --last-wins keeps "
                           "the later row", "import_duplicate", id=rid, first=first)
        self.replaced += 1


def convert_rows(rows: Iterable[dict[str, str]], convert: Callable[[int, dict[str, str]], T],
                 report: ImportReport) -> Iterator[T]:
    """Yield what `convert(row number, row)` makes of each good row (a RowConverter: a
    Record); add a Rejected to the report for each bad one (NUL bytes, undecodable text,
    or BadInput from `convert`)."""
    for rowno, row in enumerate(rows, start=1):
        cells = "".join(row.values())
        if "\x00" in cells:
            report.rejected.append(Rejected(rowno, "NUL byte in a cell", row,
                                            BadInput("NUL byte in a cell", "import_nul")))
            continue
        if SURROGATE.search(cells):
            why = "a cell is not valid Unicode text (a lone surrogate)"
            report.rejected.append(Rejected(rowno, why, row,
                                            BadInput(why, "import_surrogate")))
            continue
        try:
            yield convert(rowno, row)
        except BadInput as exc:
            report.rejected.append(Rejected(rowno, str(exc), row, exc))


def import_file(kb: KnowledgeBase, path: str | Path, mapping: ColumnMapping, *,
                encoding: str | None = None, actor: str = "import",
                progress: Callable[[int], None] | None = None, header_row: int | None = None,
                last_wins: bool = False) -> ImportReport:
    """Read `path`, convert and upsert its rows. Returns what was taken and rejected.
    `header_row`: the file row holding the header (found by itself otherwise);
    `last_wins`: a later row with an id already in the file replaces the earlier one
    (otherwise it is rejected)."""
    table = open_table(path, encoding, header_row, expected=mapping.columns())
    mapping.check(table.columns, kb.levels, table.header_row)
    report = ImportReport(encoding=table.encoding, header_row=table.header_row)
    convert = RowConverter(mapping, kb.levels, Path(path).stem, table.columns, last_wins)
    start = time.perf_counter()
    batch: list[Record] = []
    written = 0
    try:
        for rec in convert_rows(table.rows, convert, report):
            batch.append(rec)
            if len(batch) >= BATCH:
                written += kb.upsert(batch, actor)
                batch = []
                if progress:
                    progress(written)
    except BadInput as exc:  # the file breaks off: say what the finished batches wrote
        if written:
            raise type(exc)(f"{exc} ({written} rows had been imported)") from exc
        raise
    if batch:
        written += kb.upsert(batch, actor)
        if progress:
            progress(written)
    report.replaced = convert.replaced
    report.taken = written - convert.replaced  # records, each counted once
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
