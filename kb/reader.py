"""Read CSV, Excel and JSON Lines files as a header list and a stream of row dicts.

Text files are decoded as UTF-8 (with or without BOM) or UTF-16 with a BOM; other
bytes are identified from a sample (GBK/GB18030, Big5, Latin-1, ...) unless an
encoding is given.  Rows are streamed, never all loaded at once.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from errors import BadInput

SAMPLE_BYTES = 1 << 20
csv.field_size_limit(1 << 28)


@dataclass
class Table:
    """A file opened for reading: its columns and a one-pass row iterator."""

    columns: list[str]
    rows: Iterator[dict[str, str]]
    encoding: str | None = None


def detect_encoding(sample: bytes) -> str:
    """Guess the text encoding of a file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # a character cut by the end of the sample
            return "utf-8"
    try:
        sample.decode("gb18030")
        cjk_guess = True
    except UnicodeDecodeError:
        cjk_guess = False
    best = from_bytes(sample, cp_isolation=["gb18030", "big5", "cp1252", "latin_1",
                                            "shift_jis", "euc_kr", "cp1251"]).best()
    if best is None:
        return "gb18030" if cjk_guess else "latin-1"
    return "gb18030" if best.encoding in ("gbk", "gb2312") else best.encoding


SURPLUS = "(cells beyond the header)"  # key holding a row's non-empty cells past the header


def _cells_to_row(columns: list[str], cells: list[str]) -> dict[str, str]:
    row = {col: (cells[i] if i < len(cells) else "") for i, col in enumerate(columns)}
    surplus = [c for c in cells[len(columns):] if c.strip()]
    if surplus:  # kept, so the importer can reject the row rather than lose them
        row[SURPLUS] = " | ".join(surplus)
    return row


def _text_stream(path: Path, encoding: str | None) -> tuple[io.TextIOBase, str]:
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    utf16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in sample and not utf16 and encoding is None:
        raise BadInput(f"{path.name}: looks like a binary file (NUL bytes), not text")
    enc = encoding or detect_encoding(sample)
    try:
        codecs.lookup(enc)
    except LookupError as exc:
        raise BadInput(f"unknown encoding {enc!r}") from exc
    return path.open("r", encoding=enc, errors="strict", newline=""), enc


def _csv(path: Path, encoding: str | None) -> Table:
    fh, enc = _text_stream(path, encoding)
    try:
        head = fh.read(65536)
    except UnicodeDecodeError as exc:
        fh.close()
        raise BadInput(f"{path.name}: not readable as {enc}: {exc.reason}") from exc
    fh.seek(0)
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(fh, dialect)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise BadInput(f"{path.name}: the file is empty") from None
    columns = [c.strip().lstrip("\ufeff") for c in header]

    def rows() -> Iterator[dict[str, str]]:
        with fh:
            try:
                for cells in reader:
                    if not any(c.strip() for c in cells):
                        continue
                    yield _cells_to_row(columns, cells)
            except UnicodeDecodeError as exc:
                raise BadInput(f"{path.name}: bytes not readable as {enc} near row "
                               f"{reader.line_num}: {exc.reason}") from exc
            except csv.Error as exc:
                raise BadInput(f"{path.name}: broken CSV near line {reader.line_num}: "
                               f"{exc}") from exc

    return Table(columns, rows(), enc)


def _jsonl(path: Path, encoding: str | None) -> Table:
    fh, enc = _text_stream(path, encoding)
    first: dict | None = None
    lines = iter(fh)
    lineno = 0
    for line in lines:
        lineno += 1
        if line.strip():
            first = _json_row(line, lineno, path)
            break
    if first is None:
        fh.close()
        raise BadInput(f"{path.name}: the file is empty")

    def rows() -> Iterator[dict[str, str]]:
        n = lineno
        yield _stringify(first)
        with fh:
            for line in lines:
                n += 1
                if line.strip():
                    yield _stringify(_json_row(line, n, path))

    return Table(list(first), rows(), enc)


def _json_row(line: str, lineno: int, path: Path) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path.name} line {lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise BadInput(f"{path.name} line {lineno}: expected a JSON object")
    return obj


def _stringify(obj: dict) -> dict[str, str]:
    return {str(k): "" if v is None else v if isinstance(v, str) else
            json.dumps(v, ensure_ascii=False) for k, v in obj.items()}


def _excel(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BadInput(f"{path.name}: not a readable Excel file "
                       f"({exc.__class__.__name__})") from exc
    sheet = wb.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    header = next(it, None)
    if not header:
        wb.close()
        raise BadInput(f"{path.name}: the first sheet is empty")
    columns = ["" if c is None else str(c).strip() for c in header]

    def rows() -> Iterator[dict[str, str]]:
        for values in it:
            cells = ["" if v is None else str(v) for v in values]
            if any(c.strip() for c in cells):
                yield _cells_to_row(columns, cells)
        wb.close()

    return Table(columns, rows(), None)


def open_table(path: str | Path, encoding: str | None = None) -> Table:
    """Open a CSV/TSV, Excel (.xlsx) or JSON Lines file by its extension."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"no such file: {p}")
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _excel(p)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _jsonl(p, encoding)
    if suffix in (".csv", ".tsv", ".txt", ""):
        return _csv(p, encoding)
    raise BadInput(f"{p.name}: unsupported file type {suffix!r} (use .csv, .xlsx or .jsonl)")
