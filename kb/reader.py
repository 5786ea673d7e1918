"""Read CSV, Excel and JSON Lines files as a header list and a stream of row dicts.

Text files are decoded as UTF-8 (with or without BOM) or UTF-16 with a BOM; other
bytes are identified from a sample (GBK/GB18030, Big5, Latin-1, ...) unless an
encoding is given.  Rows are streamed, never all loaded at once.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from errors import BadInput

SAMPLE_BYTES = 1 << 20
DELIMITERS = ",;\t|"
csv.field_size_limit(1 << 28)
SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate: text no encoder can write


def check_text(text: str, what: str) -> str:
    """`text`, or BadInput when it holds a lone surrogate (undecodable bytes given on a
    command line, a JSON "\\ud800" escape): such text cannot be stored, encoded or printed."""
    if SURROGATE.search(text):
        raise BadInput(f"{what} holds bytes that are not valid text (a lone surrogate)")
    return text


@dataclass
class Table:
    """A file opened for reading: its columns, a one-pass row iterator, and the row of the
    file (1-based) the header was taken from."""

    columns: list[str]
    rows: Iterator[dict[str, str]]
    encoding: str | None = None
    header_row: int = 1


HEAD_ROWS = 30  # rows read ahead to find the header below a title row


def pick_header(rows: list[list[str]], expected: Sequence[str] = ()) -> int:
    """The index of the header among a file's first rows: the first row holding every
    `expected` column name, else the first row filled at least half as wide as the widest
    (a title row, a line of export details or empty rows above the header are passed by).
    BadInput when every row is empty."""
    cells = [[c.strip().lstrip("\ufeff") for c in row] for row in rows]
    if expected:
        for i, row in enumerate(cells):
            if set(expected) <= set(row):
                return i
    filled = [sum(1 for c in row if c) for row in cells]
    widest = max(filled, default=0)
    if widest == 0:
        raise BadInput("the file is empty")
    for i, n in enumerate(filled):
        if n and (widest < 2 or (n >= 2 and 2 * n >= widest)):
            return i
    raise BadInput("the file is empty")  # not reached: the widest row qualifies


def _choose_header(head: list[list[str]], header_row: int | None, expected: Sequence[str],
                   name: str) -> int:
    """Index into `head` of the header: `header_row` (1-based) if given, else detected."""
    if header_row is None:
        try:
            return pick_header(head, expected)
        except BadInput as exc:
            raise BadInput(f"{name}: {exc}") from None
    if header_row < 1:
        raise BadInput(f"--header-row {header_row}: rows count from 1")
    if header_row > len(head):
        more = "" if len(head) < HEAD_ROWS else f" among its first {HEAD_ROWS}"
        raise BadInput(f"--header-row {header_row}: {name} has only {len(head)} "
                       f"row(s){more}")
    return header_row - 1


def detect_encoding(sample: bytes, whole: bool = False) -> str:
    """Guess the text encoding of a file from its first bytes (`whole`: the sample is the
    entire file; otherwise its end may cut a character in two)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if not whole and b"\n" in sample:
        sample = sample[:sample.rindex(b"\n") + 1]  # whole lines only
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not whole and exc.start >= len(sample) - 4:  # a character cut by the end
            return "utf-8"
    try:
        sample.decode("gb18030")
        cjk_guess = True
    except UnicodeDecodeError:
        cjk_guess = False
    found = from_bytes(sample, cp_isolation=["gb18030", "big5", "cp1252", "latin_1",
                                             "shift_jis", "euc_kr", "cp1251"])
    best = found.best()
    if best is None:
        return "gb18030" if cjk_guess else "latin-1"
    gb = next((m for m in found if m.encoding in GB), None)
    if gb is not None and best.encoding in GB_LOOKALIKES and gb.chaos <= best.chaos + 0.05:
        return "gb18030"  # short Chinese text reads as Korean too; this tool's is Chinese
    return "gb18030" if best.encoding in GB else best.encoding


GB = ("gb18030", "gbk", "gb2312")
# Encodings a short GBK sample often passes for, almost as well as for GBK itself.
GB_LOOKALIKES = ("euc_kr", "cp949", "johab", "shift_jis", "cp932", "euc_jp", "cp1251")


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
        raise BadInput(f"{path.name}: looks like a binary file (NUL bytes), not text; "
                       "if it is UTF-16 without a BOM, give the encoding (utf-16-le)")
    enc = encoding or detect_encoding(sample, whole=len(sample) < SAMPLE_BYTES)
    try:
        codecs.lookup(enc)
    except LookupError as exc:
        raise BadInput(f"unknown encoding {enc!r}") from exc
    return path.open("r", encoding=enc, errors="strict", newline=""), enc


def _delimiter(head: str) -> str:
    """The delimiter that splits the first lines into the most columns (the sniffer's
    guess breaks a tie).  Quoting is always standard CSV ("" inside quotes): the
    sniffer's guesses of quote character and escaping misread well-formed files whose
    free text has apostrophes or stray quotes."""
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    lines = head.splitlines()[:HEAD_ROWS]  # a title row may stand above the header
    widths = {d: max((len(r) for r in csv.reader(lines, delimiter=d)), default=0)
              for d in DELIMITERS}
    best = max(widths.values())
    return sniffed if widths.get(sniffed) == best else \
        next(d for d in DELIMITERS if widths[d] == best)


