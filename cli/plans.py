"""`knownfix plans ...`: maintenance plans (定期维护) — add, list, edit, pause, resume,
and `run-due`, one pass that opens the cases due (for cron; `knownfix serve` does it by
itself every few minutes).  service/maintenance.py does the work.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cli.edge import session
from cli.options import TIME_HELP, AsOpt, DataDirOpt, JsonOpt

if TYPE_CHECKING:
    from service.maintenance import Plan

commands = typer.Typer()
plans_app = typer.Typer(no_args_is_help=True, help="Maintenance plans: cases opened on "
                        "time for an asset or a customer, every N days or months.")
commands.add_typer(plans_app, name="plans")

UnitOpt = Annotated[str, typer.Option("--unit", help="days or months.")]
PlanArg = Annotated[int, typer.Argument(help="The plan's number (see `knownfix plans list`).")]


def _show(plan: Plan, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(plan.to_json(), ensure_ascii=False, indent=2))
        return
    whom = f"asset {plan.asset_id}" if plan.asset_id else f"customer {plan.customer_id}"
    who = " / ".join(p for p in (plan.assignee, plan.team and f"team {plan.team}") if p)
    state = "active" if plan.active else "paused"
    typer.echo(f"{plan.id:>4}  {state:<6}  next {plan.next_due}  every {plan.every} "
               f"{plan.unit:<6}  {whom}  -> {who}  {plan.title}")


@plans_app.command("add")
def add_cmd(
    title: Annotated[str, typer.Option("--title", help="The cases' title.")],
    work: Annotated[str, typer.Option("--work", help="The work to do (the cases' text).")],
    every: Annotated[int, typer.Option("--every", help="How many days or months apart.")],
    start: Annotated[str, typer.Option("--start", help="The first due date, YYYY-MM-DD.")],
    unit: UnitOpt = "months",
    asset: Annotated[str, typer.Option("--asset", help="The asset's id.")] = "",
    customer: Annotated[str, typer.Option("--customer", help="The customer's id (an asset's "
                                          "own customer when only --asset is given).")] = "",
    assignee: Annotated[str, typer.Option("--assignee", help="Who gets the cases: a user "
                                          "name (engineer, manager or admin).")] = "",
    team: Annotated[str, typer.Option("--team", help="The team the cases go to.")] = "",
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Add a maintenance plan (managers and admins).

    Example: knownfix plans add --asset A-17 --every 3 --unit months --start 2027-01-31
    --title "UPS 季度保养" --work "检查电池、清洁风扇" --assignee wang
    """
    with session(data_dir, as_user) as s:
        plan = s.desk.maintenance.add(s.actor, title, work, every, unit, start, asset,
                                      customer, assignee, team)
    _show(plan, as_json)


@plans_app.command("list")
def list_cmd(
    active: Annotated[bool, typer.Option("--active", help="Only active plans.")] = False,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """The plans, soonest due first, paused ones last.

    Example: knownfix plans list --active
    """
    with session(data_dir, as_user) as s:
        plans = s.desk.maintenance.list(s.actor, include_paused=not active)
    if as_json:
        typer.echo(json.dumps([p.to_json() for p in plans], ensure_ascii=False, indent=2))
        return
    if not plans:
        typer.echo("no maintenance plans")
    for plan in plans:
        _show(plan, False)


@plans_app.command("edit")
def edit_cmd(
    plan_id: PlanArg,
    title: Annotated[str | None, typer.Option("--title")] = None,
    work: Annotated[str | None, typer.Option("--work")] = None,
    every: Annotated[int | None, typer.Option("--every")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="days or months.")] = None,
    next_due: Annotated[str | None, typer.Option("--next-due", help="YYYY-MM-DD; the "
                                                 "schedule counts on from it.")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="A user name ('' for "
                                                 "nobody).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="A team ('' for none).")] = None,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Change a plan; what is not given stays.

    Example: knownfix plans edit 3 --every 6 --next-due 2027-03-31
    """
    with session(data_dir, as_user) as s:
        plan = s.desk.maintenance.edit(s.actor, plan_id, title, work, every, unit, next_due,
                                       assignee, team)
    _show(plan, as_json)


@plans_app.command("pause")
def pause_cmd(plan_id: PlanArg, as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Pause a plan: it opens no case until resumed.

    Example: knownfix plans pause 3
    """
    with session(data_dir, as_user) as s:
        _show(s.desk.maintenance.set_active(s.actor, plan_id, False), False)


@plans_app.command("resume")
def resume_cmd(plan_id: PlanArg, as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Resume a paused plan; if its due date passed meanwhile, the next run opens one case.

    Example: knownfix plans resume 3
    """
    with session(data_dir, as_user) as s:
        _show(s.desk.maintenance.set_active(s.actor, plan_id, True), False)


@plans_app.command("run-due")
def run_due_cmd(
    now: Annotated[str | None, typer.Option("--now", help="Run as at this time (default: "
                                            "now). " + TIME_HELP)] = None,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Open the maintenance cases that are due, one per plan and due date, then exit
    (for cron; running it twice, or beside `knownfix serve`, opens nothing twice).

    Example (crontab, every 10 minutes): */10 * * * * knownfix plans run-due
    """
    from service.cases import parse_time

    with session(data_dir, as_user) as s:
        when = parse_time(now, s.desk.engine.settings.zone) if now else None
        report = s.desk.maintenance.run_due(s.actor, when)
    if as_json:
        typer.echo(json.dumps({"opened": [o.__dict__ for o in report.opened],
                               "skipped": report.skipped, "errors": report.errors},
                              ensure_ascii=False, indent=2))
        return
    for o in report.opened:
        typer.echo(f"plan {o.plan_id} due {o.due_on}: opened {o.case_id}"
                   + (f" (catching up {o.missed} earlier due date(s))" if o.missed else ""))
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(report.line())
    if report.errors:
        raise typer.Exit(1)
