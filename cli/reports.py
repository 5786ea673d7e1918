"""`knownfix report`: the manager statistics as CSV, XLSX or JSON; `knownfix report work`:
the per-case work report (工作报表) as CSV or XLSX.

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


report_app = typer.Typer()
commands.add_typer(report_app, name="report")
FromOpt = Annotated[str | None, typer.Option("--from", "--since", help="First day, YYYY-MM-DD "
                    "(inclusive; default: 28 days ago), or a time (2026-12-01 09:00, "
                    "ISO-8601); without a zone in the configured timezone.")]
ToOpt = Annotated[str | None, typer.Option("--to", "--until", help="Day after the last, YYYY-MM-DD "
                  "(exclusive; default: tomorrow), or a time; without a zone in the "
                  "configured timezone.")]
ImportedOpt = Annotated[bool, typer.Option("--include-imported", help="Count imported "
                        "history (knownfix import, the demo) too; it has no real received "
                        "time, so it is left out by default.")]


@report_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    start: FromOpt = None,
    end: ToOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx or json "
                   "(default json; with --billing csv or xlsx, default csv).",
                   show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (needed for "
                   "xlsx; otherwise printed).")] = None,
    stale_days: Annotated[int, typer.Option(help="Validated articles not reviewed for "
                          "this many days are stale.")] = 180,
    include_imported: ImportedOpt = False,
    billing: Annotated[bool, typer.Option("--billing", help="Instead of the statistics: "
                       "what went to finance in the period (结案转财务), one row per "
                       "billing line; the xlsx has the items as a second sheet.")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="Language of the billing "
                    "headers: zh or en (default: the acting user's).",
                    show_default=False)] = None,
    as_user: AsOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Statistics for the cases received in a period: volume by channel, category and
    severity; first-contact resolution, escalation and delay reasons; response and
    resolution times; satisfaction; each engineer's work; knowledge health and gaps.
    `knownfix report work` lists the cases one by one (工作报表); `--billing` writes the
    charges sent to finance (服务费用报告).

    Example: knownfix report --from 2026-01-01 --to 2026-02-01 --format xlsx --out jan.xlsx

    Example: knownfix report --billing --since 2026-11-01 --until 2026-12-01 --format
    xlsx --out billing-11.xlsx
    """
    if ctx.invoked_subcommand is not None:
        return
    if billing:
        _billing(start, end, fmt or "csv", out, lang, as_user, data_dir)
        return
    if lang is not None:
        fail("--lang is for --billing (the work report has its own: report work --lang)")
    from service.reports import FORMATS

    fmt = fmt or "json"
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx needs --out FILE")
    with session(data_dir, as_user) as s:
        first, after = _default_period(s.desk.engine.settings.zone)
        start, end = start or first, end or after
        target = out if out is not None else io.StringIO()
        data = s.desk.reports.export(s.actor, start, end, fmt, target, stale_days=stale_days,
                                     include_imported=include_imported)
    if out is None:
        typer.echo(target.getvalue(), nl=False)
    else:
        typer.echo(f"wrote the report for {data['period']['cases']} cases "
                   f"({start} to {end}) to {out}")


def _billing(start: str | None, end: str | None, fmt: str, out: Path | None,
             lang: str | None, as_user: str | None, data_dir: str | None) -> None:
    """`report --billing`: the billing lines of the period as csv or xlsx."""
    from ui.i18n import LANGUAGES

    if fmt not in ("csv", "xlsx"):
        fail(f"unknown billing format {fmt!r} (use csv or xlsx)")
    if fmt == "xlsx" and out is None:
        fail("--format xlsx needs --out FILE")
    if lang is not None and lang not in LANGUAGES:
        fail(f"unknown language {lang!r} (use {' or '.join(LANGUAGES)})")
    with session(data_dir, as_user) as s:
        zone = s.desk.engine.settings.zone
        first, after = _default_period(zone)
        start, end = start or first, end or after
        target = out if out is not None else io.StringIO()
        bills = s.desk.charges.billing_file(s.actor, start, end, fmt, lang or s.actor.lang,
                                            target, zone)
    if out is None:
        typer.echo(target.getvalue(), nl=False)
    else:
        from service.charges import money_text

        typer.echo(f"wrote {len(bills)} billing lines, {money_text(sum(b.total for b in bills))}"
                   f" in all ({start} to {end}), to {out}")


@report_app.command("work")
def work(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx (the xlsx has the "
                   "aggregate statistics as further sheets).")] = "xlsx",
    start: FromOpt = None,
    end: ToOpt = None,
    engineer: Annotated[str, typer.Option("--engineer", help="Only cases assigned to this "
                        "user name.")] = "",
    customer: Annotated[str, typer.Option("--customer", help="Only customers whose name "
                        "contains this.")] = "",
    channel: Annotated[str, typer.Option("--channel", help="Only this channel (phone, "
                       "email, web, onsite).")] = "",
    state: Annotated[str, typer.Option("--state", help="Only cases in this state, e.g. "
                     "closed.")] = "",
    work_type: Annotated[str, typer.Option("--work", help="Only this kind of work: fault "
                         "or maintenance (定期维护).")] = "",
    lang: Annotated[str, typer.Option("--lang", help="Language of the headers: zh or "
                    "en.")] = "zh",
    include_imported: ImportedOpt = False,
    as_user: AsOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The work report (工作报表): one row per case received or worked on in the period,
    with customer, channel, product and serial, engineer, times (in the configured
    timezone), cause, fix, parts,
    delay reason, satisfaction and follow-up.

    Example: knownfix report work --from 2026-11-01 --to 2026-12-01 --engineer wang
    --format xlsx --out 2026-11.xlsx
    """
    from service.work_report import WorkFilter
    from ui.i18n import LANGUAGES

    if fmt not in ("csv", "xlsx"):
        fail(f"unknown format {fmt!r} (use csv or xlsx)")
    if lang not in LANGUAGES:
        fail(f"unknown language {lang!r} (use {' or '.join(LANGUAGES)})")
    found = WorkFilter(engineer, customer, channel, state, work_type)
    with session(data_dir, as_user) as s:
        zone = s.desk.engine.settings.zone
        first, after = _default_period(zone)
        start, end = start or first, end or after
        write = (s.desk.reports.work_report_xlsx if fmt == "xlsx"
                 else s.desk.reports.work_report_csv)
        rows = write(s.actor, start, end, lang, out, found, include_imported, tz=zone)
    typer.echo(f"wrote the work report of {len(rows)} cases ({start} to {end}) to {out}")
