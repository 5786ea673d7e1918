"""Parts and charges of a case (备件与费用), and what goes to finance at close (结案转财务).

Tables (kb/store.py `_create_charge_tables`), money as integer cents everywhere:

- `parts`: the parts catalogue, code -> name, unit, price; imported from CSV or Excel
  (`import_parts`).  A later import changes the price of later uses only.
- `case_items`: what a case used and charges: a catalogue part (its name, unit and price
  copied at the time of use), labour (hours at a rate), travel or another item (a
  quantity at an amount).  Each keeps its amount, 0 when free, and why.
- `billing`: one line per close that had something to charge: the case, its customer,
  the items as they were billed (JSON) and the total.  A billed item points at its line,
  so a case reopened and closed again bills only what was added since.

Parts are free in the warranty period (三包期): the case's asset decides, on the day the
case was received (`Asset.in_warranty`): a fault reported in warranty is repaired free
even when the part arrives after it ended.  A case without an asset, or an asset whose
warranty end is not known, is charged, and its items say why.  Labour, travel and other
items are always charged.  The warranty is decided when an item is recorded and kept
with it.

Engineers (and managers, admins: the `case.service_record` permission, as the service
record they belong to) record and remove items while the case is not closed; every
change is an event on the case.  `Cases.close` calls `bill_on_close` inside the close's
own transaction (the Desk wires it), so a close and its billing line land together.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from errors import BadInput, InvalidTransition, MissingColumn, NotFound
from kb.exporter import unguard_cell
from kb.store import now_utc
from service.auth import User, require
from service.cases import Case, Cases, parse_time
from service.customers import Customers
from service.engine import Engine, OnEngine

if TYPE_CHECKING:  # the file readers load when a catalogue is imported
    from kb.importer import ImportReport

ITEM_KINDS = ("part", "labour", "travel", "other")
# why a part is free or charged: the case's asset and its warranty end (三包期)
WARRANTY = ("in_warranty", "out_of_warranty", "no_asset", "warranty_unknown")
RECORD = "case.service_record"  # who records parts and charges: the service record's people
MAX_CENTS = 10**11  # a billion on one line is a typo
MAX_QUANTITY = Decimal(1_000_000)
CODE_CHARS, NAME_CHARS, UNIT_CHARS = 64, 200, 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CURRENCY = re.compile(r"^(?:¥|￥|RMB|CNY)\s*|\s*(?:元|RMB|CNY)$", re.IGNORECASE)
# the catalogue file's columns: each field's own name first, then names people give it
PART_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "part code", "part_code", "编码", "备件编码", "备件编号", "料号",
             "物料编码"),
    "name": ("name", "part name", "part_name", "名称", "备件名称", "物料名称"),
    "unit": ("unit", "单位"),
    "price": ("price", "unit price", "unit_price", "单价", "价格", "单价（元）", "单价(元)"),
}
_NEEDED = ("code", "name", "price")


# -- money and quantities -------------------------------------------------------------------
def parse_money(value: str | int | float | Decimal) -> int:
    """An amount as people type it ("12", "12.5", "1,234.50", "¥12.50") in cents;
    BadInput when it is not money: empty, not a number, negative, more than two
    decimals, or more than a billion."""
    text = "" if isinstance(value, bool) else str(value).strip()
    clean = _CURRENCY.sub("", text.replace(",", "").replace("，", "")).strip()
    try:
        amount = Decimal(clean)
    except InvalidOperation:
        amount = Decimal("NaN")
    if (not amount.is_finite() or amount < 0 or amount * 100 >= MAX_CENTS
            or amount * 100 != (amount * 100).to_integral_value()):
        raise BadInput(f"{text!r} is not an amount of money: give a number of 0 or more "
                       "with at most two decimals, e.g. 12.50", "charge_money",
                       value=text[:40])
    return int(amount * 100)


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """A quantity (pieces, hours, metres): above 0, at most three decimals, at most a
    million; BadInput otherwise."""
    text = "" if isinstance(value, bool) else str(value).strip()
    try:
        found = Decimal(text.replace(",", ""))
    except InvalidOperation:
        found = Decimal("NaN")
    if (not found.is_finite() or found <= 0 or found > MAX_QUANTITY
            or found * 1000 != (found * 1000).to_integral_value()):
        raise BadInput(f"quantity {text!r} is not valid: it must be above 0, with at most "
                       "three decimals", "charge_quantity", value=text[:40])
    return found


def quantity_text(q: Decimal) -> str:
    """A quantity as stored and shown: 2, 1.5 (no trailing zeros, no exponent)."""
    return format(q.normalize(), "f")


def money_text(cents: int) -> str:
    """Cents as an amount: 1234.50."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def times(quantity: Decimal, cents: int) -> int:
    """quantity × price in cents, rounded half up to a cent."""
    return int((quantity * cents).quantize(Decimal(1), ROUND_HALF_UP))


