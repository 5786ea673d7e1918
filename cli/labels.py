"""`knownfix labels names`: the display names of label values and severity levels
(service/display_names.py), listed or set.  `commands` is merged into the root app by
cli/main.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt, JsonOpt
from service.display_names import DisplayName

commands = typer.Typer()
labels_app = typer.Typer(no_args_is_help=True, help="Label values: their display names.")
commands.add_typer(labels_app, name="labels")


@labels_app.command("names")
def names(
    set_: Annotated[tuple[str, str] | None, typer.Option(
        "--set", metavar="FIELD VALUE", help="Name this value of this field (a label field, "
        "or severity for a level); give --zh and/or --en.", show_default=False)] = None,
    zh: Annotated[str | None, typer.Option(
        "--zh", help="The Chinese name (\"\" removes it).", show_default=False)] = None,
    en: Annotated[str | None, typer.Option(
        "--en", help="The English name (\"\" removes it).", show_default=False)] = None,
    as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """List every label value and severity level with its names, or set one value's
    names; a value without a name is shown as stored.

    Example: knownfix labels names --set category storage --zh 存储 --en storage
    """
    if set_ is None and (zh is not None or en is not None):
        fail("--zh and --en name a value: give --set FIELD VALUE too")
    if set_ is not None and zh is None and en is None:
        fail("give --zh NAME and/or --en NAME with --set")
    with session(data_dir, as_user) as s:
        if set_ is not None:
            field, value = set_
            old = next((e for e in s.desk.names.entries(s.actor)
                        if (e.field, e.value) == (field, value)), DisplayName(field, value))
            new = replace(old, **{k: v for k, v in (("zh", zh), ("en", en)) if v is not None})
            n = s.desk.names.set_many(s.actor, [new])
            typer.echo(f"{field} {value}: {new.zh or '-'} / {new.en or '-'} "
                       f"({n} change{'s' if n != 1 else ''})")
            return
        entries = s.desk.names.entries(s.actor)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2))
        return
    for e in entries:
        typer.echo(f"{e.field:<12} {e.value:<20} {e.zh or '-':<16} {e.en or '-'}")
