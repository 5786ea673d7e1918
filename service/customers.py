"""Customers (客户服务档案) and their equipment (设备档案): who a case is for and what it
is about.  Tables `customers` and `assets` (kb/store.py `_create_customer_tables`).

A case points at its customer and asset (`cases.customer_id`, `cases.asset_id`); the
asset's warranty end (三包期) decides whether parts are free, its earlier cases are its
service history.  A merged duplicate keeps its row and points at the record it was
merged into; reading it follows that pointer, so old references still work.

Writing: agents add and edit records (`customer.edit`), managers and admins merge
duplicates (`customer.merge`); every write is one event (`customer:add`, `asset:edit`,
`customer:merge` …) naming the fields changed, never their values (personal data stays
out of the event log).  A serial number belongs to one live asset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING

from errors import BadInput, NotFound
from kb.store import now_utc
from service.auth import User, require
from service.engine import Engine, OnEngine

if TYPE_CHECKING:
    from kb.importer import ImportReport


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    contacts: list[dict] = field(default_factory=list)  # {name, phone, email}
    address: str = ""
    contract: str = ""
    service_level: str = ""
    note: str = ""


@dataclass(frozen=True)
class Asset:
    id: str
    customer_id: str | None
    product: str = ""
    model: str = ""
    serial: str = ""
    location: str = ""
    installed_at: str | None = None  # ISO date
    warranty_end: str | None = None  # ISO date, the last day of 三包期
    note: str = ""

    def in_warranty(self, on: date) -> bool | None:
        """Whether the asset is in warranty on `on`; None when its warranty end is not
        known."""
        if not self.warranty_end:
            return None
        return on <= date.fromisoformat(self.warranty_end[:10])


@dataclass(frozen=True)
class ServiceEntry:
    """One case of an asset's service history: when it came in, what it was, what fixed
    it and when."""

    case_id: str
    state: str
    title: str
    received_at: str | None
    resolved_at: str | None
    fix: str


_MERGE_DEPTH = 20  # a chain of merges longer than this is a loop in the data
CUSTOMER_FIELDS = ("name", "contacts", "address", "contract", "service_level", "note")
ASSET_FIELDS = ("customer_id", "product", "model", "serial", "location", "installed_at",
                "warranty_end", "note")
CONTACT_KEYS = ("name", "phone", "email")
MAX_TEXT = 500  # characters of one field (a note: 4 times this)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"[+\d][\d\s\-()]*(?:(?:转|ext\.?|-)\s*\d+)?")
# when a case of the asset counts as served: resolved, else closed, else received
_SERVED = "COALESCE(resolved_at, closed_at, received_at, json_extract(extra, '$.received_at'))"
_RECEIVED = "COALESCE(received_at, json_extract(extra, '$.received_at'), created_at)"
PREFIX = {"customers": "CU-", "assets": "AS-"}


class Customers(OnEngine):
    """Customer and asset records: read, find, write, merge, service history."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    # -- reading ---------------------------------------------------------------------------
    def _row(self, table: str, rid: str) -> dict:
        """The row of a record, following its merges to the live record."""
        kind = "customer" if table == "customers" else "asset"
        for _ in range(_MERGE_DEPTH):
            cur = self.kb.db.execute(f"SELECT * FROM {table} WHERE id = ?", [rid])
            found = cur.fetchone()
            if found is None:
                raise NotFound(f"no {kind} with id {rid!r}", "not_found", kind=kind, id=rid)
            row = dict(zip([d[0] for d in cur.description], found, strict=True))
            if not row.get("merged_into"):
                return row
            rid = row["merged_into"]
        raise NotFound(f"the merges of {rid!r} go round in a loop", "not_found",
                       kind=kind, id=rid)

    def customer(self, customer_id: str) -> Customer:
        return _customer(self._row("customers", customer_id.strip()))

    def asset(self, asset_id: str) -> Asset:
        return _asset(self._row("assets", asset_id.strip()))

    def find_asset(self, serial: str) -> Asset | None:
        """The live asset with this serial number (case and surrounding blanks aside),
        or None."""
        serial = (serial or "").strip()
        if not serial:
            return None
        rows = self._select("assets", "serial = ? COLLATE NOCASE AND merged_into IS NULL",
                            [serial], limit=1)
        return _asset(rows[0]) if rows else None

    def find_assets(self, customer_id: str, model: str = "") -> list[Asset]:
        """The live assets of a customer (a merged customer: of the one it went into),
        of one model when `model` is given (case aside)."""
        cid = self._row("customers", customer_id.strip())["id"]
        where, args = "customer_id = ? AND merged_into IS NULL", [cid]
        if model.strip():
            where, args = where + " AND model = ? COLLATE NOCASE", [*args, model.strip()]
        return [_asset(r) for r in self._select("assets", where, args, order="model, serial")]

    def find_customers(self, text: str = "", limit: int = 50) -> list[Customer]:
        """Live customers whose name or a contact (name, phone, e-mail) contains `text`
        (case aside); every live customer when `text` is empty; by name."""
        where, args = "merged_into IS NULL", []
        if text.strip():
            like = f"%{_like(text.strip())}%"
            where += (" AND (name LIKE ? ESCAPE '\\' OR contacts LIKE ? ESCAPE '\\' "
                      "OR id = ?)")
            args = [like, _json_like(text.strip()), text.strip()]
        return [_customer(r) for r in self._select("customers", where, args, "name", limit)]

    def search_assets(self, text: str = "", limit: int = 50) -> list[Asset]:
        """Live assets whose serial, model or product contains `text` (case aside)."""
        where, args = "merged_into IS NULL", []
        if text.strip():
            like = f"%{_like(text.strip())}%"
            where += (" AND (serial LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\' "
                      "OR product LIKE ? ESCAPE '\\' OR id = ?)")
            args = [like, like, like, text.strip()]
        return [_asset(r) for r in self._select("assets", where, args, "serial", limit)]

    def search(self, actor: User, text: str = "", limit: int = 50
               ) -> tuple[list[Customer], list[Asset]]:
        """What the customers page and `knownfix customers list --search` show: customers
        by name or contact, and assets by serial, model or product."""
        require(actor, "customer.view")
        return self.find_customers(text, limit), self.search_assets(text, limit)

    def customer_card(self, actor: User, customer_id: str) -> tuple[Customer, list[Asset]]:
        """A customer and its live assets (the customers page, `customers show`)."""
        require(actor, "customer.view")
        found = self.customer(customer_id)
        return found, self.find_assets(found.id)

    def asset_card(self, actor: User, key: str) -> tuple[Asset, list[ServiceEntry]]:
        """An asset, by its id or its serial number, and its service history."""
        require(actor, "customer.view")
        try:
            found = self.asset(key)
        except NotFound:
            by_serial = self.find_asset(key)
            if by_serial is None:
                raise
            found = by_serial
        return found, self.history(found.id)

    def history(self, asset_id: str, limit: int = 100) -> list[ServiceEntry]:
        """The asset's cases, newest first, with their fixes and dates."""
        aid = self._row("assets", asset_id.strip())["id"]
        rows = self.kb.db.execute(
            f"SELECT id, state, title, text, {_RECEIVED}, resolved_at, fix FROM cases "
            f"WHERE asset_id = ? ORDER BY {_RECEIVED} DESC, id DESC LIMIT ?", [aid, limit])
        return [ServiceEntry(r[0], r[1] or "closed", r[2] or (r[3] or "")[:60], r[4], r[5],
                             r[6] or "") for r in rows]

    def last_service(self, asset_id: str, but: str | None = None) -> str | None:
        """When the asset was last served (上次服务时间): the newest resolution (else
        close, else intake) among its cases other than `but`; None for none."""
        aid = self._row("assets", asset_id.strip())["id"]
        row = self.kb.db.execute(
            f"SELECT MAX({_SERVED}) FROM cases WHERE asset_id = ? AND id != ?",
            [aid, but or ""]).fetchone()
        return row[0] if row else None

    def count_cases(self, table: str, rid: str) -> int:
        column = "customer_id" if table == "customers" else "asset_id"
        return self.kb.db.execute(f"SELECT COUNT(*) FROM cases WHERE {column} = ?",
                                  [rid]).fetchone()[0]

    def today(self) -> date:
        """Today on the team's clock: the day warranties are judged on."""
        return datetime.now(self.s.zone).date()

    def _select(self, table: str, where: str, args: list, order: str = "id",
                limit: int = 1000) -> list[dict]:
        cur = self.kb.db.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY {order} "
                                 "LIMIT ?", [*args, limit])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # -- writing -----------------------------------------------------------------------------
    def add_customer(self, actor: User, name: str, contacts: Iterable[dict] | None = None,
                     address: str = "", contract: str = "", service_level: str = "",
                     note: str = "", customer_id: str | None = None) -> Customer:
        """A new customer record (`customer_id`: kept as given, e.g. from an import;
        else CU-N)."""
        require(actor, "customer.edit")
        row = _customer_values({"name": name, "contacts": contacts, "address": address,
                                "contract": contract, "service_level": service_level,
                                "note": note})
        with self.kb.transaction():
            rid = self._new_id("customers", customer_id)
            stamp = now_utc()
            self.kb.db["customers"].insert({"id": rid, **row, "created_at": stamp,
                                            "updated_at": stamp})
            self.kb.log(actor.username, "customer:add", f"customer:{rid}",
                        {"fields": sorted(k for k, v in row.items() if v)})
        return self.customer(rid)

    def edit_customer(self, actor: User, customer_id: str, **changes: object) -> Customer:
        """Change some of CUSTOMER_FIELDS of a customer; returns it as changed."""
        require(actor, "customer.edit")
        _known(changes, CUSTOMER_FIELDS)
        with self.kb.transaction():
            old = self._row("customers", customer_id.strip())
            merged = {**{k: old[k] for k in CUSTOMER_FIELDS}, **changes}
            if "contacts" not in changes:
                merged["contacts"] = json.loads(old["contacts"] or "[]")
            row = _customer_values(merged)
            changed = sorted(k for k in row if (row[k] or None) != (old[k] or None))
            if changed:
                self.kb.db["customers"].update(old["id"], {**row, "updated_at": now_utc()})
                self.kb.log(actor.username, "customer:edit", f"customer:{old['id']}",
                            {"fields": changed})
        return self.customer(old["id"])

    def add_asset(self, actor: User, customer_id: str | None = None, product: str = "",
                  model: str = "", serial: str = "", location: str = "",
                  installed_at: str | None = None, warranty_end: str | None = None,
                  note: str = "", asset_id: str | None = None) -> Asset:
        """A new asset record of a customer (`asset_id`: kept as given; else AS-N)."""
        require(actor, "customer.edit")
        with self.kb.transaction():
            row = self._asset_values({
                "customer_id": customer_id, "product": product, "model": model,
                "serial": serial, "location": location, "installed_at": installed_at,
                "warranty_end": warranty_end, "note": note}, None)
            rid = self._new_id("assets", asset_id)
            stamp = now_utc()
            self.kb.db["assets"].insert({"id": rid, **row, "created_at": stamp,
                                         "updated_at": stamp})
            self.kb.log(actor.username, "asset:add", f"asset:{rid}",
                        {"fields": sorted(k for k, v in row.items() if v),
                         "customer": row["customer_id"]})
        return self.asset(rid)

    def edit_asset(self, actor: User, asset_id: str, **changes: object) -> Asset:
        """Change some of ASSET_FIELDS of an asset; returns it as changed."""
        require(actor, "customer.edit")
        _known(changes, ASSET_FIELDS)
        with self.kb.transaction():
            old = self._row("assets", asset_id.strip())
            row = self._asset_values({**{k: old[k] for k in ASSET_FIELDS}, **changes},
                                     old["id"])
            changed = sorted(k for k in row if (row[k] or None) != (old[k] or None))
            if changed:
                self.kb.db["assets"].update(old["id"], {**row, "updated_at": now_utc()})
                self.kb.log(actor.username, "asset:edit", f"asset:{old['id']}",
                            {"fields": changed})
        return self.asset(old["id"])

    def _asset_values(self, values: dict, own_id: str | None) -> dict:
        """The asset's columns, checked: dates, warranty end not before installation, a
        known customer (stored as the one a merged customer went into), a serial no other
        live asset has."""
        row = {k: _text(k, values.get(k)) for k in ("product", "model", "serial", "location")}
        row["note"] = _text("note", values.get("note"), MAX_TEXT * 4)
        installed = _day("installed_at", values.get("installed_at"))
        until = _day("warranty_end", values.get("warranty_end"))
        if installed and until and until < installed:
            raise BadInput(f"the warranty ends ({until}) before the installation ({installed})",
                           "asset_warranty_order", installed=installed, until=until)
        row |= {"installed_at": installed, "warranty_end": until}
        cid = (str(values.get("customer_id") or "")).strip()
        row["customer_id"] = self._row("customers", cid)["id"] if cid else None
        if row["serial"]:
            other = self.find_asset(row["serial"])
            if other is not None and other.id != own_id:
                raise BadInput(f"serial {row['serial']} is already asset {other.id}",
                               "asset_serial_taken", serial=row["serial"], id=other.id)
        if not any(row[k] for k in ("product", "model", "serial")):
            raise BadInput("an asset needs a product, a model or a serial number",
                           "asset_empty")
        return row

    def _new_id(self, table: str, given: str | None) -> str:
        """`given` (checked: free, a plain id) or the next PREFIX-N of the table."""
        if given and given.strip():
            rid = given.strip()
            if not re.fullmatch(r"[\w.\-]{1,64}", rid):
                raise BadInput(f"bad record id {rid!r}: letters, digits, - _ . only",
                               "record_id", id=rid[:64])
            if self.kb.db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [rid]).fetchone():
                raise BadInput(f"id {rid} is taken", "record_id_taken", id=rid)
            return rid
        prefix = PREFIX[table]
        rows = self.kb.db.execute(f"SELECT id FROM {table} WHERE id LIKE ?", [prefix + "%"])
        used = [int(r[0][len(prefix):]) for r in rows if r[0][len(prefix):].isdigit()]
        return f"{prefix}{max(used, default=0) + 1}"

    def import_file(self, actor: User, path: str | Path, kind: str,
                    encoding: str | None = None) -> ImportReport:
        """Customers (`kind` "customer") or assets ("asset") from a file: each row taken
        or reported with why not (service/customer_import.py)."""
        from service.customer_import import import_records

        return import_records(self, actor, path, kind, encoding)

    # -- merging duplicates -------------------------------------------------------------------
    def merge_customers(self, actor: User, source: str, into: str) -> Customer:
        """Merge customer `source` into `into`: its cases and assets move to `into`, its
        row stays, pointing there (`merged_into`).  Returns the customer kept."""
        require(actor, "customer.merge")
        with self.kb.transaction():
            src, dst = self._pair("customers", source, into)
            db = self.kb.db
            cases = db.execute("UPDATE cases SET customer_id = ? WHERE customer_id = ?",
                               [dst, src]).rowcount
            assets = db.execute("UPDATE assets SET customer_id = ?, updated_at = ? "
                                "WHERE customer_id = ?", [dst, now_utc(), src]).rowcount
            db["customers"].update(src, {"merged_into": dst, "updated_at": now_utc()})
            self.kb.log(actor.username, "customer:merge", f"customer:{src}",
                        {"into": dst, "cases": cases, "assets": assets})
        return self.customer(dst)

    def merge_assets(self, actor: User, source: str, into: str) -> Asset:
        """Merge asset `source` into `into`: its cases move to `into` (their customer as
        it was), its row stays, pointing there.  Returns the asset kept."""
        require(actor, "customer.merge")
        with self.kb.transaction():
            src, dst = self._pair("assets", source, into)
            cases = self.kb.db.execute("UPDATE cases SET asset_id = ? WHERE asset_id = ?",
                                       [dst, src]).rowcount
            self.kb.db["assets"].update(src, {"merged_into": dst, "updated_at": now_utc()})
            self.kb.log(actor.username, "asset:merge", f"asset:{src}",
                        {"into": dst, "cases": cases})
        return self.asset(dst)

    def _pair(self, table: str, source: str, into: str) -> tuple[str, str]:
        """The live ids of a merge's two records; BadInput when they are one record."""
        src = self._row(table, source.strip())["id"]
        dst = self._row(table, into.strip())["id"]
        if src == dst:
            kind = "customer" if table == "customers" else "asset"
            raise BadInput(f"{source} and {into} are the same {kind}", "merge_same",
                           kind=kind, id=src)
        return src, dst


