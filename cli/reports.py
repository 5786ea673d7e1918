"""`knownfix report`: the manager statistics (工作报表) as CSV, XLSX or JSON.

Who reads: `--as USER` (default $KNOWNFIX_USER) must have a role allowed to view reports
(manager or admin). With neither, the command acts as the built-in `system` administrator:
the command line is an admin tool run on the server, by someone who can already read the
data folder.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt

commands = typer.Typer()


def _default_from() -> str:
    return (datetime.now(UTC).date() - timedelta(days=28)).isoformat()


def _default_to() -> str:
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


@commands.command("report")
def report(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD "
                     "(UTC, inclusive; default: 28 days ago).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD "
                   "(UTC, exclusive; default: tomorrow).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="File to write (needed for "
                   "xlsx; otherwise printed).")] = None,
    stale_days: Annotated[int, typer.Option(help="Validated articles not reviewed for "
                          "this many days are stale.")] = 180,
    as_user: AsOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Statistics for the cases received in a period: volume by channel, category and
    severity; first-contact resolution, escalation and delay reasons; response and
    resolution times; satisfaction; each engineer's work; knowledge health and gaps.

    Example: knownfix report --from 2026-01-01 --to 2026-02-01 --format xlsx --out jan.xlsx
    """
    from service.reports import FORMATS

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx needs --out FILE")
    start, end = start or _default_from(), end or _default_to()
    with session(data_dir, as_user) as s:
        target = out if out is not None else io.StringIO()
        data = s.desk.reports.export(s.actor, start, end, fmt, target, stale_days=stale_days)
    if out is None:
        typer.echo(target.getvalue(), nl=False)
    else:
        typer.echo(f"wrote the report for {data['period']['cases']} cases "
                   f"({start} to {end}) to {out}")

