"""Write the knowledge base back to CSV (the same columns `knownfix import` can read).

Every cell is formula-safe.  With `redact=True` personal data is taken out first, as
for article drafts (kb.redact): title, text, fix, labels and imported columns lose
e-mail addresses, phone and ID numbers, and the names and asset serials of the record's
own customer and contact, typed or in the customer and asset records it points at (for
an article drafted from a case: that case's); an imported
column that holds personal data by its name ("客户信息", "contact_phone") is replaced as
a whole by its placeholder.  A name is only known where it is recorded: an article
written by hand that names some customer keeps the name (its phones and e-mails go).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from errors import BadInput
from kb.records import KINDS, Record
from kb.redact import PLACEHOLDERS, personal_column, personal_fields, redact
from kb.store import KnowledgeBase

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FIELDS = ("kind", "id", "title", "text", "fix", "severity", "state")
_STAMPS = ("created_at", "updated_at")


def safe_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing a quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def unguard_cell(value: str) -> str:
    """Undo `safe_cell` on the way back in: the quote before a formula character goes
    (as a spreadsheet drops it on display); any other leading quote stays."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) \
        else value


def is_export_header(columns: list[str]) -> bool:
    """Whether a file's columns are those `export_csv` writes (its fields and stamps)."""
    return set(columns) >= {*_FIELDS, *_STAMPS}


def export_csv(kb: KnowledgeBase, out: str | Path | TextIO, kind: str | None = None,
               redact: bool = False) -> int:
    """Write every record (or every record of one kind); returns the number of rows.
    `redact`: take personal data out (see the module docstring)."""
    if kind is not None and kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (use case or article)")
    records = kb.records(kind)
    if redact:
        people = personal_values(kb)
        source = dict(kb.db.execute("SELECT id, source_case FROM articles "
                                    "WHERE source_case IS NOT NULL").fetchall())
        records = [redacted(r, people.get(r.id if r.kind == "case" else source.get(r.id),
                                          {})) for r in records]
    label_cols = sorted({_label_col(f) for r in records for f in r.labels})
    extra_cols = sorted({_extra_col(c, label_cols) for r in records for c in r.extra})
    header = [*_FIELDS, *label_cols, *extra_cols, *_STAMPS]
    if not isinstance(out, str | Path):
        _write(out, header, records, label_cols)
    else:
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            _write(fh, header, records, label_cols)
    return len(records)


def personal_values(kb: KnowledgeBase, case_ids: list[str] | None = None
                    ) -> dict[str, dict[str, str]]:
    """Case id -> its non-empty personal values: the fields typed at intake (customer,
    contact, asset_serial) and those of the customer and asset records it points at
    (the customer's name, address and contacts' names, phones and e-mails, the asset's
    serial).  Each key says by its name what it holds (personal_column); `case_ids`
    narrows it to those cases."""
    cols = personal_fields()
    present = " OR ".join(f"COALESCE(c.{col}, '') != ''" for col in
                          (*cols, "customer_id", "asset_id"))
    where, args = f"({present})", []
    if case_ids is not None:
        where += f" AND c.id IN ({', '.join('?' * len(case_ids))})"
        args = list(case_ids)
    rows = kb.db.execute(
        f"SELECT c.id, {', '.join('c.' + col for col in cols)}, cu.name, cu.address, "
        "cu.contacts, a.serial FROM cases c LEFT JOIN customers cu ON cu.id = c.customer_id "
        f"LEFT JOIN assets a ON a.id = c.asset_id WHERE {where}", args)
    out = {}
    for r in rows:
        found = dict(zip(cols, r[1:len(cols) + 1], strict=True))
        name, address, contacts, serial = r[len(cols) + 1:]
        found |= {"customer_record": name, "customer_address": address,
                  "asset_serial_record": serial}
        for n, c in enumerate(json.loads(contacts or "[]")):
            found |= {f"contact_name_{n}": c.get("name"), f"contact_phone_{n}": c.get("phone"),
                      f"contact_email_{n}": c.get("email")}
        out[r[0]] = {k: v for k, v in found.items() if v}
    return out


def names_and_serials(personal: dict[str, str]) -> tuple[list[str], list[str]]:
    """The values of `personal_values` (or imported columns) to replace as names (names
    and addresses) and as serial numbers; phones and e-mails go by their pattern."""
    def kind(key: str) -> str | None:
        return personal_column(key.removeprefix("extra:"))

    return ([v for k, v in personal.items() if kind(k) in ("name", "address")],
            [v for k, v in personal.items() if kind(k) == "serial"])


def redacted(rec: Record, personal: dict[str, str] | None = None) -> Record:
    """A copy of `rec` with personal data replaced by placeholders; `personal` holds the
    case's own customer, contact and asset_serial."""
    personal = dict(personal or {})
    for col, value in rec.extra.items():  # imported columns such as customer or 客户信息
        if value and personal_column(col):
            personal.setdefault(f"extra:{col}", value)
    names, serials = names_and_serials(personal)

    def clean(text):
        return redact(text, names, serials) if isinstance(text, str) else text

    extra = {col: (PLACEHOLDERS[personal_column(col)] if value else value)
             if personal_column(col) else clean(value) for col, value in rec.extra.items()}
    return Record(kind=rec.kind, id=rec.id, title=clean(rec.title), text=clean(rec.text),
                  fix=clean(rec.fix), labels={k: clean(v) for k, v in rec.labels.items()},
                  severity=rec.severity, state=rec.state, extra=extra,
                  created_at=rec.created_at, updated_at=rec.updated_at)


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