def _customer(row: dict) -> Customer:
    return Customer(id=row["id"], name=row["name"], contacts=json.loads(row["contacts"] or "[]"),
                    address=row["address"] or "", contract=row["contract"] or "",
                    service_level=row["service_level"] or "", note=row["note"] or "")


def _asset(row: dict) -> Asset:
    return Asset(**{k: (row[k] or "") if k in _TEXT else row[k] for k in _ASSET_COLUMNS})


_ASSET_COLUMNS = ("id", "customer_id", "product", "model", "serial", "location",
                  "installed_at", "warranty_end", "note")
_TEXT = ("product", "model", "serial", "location", "note")


def _known(changes: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(unknown)} ({', '.join(allowed)})",
                       "record_fields", fields=", ".join(unknown), known=", ".join(allowed))


def _text(name: str, value: object, most: int = MAX_TEXT) -> str:
    text = " ".join(str(value or "").split()) if name != "note" else str(value or "").strip()
    if len(text) > most:
        raise BadInput(f"{name} is longer than {most} characters", "record_too_long",
                       field=name, most=most)
    if "\x00" in text:
        raise BadInput(f"{name} holds a NUL byte", "record_nul", field=name)
    return text


def _day(name: str, value: object) -> str | None:
    """An ISO date (2026-03-01; a time after it is dropped) or None; BadInput otherwise."""
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    text = str(value).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise BadInput(f"{name}: {value!r} is not a date (use 2026-03-01)", "record_date",
                       field=name, value=str(value)[:40]) from None


