"""`knownfix intake-mail`: e-mails from files, folders, maildirs or an IMAP mailbox
become cases, and every message's outcome is printed (service/mail.py does the work).

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.edge import fail, session
from cli.options import AsOpt, DataDirOpt, JsonOpt

if TYPE_CHECKING:
    from errors import KnownFixError
    from service.auth import User
    from service.mail import IntakeReport, MailIntake, Outcome
    from service.mail_sources import ImapAccount, RawMessage

commands = typer.Typer()
PASSWORD_ENV = "KNOWNFIX_IMAP_PASSWORD"


def _imap_password(account: ImapAccount) -> str:
    """From $KNOWNFIX_IMAP_PASSWORD, else asked for (never an option: it would show in
    the shell history and the process list)."""
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = typer.prompt(f"IMAP password for {account.user}@{account.host}",
                                hide_input=True, err=True)
    return password


def _sources(paths: list[Path], account: ImapAccount | None, password: str,
             intake: MailIntake) -> Callable[[], Iterator[RawMessage]]:
    """A function giving, each time it is called, the messages of every source."""
    from service.mail_sources import imap_messages, path_messages

    def fetch() -> Iterator[RawMessage]:
        if paths:
            yield from path_messages(paths)
        if account is not None:
            yield from imap_messages(account, password,
                                     is_known=lambda mid: bool(intake.seen(mid)))

    return fetch


def _print_outcome(outcome: Outcome) -> None:
    typer.echo(outcome.line())


def _finish(report: IntakeReport, as_json: bool) -> None:
    """The summary (or the JSON report); exit 1 when any message was rejected."""
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(report.summary())
    if report.rejected:
        typer.echo(f"error: {len(report.rejected)} message(s) rejected, each with its "
                   "reason above; nothing was lost (rejected messages are tried again "
                   "next time)", err=True)
        raise typer.Exit(1)


def _poll(intake: MailIntake, actor: User, fetch: Callable[[], Iterator[RawMessage]],
          interval: float, project: str | None, as_json: bool) -> None:
    """Intake every `interval` seconds until interrupted; prints what each run took or
    rejected (repeats only in the count)."""
    def report_run(report: IntakeReport) -> None:
        if as_json:
            typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
            return
        for outcome in report.outcomes:
            if outcome.status != "repeat":
                typer.echo(outcome.line())
        if report.taken or report.rejected:
            typer.echo(report.summary())

    def report_error(exc: KnownFixError) -> None:
        typer.echo(f"error: {exc} (trying again in {interval:g} s)", err=True)

    typer.echo(f"polling every {interval:g} s; Ctrl-C stops", err=True)
    try:
        intake.poll(actor, fetch, interval, threading.Event(), project, report_run,
                    report_error)
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)


@commands.command("intake-mail")
def intake_mail_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Mail files (.eml, mbox), maildir folders or folders of such files.")] = None,
    imap: Annotated[str | None, typer.Option(
        "--imap", help="An IMAP mailbox: imaps://USER@HOST[:PORT]/MAILBOX (password from "
        f"${PASSWORD_ENV}, else asked). Read only: no flag is changed.")] = None,
    imap_cafile: Annotated[Path | None, typer.Option(
        "--imap-cafile", help="CA certificate to trust for the IMAP server (a server "
        "with its own certificate).")] = None,
    poll: Annotated[float | None, typer.Option(
        "--poll", min=1, help="Keep running: take new mail every SECONDS until Ctrl-C.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project code of the case numbers.")
                       ] = None,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Turn e-mails into cases (channel email), one line per message: taken (with the
    case), repeat (already taken: same Message-ID, or the same raw message) or rejected
    (with the reason). Exits 1 when any message was rejected.

    Example: knownfix intake-mail support-inbox.mbox Maildir/ --as alice
    """
    from service.mail import MailIntake
    from service.mail_sources import ImapAccount

    paths = list(paths or [])
    if not paths and not imap:
        fail("give mail files or folders, or --imap imaps://user@host/INBOX")
    account = ImapAccount.from_url(imap, str(imap_cafile) if imap_cafile else None) \
        if imap else None
    with session(data_dir, as_user) as s:
        password = _imap_password(account) if account else ""
        intake = MailIntake(s.cases)
        fetch = _sources(paths, account, password, intake)
        if poll:
            _poll(intake, s.actor, fetch, poll, project, as_json)
            return
        report = intake.intake(s.actor, fetch(), project,
                               on_outcome=None if as_json else _print_outcome)
    _finish(report, as_json)

