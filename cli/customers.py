"""`knownfix customers …` and `knownfix assets …`: the customer and equipment records
(service/customers.py) imported, listed, shown and merged.  `commands` is merged into
the root app by cli/main.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt, JsonOpt

if TYPE_CHECKING:  # the service loads with the session
    from datetime import date

    from service.customers import Asset, Customer

commands = typer.Typer()
customers_app = typer.Typer(no_args_is_help=True, help="Customer records (客户服务档案): "
                            "import, list, show, merge duplicates.")
assets_app = typer.Typer(no_args_is_help=True, help="Equipment records (设备档案): import, "
                         "list, show with warranty and service history, merge duplicates.")
commands.add_typer(customers_app, name="customers")
commands.add_typer(assets_app, name="assets")

FileArg = Annotated[Path, typer.Argument(help="CSV, Excel (.xlsx) or JSON Lines file.")]
EncodingOpt = Annotated[str | None, typer.Option(help="Force a text encoding.")]
RejectsOpt = Annotated[Path | None, typer.Option(help="Write rejected rows here (CSV).")]
SearchOpt = Annotated[str, typer.Option("--search", help="Only records containing this "
                                        "text (name or contact; serial, model or product).")]


def _import(kind: str, file: Path, encoding: str | None, rejects: Path | None,
            as_user: str | None, data_dir: str | None) -> None:
    from kb.importer import write_rejects

    if not file.is_file():
        fail(f"no such file: {file}" if not file.exists() else f"{file} is not a file")
    with session(data_dir, as_user) as s:
        report = s.desk.customers.import_file(s.actor, file, kind, encoding)
    for rej in report.rejected:
        typer.echo(f"row {rej.row}: {rej.reason}", err=True)
    if rejects and report.rejected:
        write_rejects(report, rejects)
    typer.echo(f"imported {report.taken} {kind}s, rejected {len(report.rejected)} rows "
               f"(encoding {report.encoding or 'xlsx'})")


def _merge(kind: str, source: str, into: str, as_user: str | None,
           data_dir: str | None) -> None:
    with session(data_dir, as_user) as s:
        merge = s.desk.customers.merge_customers if kind == "customer" else \
            s.desk.customers.merge_assets
        kept = merge(s.actor, source, into)
    typer.echo(f"merged {kind} {source} into {kept.id}")


def warranty(asset: Asset, today: date) -> str:
    """An asset's warranty in words: in warranty (parts free), out, or unknown."""
    state = asset.in_warranty(today)
    if state is None:
        return "warranty unknown"
    if state:
        return f"in warranty until {asset.warranty_end} (parts free)"
    return f"out of warranty since {asset.warranty_end}"


def _customer_line(c: Customer) -> str:
    first = c.contacts[0] if c.contacts else {}
    contact = " ".join(v for v in (first.get("name"), first.get("phone")) if v)
    return "  ".join(p for p in (c.id, c.name, contact, c.service_level) if p)


def _asset_line(a: Asset) -> str:
    return "  ".join(p for p in (a.id, a.model or a.product, a.serial, a.customer_id or "-",
                                 a.location) if p)