# -- records ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A part of the catalogue; price in cents per unit."""

    code: str
    name: str
    unit: str
    price: int


@dataclass(frozen=True)
class Item:
    """One thing a case used or charges.  A part keeps the catalogue's code, name, unit
    and price (`unit_price`, cents) as they were when it was recorded; `amount` is what
    is charged (0 when free); `why` says why a part is free or charged (WARRANTY), ""
    for other kinds; `name` of labour, travel and other items is what was written."""

    id: int
    case_id: str
    kind: str
    code: str
    name: str
    unit: str
    quantity: Decimal
    unit_price: int
    amount: int
    free: bool
    why: str
    billing_id: int | None
    at: str
    actor: str

    @property
    def billed(self) -> bool:
        return self.billing_id is not None

    def line(self) -> dict[str, Any]:
        """The item as a billing line keeps it (JSON)."""
        return {"item": self.id, "kind": self.kind, "code": self.code, "name": self.name,
                "unit": self.unit, "quantity": quantity_text(self.quantity),
                "unit_price": self.unit_price, "amount": self.amount, "free": self.free,
                "why": self.why}

    @classmethod
    def from_row(cls, r: dict) -> Item:
        return cls(id=r["id"], case_id=r["case_id"], kind=r["kind"], code=r["code"] or "",
                   name=r["name"] or "", unit=r["unit"] or "",
                   quantity=Decimal(r["quantity"]), unit_price=r["unit_price"],
                   amount=r["amount"], free=bool(r["free"]), why=r["why"] or "",
                   billing_id=r["billing_id"], at=r["at"] or "", actor=r["actor"] or "")


@dataclass(frozen=True)
class Billing:
    """A billing line sent to finance when a case closed: its items (`lines`, as
    Item.line) and total in cents."""

    id: int
    case_id: str
    customer_id: str | None
    customer: str
    lines: list[dict]
    total: int
    created_at: str
    actor: str

    @classmethod
    def from_row(cls, r: dict) -> Billing:
        return cls(id=r["id"], case_id=r["case_id"], customer_id=r["customer_id"],
                   customer=r["customer"] or "", lines=json.loads(r["lines"]),
                   total=r["total"], created_at=r["created_at"], actor=r["actor"] or "")


@dataclass(frozen=True)
class CaseCharges:
    """A case's items and billing lines, and what its warranty makes of a part recorded
    now (WARRANTY)."""

    items: list[Item]
    billings: list[Billing]
    warranty: str

    @property
    def total(self) -> int:
        return sum(i.amount for i in self.items)

    @property
    def unbilled(self) -> int:
        return sum(i.amount for i in self.items if not i.billed)

    @property
    def billed(self) -> int:
        return sum(b.total for b in self.billings)


