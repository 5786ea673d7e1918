"""Customers and assets from a CSV, Excel or JSON Lines file (`knownfix customers import`,
`knownfix assets import`), read like every other import (kb/reader.py).

Columns are found by their names, in English or Chinese (CUSTOMER_COLUMNS,
ASSET_COLUMNS; case, blanks and - _ aside).  Each row is taken whole or reported with why
not (kb.importer's ImportReport): a row whose id is known changes that record (its empty
cells leave fields as they are), any other row adds one.  The whole file is one
transaction, so an import that breaks off leaves nothing behind; every row written is its
own event, and the import one more.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from errors import BadInput, MissingColumn
from kb.exporter import unguard_cell
from kb.importer import ImportReport, Rejected
from kb.reader import SURPLUS, SURROGATE, open_table
from service.auth import User, require
from service.customers import Customers, contacts_of

# field -> the column names that feed it
CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "customer_id", "客户编号", "编号"),
    "name": ("name", "customer", "customer_name", "客户", "客户名称", "名称", "单位"),
    "contact": ("contact", "contact_name", "联系人"),
    "phone": ("phone", "telephone", "mobile", "电话", "联系电话", "手机"),
    "email": ("email", "e_mail", "邮箱", "电子邮件"),
    "address": ("address", "地址"),
    "contract": ("contract", "合同", "合同号"),
    "service_level": ("service_level", "sla", "服务级别", "服务等级"),
    "note": ("note", "notes", "备注"),
}
ASSET_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "asset_id", "设备编号", "编号"),
    "customer": ("customer", "customer_id", "客户", "客户编号", "客户名称"),
    "product": ("product", "产品", "设备类型"),
    "model": ("model", "型号", "设备型号"),
    "serial": ("serial", "serial_number", "sn", "序列号", "设备序列号"),
    "location": ("location", "安装位置", "位置"),
    "installed_at": ("installed_at", "installed", "install_date", "安装日期"),
    "warranty_end": ("warranty_end", "warranty", "保修截止", "保修到期", "三包期",
                     "三包截止", "三包期截止", "保修截止日期"),
    "note": ("note", "notes", "备注"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-_]+", "_", name.strip().lstrip("\ufeff").casefold())


def _columns(available: list[str], wanted: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """field -> the file's column feeding it (the first that matches a name of it)."""
    by_norm = {}
    for col in available:
        by_norm.setdefault(_norm(col), col)
    found = {}
    for name, aliases in wanted.items():
        col = next((by_norm[_norm(a)] for a in aliases if _norm(a) in by_norm), None)
        if col is not None:
            found[name] = col
    return found


def import_records(customers: Customers, actor: User, path: str | Path, kind: str,
                   encoding: str | None = None) -> ImportReport:
    """Import customers (`kind` "customer") or assets ("asset") from `path`."""
    require(actor, "kb.import")
    if kind not in ("customer", "asset"):
        raise BadInput(f"unknown kind {kind!r} (customer or asset)")
    table = open_table(path, encoding)
    wanted = CUSTOMER_COLUMNS if kind == "customer" else ASSET_COLUMNS
    cols = _columns(table.columns, wanted)
    needed = ("name",) if kind == "customer" else ("product", "model", "serial")
    if not set(needed) & set(cols):
        names = " / ".join(f"{n} ({', '.join(wanted[n][:4])})" for n in needed)
        raise MissingColumn(f"the file has no column {names} (columns: "
                            f"{', '.join(table.columns[:30])})", "import_missing",
                            missing=names, available=", ".join(table.columns[:30]),
                            header_row=table.header_row)
    report = ImportReport(encoding=table.encoding, header_row=table.header_row)
    start, seen = time.perf_counter(), {}
    row_of = _customer_row if kind == "customer" else _asset_row
    kb = customers.kb
    with kb.transaction():
        for rowno, raw in enumerate(table.rows, start=1):
            try:
                values = _cells(raw, cols)
                rid = values.pop("id", "")
                if rid and seen.setdefault(rid, rowno) != rowno:
                    raise BadInput(f"duplicate id {rid!r} (also row {seen[rid]})",
                                   "import_duplicate", id=rid, first=seen[rid])
                row_of(customers, actor, rid, values)
                report.taken += 1
            except BadInput as exc:
                report.rejected.append(Rejected(rowno, str(exc), raw, exc))
        kb.log(actor.username, f"{kind}:import", f"file:{Path(path).name}",
               {"taken": report.taken, "rejected": len(report.rejected)})
    report.seconds = time.perf_counter() - start
    return report


def _cells(raw: dict[str, str], cols: dict[str, str]) -> dict[str, str]:
    """The row's cells by field, checked for what no field may hold."""
    if SURPLUS in raw:
        raise BadInput(f"more cells than the header has columns: {raw[SURPLUS]!r}",
                       "import_surplus", cells=repr(raw[SURPLUS])[:80])
    cells = "".join(v for v in raw.values() if isinstance(v, str))
    if "\x00" in cells:
        raise BadInput("NUL byte in a cell", "import_nul")
    if SURROGATE.search(cells):
        raise BadInput("a cell is not valid Unicode text (a lone surrogate)",
                       "import_surrogate")
    return {name: unguard_cell(raw.get(col) or "").strip() for name, col in cols.items()}


def _customer_row(customers: Customers, actor: User, rid: str, v: dict[str, str]) -> None:
    contacts = contacts_of(v.pop("contact", ""), v.pop("phone", ""), v.pop("email", ""))
    if rid and _exists(customers, "customers", rid):
        given = {k: x for k, x in v.items() if x}
        if contacts:
            given["contacts"] = contacts
        customers.edit_customer(actor, rid, **given)
        return
    customers.add_customer(actor, v.get("name", ""), contacts, v.get("address", ""),
                           v.get("contract", ""), v.get("service_level", ""),
                           v.get("note", ""), customer_id=rid or None)


def _asset_row(customers: Customers, actor: User, rid: str, v: dict[str, str]) -> None:
    who = v.pop("customer", "")
    if who:
        v["customer_id"] = _customer_id(customers, who)
    if rid and _exists(customers, "assets", rid):
        customers.edit_asset(actor, rid, **{k: x for k, x in v.items() if x})
        return
    customers.add_asset(actor, asset_id=rid or None, **v)


def _exists(customers: Customers, table: str, rid: str) -> bool:
    return customers.kb.db.execute(f"SELECT 1 FROM {table} WHERE id = ?",
                                   [rid]).fetchone() is not None


def _customer_id(customers: Customers, who: str) -> str:
    """A customer cell: a customer's id, else the exact name of one live customer."""
    if _exists(customers, "customers", who):
        return who
    named = [c.id for c in customers.find_customers(who, limit=5) if c.name == who]
    if len(named) == 1:
        return named[0]
    if named:
        raise BadInput(f"customer {who!r}: several customers have this name; give the id",
                       "import_customer_many", name=who[:80])
    raise BadInput(f"customer {who!r}: no customer with this id or name", "import_customer",
                   name=who[:80])