@customers_app.command("import")
def customers_import(file: FileArg, encoding: EncodingOpt = None, rejects: RejectsOpt = None,
                     as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Import customers: a column name (客户名称), and any of id, contact, phone, email,
    address, contract, service_level, note (English or Chinese names); a known id changes
    that customer.

    Example: knownfix customers import 客户档案.xlsx --rejects bad.csv
    """
    _import("customer", file, encoding, rejects, as_user, data_dir)


@customers_app.command("list")
def customers_list(search: SearchOpt = "", as_json: JsonOpt = False, as_user: AsOpt = None,
                   data_dir: DataDirOpt = None) -> None:
    """List customers, or those whose name or contact contains the search text.

    Example: knownfix customers list --search 华东
    """
    with session(data_dir, as_user) as s:
        found, _assets = s.desk.customers.search(s.actor, search, limit=1000)
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in found], ensure_ascii=False, indent=2))
        return
    for c in found:
        typer.echo(_customer_line(c))
    if not found:
        typer.echo("no customers", err=True)


@customers_app.command("show")
def customers_show(customer_id: Annotated[str, typer.Argument(help="Customer id.")],
                   as_json: JsonOpt = False, as_user: AsOpt = None,
                   data_dir: DataDirOpt = None) -> None:
    """A customer with its contacts and equipment.

    Example: knownfix customers show CU-1
    """
    with session(data_dir, as_user) as s:
        c, assets = s.desk.customers.customer_card(s.actor, customer_id)
        today = s.desk.customers.today()
    if as_json:
        typer.echo(json.dumps({**asdict(c), "assets": [asdict(a) for a in assets]},
                              ensure_ascii=False, indent=2))
        return
    typer.echo(f"{c.id}  {c.name}")
    for label, value in (("address", c.address), ("contract", c.contract),
                         ("service level", c.service_level), ("note", c.note)):
        if value:
            typer.echo(f"  {label}: {value}")
    for contact in c.contacts:
        typer.echo("  contact: " + " ".join(v for v in contact.values() if v))
    for a in assets:
        typer.echo(f"  asset {_asset_line(a)}  ({warranty(a, today)})")


@customers_app.command("merge")
def customers_merge(source: Annotated[str, typer.Argument(help="The duplicate's id.")],
                    into: Annotated[str, typer.Argument(help="The customer to keep.")],
                    as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Merge a duplicate customer into another: its cases and equipment move over, its
    record points at the one kept (managers and admins).

    Example: knownfix customers merge CU-7 CU-2
    """
    _merge("customer", source, into, as_user, data_dir)


@assets_app.command("import")
def assets_import(file: FileArg, encoding: EncodingOpt = None, rejects: RejectsOpt = None,
                  as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Import equipment: product, model or serial (产品, 型号, 序列号), and any of id,
    customer (an id or a customer's exact name), location, installed_at, warranty_end
    (三包期), note; a known id changes that asset.

    Example: knownfix assets import 设备档案.csv
    """
    _import("asset", file, encoding, rejects, as_user, data_dir)


@assets_app.command("list")
def assets_list(search: SearchOpt = "", as_json: JsonOpt = False, as_user: AsOpt = None,
                data_dir: DataDirOpt = None) -> None:
    """List equipment, or that whose serial, model or product contains the search text.

    Example: knownfix assets list --search NVR-4216
    """
    with session(data_dir, as_user) as s:
        _customers, found = s.desk.customers.search(s.actor, search, limit=1000)
    if as_json:
        typer.echo(json.dumps([asdict(a) for a in found], ensure_ascii=False, indent=2))
        return
    for a in found:
        typer.echo(_asset_line(a))
    if not found:
        typer.echo("no assets", err=True)


@assets_app.command("show")
def assets_show(key: Annotated[str, typer.Argument(help="Asset id or serial number.")],
                as_json: JsonOpt = False, as_user: AsOpt = None,
                data_dir: DataDirOpt = None) -> None:
    """An asset with its warranty and service history (its cases, newest first).

    Example: knownfix assets show NVR4216-A1580
    """
    with session(data_dir, as_user) as s:
        a, history = s.desk.customers.asset_card(s.actor, key)
        today = s.desk.customers.today()
    if as_json:
        typer.echo(json.dumps({**asdict(a), "in_warranty": a.in_warranty(today),
                               "history": [asdict(h) for h in history]},
                              ensure_ascii=False, indent=2))
        return
    typer.echo(f"{_asset_line(a)}  ({warranty(a, today)})")
    for h in history:
        fix = " ".join(h.fix.split())[:80]
        typer.echo(f"  {h.case_id}  {(h.received_at or '')[:10]}  {h.state}  {h.title}"
                   + (f"  → {fix}" if fix else ""))


@assets_app.command("merge")
def assets_merge(source: Annotated[str, typer.Argument(help="The duplicate's id.")],
                 into: Annotated[str, typer.Argument(help="The asset to keep.")],
                 as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Merge a duplicate asset into another: its cases move over, its record points at
    the one kept (managers and admins).

    Example: knownfix assets merge AS-9 AS-3
    """
    _merge("asset", source, into, as_user, data_dir)