# -- the service ---------------------------------------------------------------------------------
class Charges(OnEngine):
    """The parts catalogue, each case's parts and charges, and billing at close."""

    def __init__(self, engine: Engine, cases: Cases, customers: Customers) -> None:
        super().__init__(engine)
        self.cases = cases
        self.customers = customers

    # -- the catalogue ---------------------------------------------------------------------
    def import_parts(self, actor: User, path: str | Path,
                     columns: dict[str, str] | None = None, encoding: str | None = None,
                     header_row: int | None = None) -> ImportReport:
        """Add or update catalogue parts from a CSV or Excel file, all in one write.
        Columns are found by name (PART_COLUMNS: code/编码, name/名称, unit/单位,
        price/单价), or given in `columns` (field -> the file's column).  Each row is
        taken or reported with why not: no code or name, a price that is not money, a
        code twice in the file."""
        from kb.importer import ImportReport, convert_rows
        from kb.reader import open_table

        require(actor, "kb.import")
        table = open_table(path, encoding, header_row, expected=list((columns or {}).values()))
        chosen = _part_columns(table.columns, columns or {}, table.header_row)
        report = ImportReport(encoding=table.encoding, header_row=table.header_row)
        start, first_row = time.perf_counter(), {}
        parts = list(convert_rows(table.rows, lambda n, row: _part_of(n, row, chosen,
                                                                         first_row), report))
        stamp = now_utc()
        # a file without a unit column leaves the units the catalogue has
        unit = "unit = excluded.unit, " if "unit" in chosen else ""
        with self.kb.transaction():
            self.kb.db.conn.executemany(
                "INSERT INTO parts (code, name, unit, price, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET "
                f"name = excluded.name, {unit}price = excluded.price, "
                "updated_at = excluded.updated_at",
                [(p.code, p.name, p.unit, p.price, stamp, stamp) for p in parts])
            self.kb.log(actor.username, "parts:import", "parts",
                        {"file": Path(path).name, "taken": len(parts),
                         "rejected": len(report.rejected)})
        report.taken, report.seconds = len(parts), time.perf_counter() - start
        return report

    def parts(self, actor: User, query: str = "", limit: int | None = 50) -> list[Part]:
        """Catalogue parts whose code or name holds `query` (any letter case), by code;
        every part when `query` is empty, at most `limit` (None: all)."""
        require(actor, "case.view")
        like = "%" + re.sub(r"([\\%_])", r"\\\1", query.strip()) + "%"
        rows = self.kb.db.execute(
            "SELECT code, name, unit, price FROM parts WHERE code LIKE ? ESCAPE '\\' "
            "OR name LIKE ? ESCAPE '\\' ORDER BY code LIMIT ?", [like, like, limit or -1])
        return [Part(*r) for r in rows]

    def part(self, actor: User, code: str) -> Part:
        """The catalogue part with this code (any letter case); NotFound otherwise."""
        require(actor, "case.view")
        return self._part(code)

    def _part(self, code: str) -> Part:
        row = self.kb.db.execute("SELECT code, name, unit, price FROM parts WHERE code = ?",
                                 [code.strip()]).fetchone()
        if row is None:
            raise NotFound(f"no part {code.strip()!r} in the parts catalogue",
                           "charge_unknown_part", code=code.strip()[:CODE_CHARS])
        return Part(*row)

    # -- a case's items --------------------------------------------------------------------
    def of_case(self, actor: User, case_id: str) -> CaseCharges:
        """The case's items (oldest first), its billing lines, and its warranty now."""
        require(actor, "case.view")
        case = self.cases.get(case_id)
        items = [Item.from_row(r) for r in self.kb.db.query(
            "SELECT * FROM case_items WHERE case_id = ? ORDER BY id", [case.id])]
        billings = [Billing.from_row(r) for r in self.kb.db.query(
            "SELECT * FROM billing WHERE case_id = ? ORDER BY id", [case.id])]
        return CaseCharges(items, billings, self._warranty(case))

    def add_part(self, actor: User, case_id: str, code: str,
                 quantity: str | int | float | Decimal = 1) -> Item:
        """Record `quantity` of catalogue part `code` used on the case, at today's
        catalogue price; free when the case's asset is in warranty."""
        require(actor, RECORD)
        qty = parse_quantity(quantity)
        with self.kb.transaction():
            case = self._not_closed(case_id)
            part = self._part(code)
            why = self._warranty(case)
            free = why == "in_warranty"
            return self._insert(actor, case.id, "part", part.code, part.name, part.unit, qty,
                                part.price, 0 if free else times(qty, part.price), free, why)

    def add_item(self, actor: User, case_id: str, kind: str,
                 price: str | int | float | Decimal,
                 quantity: str | int | float | Decimal = 1, note: str = "") -> Item:
        """Record a chargeable item: labour (`quantity` hours at `price` an hour),
        travel or other (`quantity` times `price`; other needs a `note` saying what)."""
        require(actor, RECORD)
        if kind not in ITEM_KINDS or kind == "part":
            kinds = ", ".join(k for k in ITEM_KINDS if k != "part")
            raise BadInput(f"unknown charge {kind!r} (use {kinds}; parts come from the "
                           "catalogue)", "charge_kind", item=str(kind)[:40], items=kinds)
        note = " ".join(note.split())
        if kind == "other" and not note:
            raise BadInput("say what the other charge is for", "charge_note")
        if len(note) > NAME_CHARS or _CONTROL.search(note):
            raise BadInput(f"the note is longer than {NAME_CHARS} characters",
                           "charge_note_long", max=NAME_CHARS)
        cents, qty = parse_money(price), parse_quantity(quantity)
        with self.kb.transaction():
            case = self._not_closed(case_id)
            return self._insert(actor, case.id, kind, "", note, "", qty, cents,
                                times(qty, cents), False, "")

    def remove(self, actor: User, case_id: str, item_id: int) -> Item:
        """Take back an item recorded by mistake; one already billed stays."""
        require(actor, RECORD)
        with self.kb.transaction():
            case = self._not_closed(case_id)
            row = next(iter(self.kb.db.query(
                "SELECT * FROM case_items WHERE id = ? AND case_id = ?",
                [int(item_id), case.id])), None)
            if row is None:
                raise NotFound(f"{case.id} has no charge {item_id}", "charge_no_item",
                               id=case.id, item=item_id)
            item = Item.from_row(row)
            if item.billed:
                raise InvalidTransition(f"charge {item_id} of {case.id} went to finance; "
                                        "it stays", "charge_billed", id=case.id,
                                        item=item_id)
            self.kb.db.execute("DELETE FROM case_items WHERE id = ?", [item.id])
            self.kb.log(actor.username, "charge:remove", case.key,
                        {"item": item.id, "kind": item.kind, "code": item.code,
                         "amount": item.amount})
        return item

    def _not_closed(self, case_id: str) -> Case:
        """The case, unless it is closed (charges are recorded before the close)."""
        case = self.cases.get(case_id)
        if case.state == "closed":
            raise InvalidTransition(f"{case.id} is closed; reopen it to record parts or "
                                    "charges", "charge_closed", id=case.id)
        return case

    def _warranty(self, case: Case) -> str:
        """What the case's asset makes of a part (WARRANTY), on the day the case was
        received in the configured zone."""
        asset_id = case.fields.get("asset_id")
        if not asset_id:
            return "no_asset"
        try:
            asset = self.customers.asset(asset_id)
        except NotFound:
            return "no_asset"
        when = parse_time(case.fields.get("received_at") or case.fields.get("created_at"))
        day = (when or datetime.now(self.s.zone)).astimezone(self.s.zone).date()
        try:
            covered = asset.in_warranty(day)
        except ValueError:  # a warranty end that is no date: as good as unknown
            covered = None
        if covered is None:
            return "warranty_unknown"
        return "in_warranty" if covered else "out_of_warranty"

    def _insert(self, actor: User, case_id: str, kind: str, code: str, name: str, unit: str,
                qty: Decimal, unit_price: int, amount: int, free: bool, why: str) -> Item:
        row = {"case_id": case_id, "kind": kind, "code": code, "name": name, "unit": unit,
               "quantity": quantity_text(qty), "unit_price": unit_price, "amount": amount,
               "free": int(free), "why": why, "billing_id": None, "at": now_utc(),
               "actor": actor.username}
        cur = self.kb.db.execute(
            f"INSERT INTO case_items ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()))
        item = Item.from_row({**row, "id": int(cur.lastrowid)})
        self.kb.log(actor.username, "charge:add", f"case:{case_id}",
                    {"item": item.id, "kind": kind, "code": code,
                     "quantity": row["quantity"], "amount": amount, "free": free})
        return item

    # -- billing ------------------------------------------------------------------------------
    def bill_on_close(self, actor: User, case_id: str) -> Billing | None:
        """Send what the case charges and has not billed yet to finance: one billing line
        with those items (free parts among them, at 0) and their total.  Nothing when
        nothing unbilled costs anything.  Called by `Cases.close` inside the close's
        transaction (its role check and state machine are the close's)."""
        with self.kb.transaction():
            case = self.cases.get(case_id)
            items = [Item.from_row(r) for r in self.kb.db.query(
                "SELECT * FROM case_items WHERE case_id = ? AND billing_id IS NULL "
                "ORDER BY id", [case.id])]
            total = sum(i.amount for i in items)
            if not total:
                return None
            customer_id, customer = self._customer(case)
            row = {"case_id": case.id, "customer_id": customer_id, "customer": customer,
                   "lines": json.dumps([i.line() for i in items], ensure_ascii=False),
                   "total": total, "created_at": now_utc(), "actor": actor.username}
            cur = self.kb.db.execute(
                f"INSERT INTO billing ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
            billing = Billing.from_row({**row, "id": int(cur.lastrowid)})
            marks = ",".join("?" * len(items))
            self.kb.db.execute(f"UPDATE case_items SET billing_id = ? WHERE id IN ({marks})",
                               [billing.id, *(i.id for i in items)])
            self.kb.log(actor.username, "billing", case.key,
                        {"billing": billing.id, "total": total, "items": len(items)})
        return billing

    def _customer(self, case: Case) -> tuple[str | None, str]:
        """The case's customer record (id and name), else the name typed at intake."""
        f = case.fields
        if f.get("customer_id"):
            try:
                found = self.customers.customer(f["customer_id"])
                return found.id, found.name
            except NotFound:
                pass
        extra = json.loads(f.get("extra") or "{}") if isinstance(f.get("extra"), str) else {}
        return f.get("customer_id"), str(f.get("customer") or extra.get("customer") or "")

    def billing(self, actor: User, start: str, end: str) -> list[Billing]:
        """The billing lines made in [start, end) (dates or times; without a zone on the
        configured clock), oldest first."""
        from service.reports import _bounds  # the reports' one reading of a period

        require(actor, "report.view")
        lo, hi = _bounds(start, end, self.s.zone)
        return [Billing.from_row(r) for r in self.kb.db.query(
            "SELECT * FROM billing WHERE created_at >= ? AND created_at < ? "
            "ORDER BY created_at, id", [lo, hi])]

    def billing_file(self, actor: User, start: str, end: str, fmt: str, lang: str,
                     out: str | Path | TextIO | BinaryIO, tz: tzinfo = UTC) -> list[Billing]:
        """Write the period's billing lines for finance (service/billing.py) as csv or
        xlsx to `out` (a file name, or a text or binary stream), headers in `lang`,
        times in `tz`; return them."""
        from service import billing as files

        if fmt not in ("csv", "xlsx"):
            raise BadInput(f"unknown billing format {fmt!r} (use csv or xlsx)",
                           "bill_format", format=str(fmt)[:20])
        bills = self.billing(actor, start, end)
        if fmt == "csv":
            files.write_csv(bills, lang, out, tz)  # type: ignore[arg-type]
        else:
            files.write_xlsx(bills, lang, out, tz)  # type: ignore[arg-type]
        return bills


# -- reading a catalogue file -------------------------------------------------------------------
def _part_columns(available: list[str], given: dict[str, str],
                  header_row: int) -> dict[str, str]:
    """Field -> the file's column: the one `given` names, else the first of the field's
    PART_COLUMNS the file has (any letter case).  MissingColumn when code, name or price
    has none (unit may be left out)."""
    unknown = sorted(set(given) - set(PART_COLUMNS))
    if unknown:
        raise BadInput(f"unknown parts field(s): {', '.join(unknown)} (use "
                       f"{', '.join(PART_COLUMNS)})", "parts_field", fields=", ".join(unknown),
                       known=", ".join(PART_COLUMNS))
    by_fold = {c.strip().casefold(): c for c in available}
    chosen: dict[str, str] = {}
    for name, aliases in PART_COLUMNS.items():
        wanted: Sequence[str] = [given[name]] if name in given else aliases
        found = next((by_fold[w.casefold()] for w in wanted if w.casefold() in by_fold), None)
        if found is not None:
            chosen[name] = found
    missing = [given.get(n, n) for n in _NEEDED if n not in chosen]
    if missing:
        raise MissingColumn(
            f"the parts file has no column for {', '.join(missing)} (columns: "
            f"{', '.join(available)[:300]}; header taken from row {header_row})",
            "parts_columns", missing=", ".join(missing),
            available=", ".join(available)[:300], header_row=header_row)
    return chosen


def _part_of(rowno: int, row: dict[str, str], columns: dict[str, str],
             first_row: dict[str, int]) -> Part:
    """One catalogue row as a Part, or BadInput saying why not."""
    from kb.reader import SURPLUS

    if SURPLUS in row:
        raise BadInput(f"more cells than the header has columns: {row[SURPLUS]!r}",
                       "import_surplus", cells=repr(row[SURPLUS])[:80])
    cell = {name: unguard_cell(row.get(col, "")).strip() for name, col in columns.items()}
    code, name, unit = cell["code"], " ".join(cell["name"].split()), cell.get("unit", "")
    if not code:
        raise BadInput("the part has no code", "parts_no_code")
    if len(code) > CODE_CHARS or _CONTROL.search(code):
        raise BadInput(f"part code {code[:80]!r} is not one line of at most {CODE_CHARS} "
                       "characters", "parts_code_form", code=code[:80], max=CODE_CHARS)
    if not name:
        raise BadInput(f"part {code} has no name", "parts_no_name", code=code)
    if len(name) > NAME_CHARS or len(unit) > UNIT_CHARS or _CONTROL.search(unit):
        raise BadInput(f"part {code}: a name is at most {NAME_CHARS} characters and a unit "
                       f"at most {UNIT_CHARS}", "parts_text_long", code=code,
                       max=NAME_CHARS, unit_max=UNIT_CHARS)
    price = parse_money(cell["price"])
    first = first_row.setdefault(code.casefold(), rowno)
    if first != rowno:
        raise BadInput(f"part code {code} twice in the file (also row {first})",
                       "parts_duplicate", code=code, first=first)
    return Part(code, name, unit, price)
