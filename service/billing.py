"""The billing export for finance (服务费用报告 / 结案转财务): the billing lines made in a
period (`Charges.billing`) as CSV or as an Excel workbook.

CSV: one row per billing line: number, case, customer, when it went to finance, what
it holds (one text) and its total.  Excel: that as the first sheet, with money as
numbers and times as dates, then a sheet with one row per item.  Headers are in the
reader's language (the catalogue, ui/i18n.py); times in the zone given.  Nothing here
checks permissions: `Charges.billing` does.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from kb.exporter import safe_cell
from service.charges import Billing, money_text
from service.work_report import TIME_FORMAT
from ui.i18n import message  # the catalogue alone: it does not need Streamlit
from zones import read_utc

# (cell, catalogue key of its header, width in characters)
BILLS: tuple[tuple[str, str, int], ...] = (
    ("billing", "bill.number", 10), ("case", "case.number", 20),
    ("customer", "intake.customer", 24), ("at", "bill.at", 17),
    ("lines", "bill.lines", 60), ("total", "bill.total", 12))
LINES: tuple[tuple[str, str, int], ...] = (
    ("billing", "bill.number", 10), ("case", "case.number", 20),
    ("customer", "intake.customer", 24), ("kind", "charge.kind", 10),
    ("code", "charge.code", 14), ("name", "charge.name", 28),
    ("quantity", "charge.quantity", 8), ("unit", "charge.unit", 8),
    ("unit_price", "charge.unit_price", 12), ("amount", "charge.amount", 12),
    ("note", "charge.note", 24))
MONEY = frozenset({"total", "unit_price", "amount"})


def line_note(line: dict, lang: str) -> str:
    """Why a part is free or charged (its warranty), in `lang`; "" for other items."""
    return message(f"charge.why.{line['why']}", lang) if line.get("why") else ""


def line_text(line: dict, lang: str) -> str:
    """One item of a billing line as text: part HD-4T 4TB 硬盘 × 2 个 = 0.00 (why)."""
    what = " ".join(p for p in (message(f"charge.kind.{line['kind']}", lang), line["code"],
                                line["name"]) if p)
    unit = f" {line['unit']}" if line.get("unit") else ""
    note = line_note(line, lang)
    return (f"{what} × {line['quantity']}{unit} = {money_text(line['amount'])}"
            + (f" ({note})" if note else ""))


def bill_cells(bill: Billing, lang: str, tz: tzinfo = UTC) -> dict[str, Any]:
    """A billing line as BILLS' cells: money as Decimal, the time naive in `tz`."""
    return {"billing": bill.id, "case": bill.case_id, "customer": bill.customer,
            "at": _local(bill.created_at, tz),
            "lines": "; ".join(line_text(line, lang) for line in bill.lines),
            "total": _money(bill.total)}


def line_cells(bill: Billing, lang: str) -> list[dict[str, Any]]:
    """Each item of a billing line as LINES' cells."""
    return [{"billing": bill.id, "case": bill.case_id, "customer": bill.customer,
             "kind": message(f"charge.kind.{line['kind']}", lang), "code": line["code"],
             "name": line["name"], "quantity": Decimal(line["quantity"]),
             "unit": line["unit"], "unit_price": _money(line["unit_price"]),
             "amount": _money(line["amount"]), "note": line_note(line, lang)}
            for line in bill.lines]


def headers(columns: Sequence[tuple[str, str, int]], lang: str, tz: tzinfo = UTC) -> list[str]:
    """The headers of `columns` in `lang`; the time column names its zone."""
    zone = getattr(tz, "key", None) or datetime.now(tz).tzname() or "UTC"
    return [f"{message(key, lang)} ({zone})" if name == "at" else message(key, lang)
            for name, key, _ in columns]


def write_csv(bills: Sequence[Billing], lang: str, out: str | Path | TextIO,
              tz: tzinfo = UTC) -> None:
    """One row per billing line; a file is UTF-8 with a BOM so Excel reads Chinese;
    text made formula-safe."""
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            write_csv(bills, lang, fh, tz)
        return
    w = csv.writer(out)
    w.writerow(headers(BILLS, lang, tz))
    for bill in bills:
        w.writerow([_text(v) for v in bill_cells(bill, lang, tz).values()])


def write_xlsx(bills: Sequence[Billing], lang: str, out: str | Path | BinaryIO,
               tz: tzinfo = UTC) -> None:
    """The billing lines, then their items, as two sheets: bold frozen header, column
    widths, money as numbers (two decimals), times as Excel dates."""
    from service.reports import _workbook  # the reports' formula-safe workbook

    with _workbook(out) as book:
        _sheet(book, message("bill.sheet", lang), BILLS, headers(BILLS, lang, tz),
               [bill_cells(b, lang, tz) for b in bills])
        _sheet(book, message("bill.sheet_lines", lang), LINES, headers(LINES, lang),
               [cells for b in bills for cells in line_cells(b, lang)])


def _sheet(book: Any, name: str, columns: Sequence[tuple[str, str, int]], head: list[str],
           rows: list[dict[str, Any]]) -> None:
    sheet = book.add_worksheet(name[:31])
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
    money = book.add_format({"num_format": "#,##0.00", "valign": "top"})
    top = book.add_format({"valign": "top"})
    sheet.write_row(0, 0, head, bold)
    for col, (_, _, width) in enumerate(columns):
        sheet.set_column(col, col, width)
    for n, row in enumerate(rows, start=1):
        for col, (key, value) in enumerate(row.items()):
            if isinstance(value, datetime):
                sheet.write_datetime(n, col, value, when)
            elif isinstance(value, Decimal | int):
                sheet.write_number(n, col, float(value), money if key in MONEY else top)
            elif value:
                sheet.write_string(n, col, safe_cell(str(value)), top)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)


def _money(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _local(stamp: str, tz: tzinfo) -> datetime | None:
    t = read_utc(stamp)
    return t.astimezone(tz).replace(tzinfo=None) if t else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return safe_cell(str(value)) if isinstance(value, str) else str(value)