def _csv(path: Path, encoding: str | None, header_row: int | None = None,
         expected: Sequence[str] = ()) -> Table:
    fh, enc = _text_stream(path, encoding)
    try:
        head = fh.read(65536)
    except UnicodeDecodeError as exc:
        fh.close()
        raise BadInput(f"{path.name}: not readable as {enc}: {exc.reason}") from exc
    fh.seek(0)
    reader = csv.reader(fh, csv.excel, delimiter=_delimiter(head))
    try:
        first = [row for _n, row in zip(range(HEAD_ROWS), reader, strict=False)]
        index = _choose_header(first, header_row, expected, path.name)
    except (csv.Error, UnicodeDecodeError) as exc:  # a header line that is not CSV text
        fh.close()
        raise BadInput(f"{path.name}: the header line is not readable as {enc} CSV: "
                       f"{getattr(exc, 'reason', exc)}") from exc
    except BadInput:
        fh.close()
        raise
    columns = [c.strip().lstrip("\ufeff") for c in first[index]]

    def rows() -> Iterator[dict[str, str]]:
        with fh:
            try:
                for cells in itertools.chain(first[index + 1:], reader):
                    if not any(c.strip() for c in cells):
                        continue
                    yield _cells_to_row(columns, cells)
            except UnicodeDecodeError as exc:
                raise BadInput(f"{path.name}: bytes not readable as {enc} near row "
                               f"{reader.line_num}: {exc.reason}") from exc
            except csv.Error as exc:
                raise BadInput(f"{path.name}: broken CSV near line {reader.line_num}: "
                               f"{exc}") from exc

    return Table(columns, rows(), enc, index + 1)


def _jsonl(path: Path, encoding: str | None) -> Table:
    fh, enc = _text_stream(path, encoding)
    first: dict | None = None
    lines = iter(fh)
    lineno = 0
    try:
        for line in lines:
            lineno += 1
            if line.strip():
                first = _json_row(line, lineno, path)
                break
    except (UnicodeDecodeError, BadInput) as exc:
        fh.close()
        if isinstance(exc, BadInput):
            raise
        raise _undecodable(path, enc, lineno + 1, exc) from exc
    if first is None:
        fh.close()
        raise BadInput(f"{path.name}: the file is empty")

    def rows() -> Iterator[dict[str, str]]:
        n = lineno
        yield _stringify(first)
        with fh:
            try:
                for line in lines:
                    n += 1
                    if line.strip():
                        yield _stringify(_json_row(line, n, path))
            except UnicodeDecodeError as exc:
                raise _undecodable(path, enc, n + 1, exc) from exc

    return Table(list(_stringify(first)), rows(), enc)


def _undecodable(path: Path, enc: str, lineno: int, exc: UnicodeDecodeError) -> BadInput:
    return BadInput(f"{path.name}: bytes not readable as {enc} near line {lineno}: "
                    f"{exc.reason}")


def _json_row(line: str, lineno: int, path: Path) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path.name} line {lineno}: not valid JSON: {exc.msg}") from exc
    except (ValueError, RecursionError) as exc:  # a number of thousands of digits; deep nesting
        raise BadInput(f"{path.name} line {lineno}: JSON with a number too long or nesting "
                       f"too deep ({exc.__class__.__name__})") from exc
    if not isinstance(obj, dict):
        raise BadInput(f"{path.name} line {lineno}: expected a JSON object")
    return obj


def _stringify(obj: dict) -> dict[str, str]:
    """Cells as text.  A key holding a lone surrogate (a JSON "\\ud800" escape) is written
    with the escape, so column names are always valid text; such values are left for the
    importer to reject."""
    return {_valid(str(k)): "" if v is None else v if isinstance(v, str) else
            json.dumps(v, ensure_ascii=False) for k, v in obj.items()}


def _valid(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _excel(path: Path, header_row: int | None = None, expected: Sequence[str] = ()) -> Table:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise BadInput(f"{path.name}: not a readable Excel file "
                       f"({exc.__class__.__name__})") from exc
    try:
        it = wb.worksheets[0].iter_rows(values_only=True)
        first = [_cells(values) for _n, values in zip(range(HEAD_ROWS), it, strict=False)]
    except Exception as exc:  # a damaged sheet shows when it is read, not when opened
        wb.close()
        raise BadInput(f"{path.name}: not a readable Excel file "
                       f"({exc.__class__.__name__})") from exc
    try:
        index = _choose_header(first, header_row, expected, path.name)
    except BadInput as exc:
        wb.close()
        if "empty" in str(exc):
            raise BadInput(f"{path.name}: the first sheet is empty") from None
        raise
    columns = [c.strip() for c in first[index]]

    def rows() -> Iterator[dict[str, str]]:
        n = index + 1
        try:
            for cells in itertools.chain(first[index + 1:], (_cells(v) for v in it)):
                n += 1
                if any(c.strip() for c in cells):
                    yield _cells_to_row(columns, cells)
        except Exception as exc:  # zip, XML and value errors of a damaged sheet
            raise BadInput(f"{path.name}: the sheet is damaged near row {n} "
                           f"({exc.__class__.__name__})") from exc
        finally:
            wb.close()

    return Table(columns, rows(), None, index + 1)


def _cells(values: tuple) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def open_table(path: str | Path, encoding: str | None = None, header_row: int | None = None,
               expected: Sequence[str] = ()) -> Table:
    """Open a CSV/TSV, Excel (.xlsx) or JSON Lines file by its extension.  In CSV and
    Excel the header is row `header_row` (1-based), or, without it, the first row holding
    all `expected` columns, else the first row that is not a title row (`pick_header`)."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"no such file: {p}")
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _excel(p, header_row, expected)
    if suffix in (".jsonl", ".ndjson", ".json"):
        if header_row not in (None, 1):
            raise BadInput("--header-row is for CSV and Excel files; JSON Lines have none")
        return _jsonl(p, encoding)
    if suffix in (".csv", ".tsv", ".txt", ""):
        return _csv(p, encoding, header_row, expected)
    raise BadInput(f"{p.name}: unsupported file type {suffix!r} (use .csv, .xlsx or .jsonl)")
