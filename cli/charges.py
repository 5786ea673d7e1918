"""`knownfix parts`: the parts catalogue (import, list); `knownfix charges`: a case's parts
and chargeable items (list, part, add, remove), over service/charges.py.  What goes to
finance is written by `knownfix report --billing` (cli/reports.py).

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.edge import session
from cli.options import AsOpt, DataDirOpt, JsonOpt

if TYPE_CHECKING:
    from service.charges import CaseCharges, Item

commands = typer.Typer()
parts_app = typer.Typer(no_args_is_help=True, help="The parts catalogue (备件目录).")
charges_app = typer.Typer(no_args_is_help=True,
                          help="A case's parts and chargeable items (备件与费用).")
commands.add_typer(parts_app, name="parts")
commands.add_typer(charges_app, name="charges")
CaseArg = Annotated[str, typer.Argument(help="The case number, e.g. KF-20261202-1.")]
QtyOpt = Annotated[str, typer.Option("--qty", help="Quantity: pieces, hours, metres "
                                     "(above 0, at most three decimals).")]


@parts_app.command("import")
def import_parts(
    file: Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) file.")],
    code: Annotated[str | None, typer.Option(help="Column of the part code (default: "
                    "code, 编码, 备件编码, 料号 ...).")] = None,
    name: Annotated[str | None, typer.Option(help="Column of the name (default: name, "
                    "名称, 备件名称 ...).")] = None,
    unit: Annotated[str | None, typer.Option(help="Column of the unit (default: unit, "
                    "单位; may be missing).")] = None,
    price: Annotated[str | None, typer.Option(help="Column of the unit price, e.g. 12.50 "
                     "(default: price, 单价, 价格 ...).")] = None,
    encoding: Annotated[str | None, typer.Option(help="Force a text encoding.")] = None,
    header_row: Annotated[int | None, typer.Option(
        "--header-row", help="The row (from 1) holding the column names.")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows here "
                       "(CSV).")] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Add parts to the catalogue or update them (by code), with their prices; a price
    changed here applies to parts recorded from now on.  Each row is taken or reported
    with why not.

    Example: knownfix parts import 备件价格表.xlsx --code 备件编码 --price 单价
    """
    from kb.importer import write_rejects

    columns = {k: v for k, v in (("code", code), ("name", name), ("unit", unit),
                                 ("price", price)) if v}
    with session(data_dir, as_user, create=True) as s:
        report = s.desk.charges.import_parts(s.actor, file, columns, encoding, header_row)
    for rej in report.rejected:
        typer.echo(f"row {rej.row}: {rej.reason}", err=True)
    if rejects and report.rejected:
        write_rejects(report, rejects)
    typer.echo(f"imported {report.taken} parts, rejected {len(report.rejected)} rows")


@parts_app.command("list")
def list_parts(
    query: Annotated[str, typer.Argument(help="Only parts whose code or name holds "
                                         "this.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many (0: all).")] = 0,
    as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """The catalogue's parts by code: code, name, unit and price.

    Example: knownfix parts list 硬盘
    """
    from service.charges import money_text

    with session(data_dir, as_user) as s:
        parts = s.desk.charges.parts(s.actor, query, limit or None)
    if as_json:
        typer.echo(json.dumps([{"code": p.code, "name": p.name, "unit": p.unit,
                                "price_cents": p.price} for p in parts],
                              ensure_ascii=False, indent=2))
        return
    for p in parts:
        typer.echo(f"{p.code:<16} {money_text(p.price):>10} {p.unit or '-':<4} {p.name}")
    if not parts:
        typer.echo("no parts" + (f" matching {query!r}" if query else ""), err=True)


@charges_app.command("list")
def list_charges(case_id: CaseArg, as_json: JsonOpt = False, as_user: AsOpt = None,
                 data_dir: DataDirOpt = None) -> None:
    """A case's parts and charges, what is free under warranty, the total and what
    went to finance.

    Example: knownfix charges list KF-20261202-1
    """
    with session(data_dir, as_user) as s:
        found = s.desk.charges.of_case(s.actor, case_id)
    if as_json:
        typer.echo(json.dumps({
            "items": [{"id": i.id, **i.line(), "billing": i.billing_id, "at": i.at,
                       "by": i.actor} for i in found.items],
            "billings": [{"id": b.id, "total": b.total, "at": b.created_at}
                         for b in found.billings],
            "total": found.total, "unbilled": found.unbilled, "billed": found.billed,
            "parts_now": found.warranty}, ensure_ascii=False, indent=2))
        return
    typer.echo("\n".join(charge_lines(found)))


def charge_lines(found: CaseCharges) -> list[str]:
    """A case's items one a line (number, kind, part, quantity, price, amount, why,
    billed or not) and a last line with the totals (also for `knownfix case show`)."""
    from service.charges import money_text

    out = []
    for i in found.items:
        unit = f" {i.unit}" if i.unit else ""
        state = f"billing {i.billing_id}" if i.billed else "not billed"
        out.append(f"{i.id:>4}  {i.kind:<6} {(i.code + ' ' + i.name).strip()} × "
                   f"{i.line()['quantity']}{unit} @ {money_text(i.unit_price)} = "
                   f"{money_text(i.amount)}{'  ' + i.why if i.why else ''}  ({state})")
    out.append(f"total {money_text(found.total)}, not billed {money_text(found.unbilled)}, "
               f"sent to finance {money_text(found.billed)}; parts now: {found.warranty}")
    return out


@charges_app.command("part")
def add_part(case_id: CaseArg,
             code: Annotated[str, typer.Argument(help="The part's catalogue code.")],
             qty: QtyOpt = "1", as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Record a catalogue part used on the case, at the catalogue's price now (free in
    warranty).

    Example: knownfix charges part KF-20261202-1 HD-4T --qty 2 --as bob
    """
    with session(data_dir, as_user) as s:
        _said(s.desk.charges.add_part(s.actor, case_id, code, qty))


@charges_app.command("add")
def add_item(
    case_id: CaseArg,
    kind: Annotated[str, typer.Argument(help="labour, travel or other.")],
    price: Annotated[str, typer.Argument(help="The price, e.g. 120 or 35.50 (labour: "
                                         "the hourly rate).")],
    qty: QtyOpt = "1",
    note: Annotated[str, typer.Option(help="What it is for (needed for other).")] = "",
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Record a chargeable item: labour (--qty hours at PRICE an hour), travel or other.

    Example: knownfix charges add KF-20261202-1 labour 120 --qty 1.5 --as bob
    """
    with session(data_dir, as_user) as s:
        _said(s.desk.charges.add_item(s.actor, case_id, kind, price, qty, note))


@charges_app.command("remove")
def remove_item(case_id: CaseArg,
                item: Annotated[int, typer.Argument(help="The item's number (charges "
                                                  "list).")],
                as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Take back an item recorded by mistake (not one already sent to finance).

    Example: knownfix charges remove KF-20261202-1 3 --as bob
    """
    with session(data_dir, as_user) as s:
        gone = s.desk.charges.remove(s.actor, case_id, item)
    typer.echo(f"removed charge {gone.id} ({gone.kind} {gone.code}) of {case_id}")


def _said(item: Item) -> None:
    """One line saying what was recorded, and why a part is free or charged."""
    from service.charges import money_text

    free = f" (free: {item.why})" if item.free else (f" ({item.why})" if item.why else "")
    typer.echo(f"{item.case_id}: charge {item.id} {item.kind} {item.code} "
               f"= {money_text(item.amount)}{free}".replace("  ", " "))
