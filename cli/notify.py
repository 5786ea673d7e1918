"""`knownfix notify ...`: deliver the outbox, set who gets which notifications, look at
what is waiting or dead (service/notify does the work).

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt, JsonOpt

if TYPE_CHECKING:
    from service.auth import User
    from service.desk import Desk

commands = typer.Typer()
notify_app = typer.Typer(no_args_is_help=True, help="Notifications: run the sender, set "
                         "each user's addresses and events, see the outbox.")
commands.add_typer(notify_app, name="notify")
SECRET_ENV = "KNOWNFIX_WEBHOOK_SECRET"


@contextmanager
def _desk(data_dir: str | None, as_user: str | None) -> Iterator[tuple[Desk, User]]:
    """The Desk and the acting user; our errors become one line."""
    with session(data_dir, as_user) as s:
        yield s.desk, s.actor


@notify_app.command("run")
def run_cmd(
    once: Annotated[bool, typer.Option("--once", help="One pass (deadline and follow-up "
                                       "checks, then every due notification), then exit.")
                    ] = False,
    interval: Annotated[float | None, typer.Option(
        "--interval", min=0.1, help="Seconds between passes (default: the setting "
        "notify_interval).")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Deliver notifications: retries with back-off, dead after notify_max_attempts.
    Several senders may run at once (each takes its rows under a lease).

    Example: knownfix notify run --interval 10
    """
    with _desk(data_dir, None) as (desk, _actor):
        sender = desk.notify.sender()
        if once:
            report = sender.run_once()
            for error in report.errors or []:
                typer.echo(f"error: {error}", err=True)
            typer.echo(report.line())
            return

        def show(report) -> None:
            for error in report.errors or []:
                typer.echo(f"error: {error}", err=True)
            if report.sent or report.retrying or report.dead or report.logged:
                typer.echo(report.line())

        def trouble(exc: Exception) -> None:
            typer.echo(f"error: {exc} (trying again)", err=True)

        typer.echo(f"sending as {sender.name}; Ctrl-C stops", err=True)
        try:
            sender.run(interval, on_pass=show, on_error=trouble)
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)


@notify_app.command("prefs")
def prefs_cmd(
    user: Annotated[str, typer.Argument(help="The user whose preferences to show or set.")],
    email: Annotated[str | None, typer.Option(help="E-mail address ('' removes it).")] = None,
    webhook: Annotated[str | None, typer.Option(help="Webhook URL ('' removes it).")] = None,
    webhook_format: Annotated[str | None, typer.Option(
        "--format", help="Webhook format: generic, wecom, dingtalk, feishu, slack, teams.")
    ] = None,
    secret: Annotated[bool, typer.Option(
        "--secret", help=f"Set the webhook's signing secret: from ${SECRET_ENV}, else asked "
        "(never on the command line). An empty answer removes it.")] = False,
    events: Annotated[str | None, typer.Option(
        help="Event kinds, comma-separated: escalated, assigned, dispatched, critical, "
             "at_risk, overdue, follow_up, review, import; or all, none.")] = None,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Show a user's notification preferences, or set them. Users set their own; an
    administrator anyone's.

    Example: knownfix notify prefs li --email li@example.com --webhook
    https://oapi.dingtalk.com/robot/send?access_token=... --format dingtalk --secret
    --events escalated,assigned,overdue
    """
    key = None
    if secret:
        key = os.environ.get(SECRET_ENV)
        if key is None:
            key = typer.prompt("webhook signing secret", hide_input=True, default="",
                               show_default=False, err=True)
    changing = any(v is not None for v in (email, webhook, webhook_format, key, events))
    with _desk(data_dir, as_user) as (desk, actor):
        if changing:
            found = desk.notify.set_prefs(actor, user, email, webhook, webhook_format, key,
                                          events)
        else:
            found = desk.notify.prefs(actor, user)
    if as_json:
        typer.echo(json.dumps(found.to_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{found.username}: e-mail {found.email or '-'}; webhook "
               f"{found.webhook or '-'}" + (f" ({found.webhook_format}"
                                            f"{', signed' if found.has_secret else ''})"
                                            if found.webhook else ""))
    typer.echo(f"events: {', '.join(found.events) or 'none'}")


@notify_app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="Only pending, sent or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many rows, newest first.")] = 50,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """The outbox: counts per state, then the newest rows (dead ones with their error).

    Example: knownfix notify list --state dead
    """
    with _desk(data_dir, as_user) as (desk, actor):
        counts = desk.notify.counts(actor)
        rows = desk.notify.rows(actor, state, limit)
    if as_json:
        typer.echo(json.dumps({"counts": counts, "rows": [r.to_json() for r in rows]},
                              ensure_ascii=False, indent=2))
        return
    typer.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
    for r in rows:
        where = f"{r.channel}{':' + r.format if r.format else ''}"
        typer.echo(f"{r.id:>6}  {r.state:<7} {r.attempts:>2}x  {r.recipient:<12} {where:<16} "
                   f"{r.payload.get('subject', '')[:60]}")
        if r.state != "sent" and r.last_error:
            typer.echo(f"        last error: {r.last_error[:200]}")


@notify_app.command("retry")
def retry_cmd(
    ids: Annotated[list[int] | None, typer.Argument(help="Outbox row ids (default: every "
                                                    "dead row).")] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Send dead notifications again (after fixing an address or the mail settings).

    Example: knownfix notify retry 12 13
    """
    with _desk(data_dir, as_user) as (desk, actor):
        n = desk.notify.retry(actor, list(ids) if ids else None)
    typer.echo(f"{n} notification(s) queued again")


@notify_app.command("test")
def test_cmd(
    user: Annotated[str, typer.Argument(help="Who gets the test notification.")],
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Queue a test notification to a user over each channel they set (the sender
    delivers it: `knownfix notify run --once`).

    Example: knownfix notify test li && knownfix notify run --once
    """
    with _desk(data_dir, as_user) as (desk, actor):
        n = desk.notify.test(actor, user)
    if not n:
        fail(f"{user} has no e-mail address or webhook: set one with "
              f"`knownfix notify prefs {user} --email ...`")
    typer.echo(f"queued {n} test notification(s) for {user}")

