"""`knownfix report`: the manager statistics (工作报表) as CSV, XLSX or JSON.

Who reads: `--as USER` (default $KNOWNFIX_USER) must have a role allowed to view reports
(manager or admin). With neither, the command acts as the built-in `system` administrator:
the command line is an admin tool run on the server, by someone who can already read the
data folder.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt

commands = typer.Typer()


def _default_period(zone: tzinfo) -> tuple[str, str]:
    """28 days ago to tomorrow, as days in `zone` (the configured zone)."""
    today = datetime.now(zone).date()
    return (today - timedelta(days=28)).isoformat(), (today + timedelta(days=1)).isoformat()


@commands.command("report")
def report(
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD "
                     "(inclusive; default: 28 days ago), or a time (2026-12-01 09:00, "
                     "ISO-8601); without a zone in the configured timezone.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD "
                   "(exclusive; default: tomorrow), or a time; without a zone in the "
                   "configured timezone.")] = None,
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
    with session(data_dir, as_user) as s:
        first, after = _default_period(s.desk.engine.settings.zone)
        start, end = start or first, end or after
        target = out if out is not None else io.StringIO()
        data = s.desk.reports.export(s.actor, start, end, fmt, target, stale_days=stale_days)
    if out is None:
        typer.echo(target.getvalue(), nl=False)
    else:
        typer.echo(f"wrote the report for {data['period']['cases']} cases "
                   f"({start} to {end}) to {out}")

