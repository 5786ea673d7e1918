"""Customers (客户服务档案) and their equipment (设备档案): who a case is for and what it
is about.  Tables `customers` and `assets` (kb/store.py `_create_customer_tables`).

A case points at its customer and asset (`cases.customer_id`, `cases.asset_id`); the
asset's warranty end (三包期) decides whether parts are free, its earlier cases are its
service history.  A merged duplicate keeps its row and points at the record it was
merged into; reading it follows that pointer, so old references still work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from errors import NotFound
from service.engine import Engine, OnEngine


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


_MERGE_DEPTH = 20  # a chain of merges longer than this is a loop in the data


class Customers(OnEngine):
    """Reading customer and asset records (writing, import and merging: below them)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    def _row(self, table: str, rid: str) -> dict:
        for _ in range(_MERGE_DEPTH):
            cur = self.kb.db.execute(f"SELECT * FROM {table} WHERE id = ?", [rid])
            found = cur.fetchone()
            if found is None:
                kind = "customer" if table == "customers" else "asset"
                raise NotFound(f"no {kind} with id {rid!r}", "not_found", kind=kind, id=rid)
            row = dict(zip([d[0] for d in cur.description], found, strict=True))
            if not row.get("merged_into"):
                return row
            rid = row["merged_into"]
        raise NotFound(f"the merges of {rid!r} go round in a loop", "not_found",
                       kind=table, id=rid)

    def customer(self, customer_id: str) -> Customer:
        row = self._row("customers", customer_id)
        return Customer(id=row["id"], name=row["name"],
                        contacts=json.loads(row["contacts"] or "[]"),
                        address=row["address"] or "", contract=row["contract"] or "",
                        service_level=row["service_level"] or "", note=row["note"] or "")

    def asset(self, asset_id: str) -> Asset:
        row = self._row("assets", asset_id)
        return Asset(**{k: (row[k] or "") if k in _TEXT else row[k] for k in _ASSET_FIELDS})


_ASSET_FIELDS = ("id", "customer_id", "product", "model", "serial", "location",
                 "installed_at", "warranty_end", "note")
_TEXT = ("product", "model", "serial", "location", "note")