def _customer_values(values: dict) -> dict:
    """The customer's columns, checked: a name, contacts as {name, phone, email}."""
    name = _text("name", values.get("name"))
    if not name:
        raise BadInput("a customer needs a name", "customer_name")
    row = {"name": name, "contacts": json.dumps(_contacts(values.get("contacts")),
                                                ensure_ascii=False)}
    row |= {k: _text(k, values.get(k)) for k in ("address", "contract", "service_level")}
    row["note"] = _text("note", values.get("note"), MAX_TEXT * 4)
    return row


def _contacts(given: object) -> list[dict]:
    """Contacts checked: each a {name, phone, email} with at least one of them, a phone
    that is digits (+ - space brackets, an extension) and an e-mail that is one."""
    if given is None:
        return []
    if isinstance(given, str):
        given = json.loads(given or "[]")
    out = []
    for item in given:
        if not isinstance(item, dict) or set(item) - set(CONTACT_KEYS):
            raise BadInput("a contact has a name, a phone and an e-mail, nothing else",
                           "contact_form")
        c = {k: _text(k, item.get(k)) for k in CONTACT_KEYS}
        if not any(c.values()):
            continue
        if c["phone"] and not (_PHONE.fullmatch(c["phone"])
                               and sum(ch.isdigit() for ch in c["phone"]) >= 5):
            raise BadInput(f"not a phone number: {c['phone']!r}", "contact_phone",
                           value=c["phone"][:40])
        if c["email"] and not _EMAIL.fullmatch(c["email"]):
            raise BadInput(f"not an e-mail address: {c['email']!r}", "contact_email",
                           value=c["email"][:80])
        out.append(c)
    return out


def _like(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_like(text: str) -> str:
    """A LIKE pattern finding `text` inside the stored JSON of contacts (non-ASCII is
    stored as is; a quote or backslash as JSON writes it)."""
    inner = json.dumps(text, ensure_ascii=False)[1:-1]
    return f"%{_like(inner)}%"


_SPLIT = re.compile(r"[;；]")  # several contacts in one cell: 张工;李工 / 138…;139…


def contacts_of(names: str, phones: str = "", emails: str = "") -> list[dict]:
    """Contacts from three texts (an import's cells, a form's fields) that may each hold
    several values separated by ; — the first name goes with the first phone and the
    first e-mail, and so on."""
    parts = [_SPLIT.split(text or "") for text in (names, phones, emails)]
    found = [{"name": n.strip(), "phone": p.strip(), "email": e.strip()}
             for n, p, e in zip_longest(*parts, fillvalue="")]
    return [c for c in found if any(c.values())]
