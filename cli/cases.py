"""`knownfix case ...` and `knownfix user ...`: the case loop
(intake → triage → escalation → dispatch → resolution → confirmation → follow-up → close)
from the command line.

Who acts: every command takes `--as USER` (default: $KNOWNFIX_USER). With neither, the
command acts as the built-in `system` administrator: the command line is an admin tool run
on the server, by someone who can already read and write the data folder. The acting
user's role is checked exactly as in the app, and every change is logged under their name.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.edge import Session, fail, session
from cli.options import TIME_HELP, AsOpt, DataDirOpt, JsonOpt, TextFileOpt, pairs, text_input
from errors import BadInput

if TYPE_CHECKING:  # service.cases loads the engine; imported lazily to keep --help fast
    from service.cases import Case

commands = typer.Typer()
case_app = typer.Typer(no_args_is_help=True, help="Work on cases: open, show, move them "
                       "through the loop, list them. Every command takes --as USER.")
user_app = typer.Typer(no_args_is_help=True, help="Add, change and list users.")
commands.add_typer(case_app, name="case")
commands.add_typer(user_app, name="user")

IdArg = Annotated[str, typer.Argument(help="Case number, e.g. KF-20261127-1.")]
LabelOpt = Annotated[list[str] | None, typer.Option(
    "--label", help="Label NAME=VALUE, e.g. category=storage (repeatable).")]
ConfirmOpt = Annotated[bool, typer.Option(
    "--confirm", help="Confirm triage's predicted labels and severity for every field not "
                      "given with --label / --severity.")]
FutureOpt = Annotated[bool, typer.Option(
    "--allow-future", help="Accept a received or last-service time more than a day ahead "
                           "(refused otherwise: usually a typo).")]


def _labels(values: list[str] | None, empty_ok: bool = False) -> dict[str, str]:
    """--label NAME=VALUE options (with `empty_ok`, NAME= removes a label)."""
    return pairs(values or [], "--label", "NAME=VALUE", "category=storage", empty_ok=empty_ok)


def _fields(values: list[str] | None) -> dict[str, str]:
    """--field NAME=VALUE options; asset-serial and asset_serial are the same field."""
    found = pairs(values or [], "--field", "NAME=VALUE", "customer=ACME", empty_ok=True)
    return {name.replace("-", "_"): value for name, value in found.items()}


def _say_unconfirmed(s, case: Case) -> None:
    """Tell the resolver which predicted fields were left unconfirmed (they teach
    nothing until someone confirms them)."""
    open_fields = [n for n, p in s.cases.predictions(case).items()
                   if p["value"] and (case.labels.get(n) if n != "severity"
                                      else case.severity) is None]
    if open_fields:
        typer.echo(f"not confirmed (teaches nothing until confirmed): "
                   f"{', '.join(open_fields)}; use --confirm or --label NAME=VALUE", err=True)


def _target(case: Case, target: str) -> str:
    """'article:ID', 'case:ID', or N: the Nth suggestion stored with the case's triage."""
    if target.isdigit():
        matches = case.triage.matches if case.triage else []
        n = int(target)
        if not 1 <= n <= len(matches):
            raise BadInput(f"{case.id} has {len(matches)} suggestion(s); no number {n}")
        return matches[n - 1].key
    if target.partition(":")[0] not in ("article", "case"):
        raise BadInput(f"bad target {target!r}: use article:ID, case:ID or a suggestion number")
    return target


# -- printing ---------------------------------------------------------------------------------
def case_dict(s: Session, case: Case, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": case.id, "state": case.state, "title": case.title,
                           "description": case.description, "fix": case.fix,
                           "labels": case.labels, "severity": case.severity,
                           "priority": case.priority,
                           "deadline": s.cases.deadline_status(case), "fields": case.fields,
                           "triage": case.triage.to_json() if case.triage else None}
    if full:
        out["links"] = s.desk.queries.links(s.actor, case.id)
        out["events"] = s.desk.queries.timeline(s.actor, case.id)
    return out


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _summary(case: Case) -> str:
    f = case.fields
    return (f"{case.id}  {case.state}  priority {case.priority or '-'}  "
            f"assignee {f.get('assignee') or '-'}")


def _echo_triage(case: Case) -> None:
    t = case.triage
    if not t:
        return
    for name, pred in t.labels.items():
        given = " (given)" if pred.given else ""
        typer.echo(f"{name}: {pred.value} ({pred.confidence:.0%}){given}")
    typer.echo(f"severity: {t.severity or '-'} — {t.severity_reason}")
    if t.matches:
        typer.echo("suggested (link one with: knownfix case link ID N):")
    for n, m in enumerate(t.matches, 1):
        typer.echo(f"  {n}. [{m.score:.2f}] {m.key}  {m.title}")
    typer.echo("escalate: " + ("yes — " + "; ".join(t.reasons) if t.escalate else "no"))
    for col, what in (("recurrence_of", "recurrence of"), ("duplicate_of", "duplicate of")):
        if case.fields.get(col):
            typer.echo(f"{what}: {case.fields[col]}")


_SHOWN = ("project", "channel", "customer", "contact", "asset_model", "asset_serial",
          "product", "team", "assignee", "received_at", "last_service_at",
          "first_response_at", "due_response", "due_resolution", "resolved_at",
          "resolved_with", "confirmed_at", "satisfaction", "satisfaction_comment",
          "closed_at")


def _echo_record(name: str, data: dict | None) -> None:
    if not data:
        return
    parts = [f"{k}={', '.join(v) if isinstance(v, list) else v}" for k, v in data.items()
             if v not in (None, "", []) and k not in ("description", "triage", "tried")]
    typer.echo(f"{name}: " + "; ".join(parts))


def _echo_case(s: Session, case: Case) -> None:
    typer.echo(f"{_summary(case)}  severity {case.severity or '-'}  "
               f"deadline {s.cases.deadline_status(case)}")
    if case.title:
        typer.echo(f"title: {case.title}")
    typer.echo("description:\n    " + case.description.replace("\n", "\n    "))
    if case.fix:
        typer.echo("fix:\n    " + case.fix.replace("\n", "\n    "))
    if case.labels:
        typer.echo("labels: " + ", ".join(f"{k}={v}" for k, v in sorted(case.labels.items())))
    for col in _SHOWN:
        if case.fields.get(col) not in (None, ""):
            typer.echo(f"{col}: {case.fields[col]}")
    for col in ("escalation", "delay", "dispatch", "service_record", "follow_up"):
        _echo_record(col.replace("_", " "), case.fields.get(col))
    charges = s.desk.charges.of_case(s.actor, case.id)
    if charges.items:  # the parts used, from the catalogue, and what is charged
        from cli.charges import charge_lines

        typer.echo("-- parts and charges\n" + "\n".join(charge_lines(charges)))
    if case.triage:
        typer.echo(f"-- triage ({case.triage.at})")
        _echo_triage(case)
    links = s.desk.queries.links(s.actor, case.id)
    if links:
        typer.echo("-- links")
    for lk in links:
        typer.echo(f"  {lk['relation']:<13} {lk['target']}  ({lk['actor']}, {lk['at']})")
    typer.echo("-- timeline")
    for e in s.desk.queries.timeline(s.actor, case.id):
        text = ", ".join(f"{k}={v}" for k, v in e["detail"].items() if v not in (None, ""))
        typer.echo(f"  {e['at']}  {e['actor']:<10} {e['action']:<16} {text}".rstrip())


def _done(s: Session, case: Case, as_json: bool = False) -> None:
    if as_json:
        _echo_json(case_dict(s, case))
    else:
        typer.echo(_summary(case))


# -- case commands ----------------------------------------------------------------------------
@case_app.command("open")
def open_cmd(
    text: Annotated[str | None, typer.Option(
        "--text", help="The fault description (故障表述); - reads it from standard input.",
        show_default=False)] = None,
    text_file: TextFileOpt = None,
    title: Annotated[str, typer.Option(help="A short title.")] = "",
    channel: Annotated[str | None, typer.Option(help="phone, email, web or onsite.")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer (客户).")] = None,
    contact: Annotated[str | None, typer.Option(help="Contact person, phone, e-mail.")] = None,
    asset_model: Annotated[str | None, typer.Option(help="Equipment model.")] = None,
    asset_serial: Annotated[str | None, typer.Option(help="Equipment serial number.")] = None,
    product: Annotated[str | None, typer.Option(help="Product.")] = None,
    received_at: Annotated[str | None, typer.Option(help="Time received (default: now). "
                                                    + TIME_HELP)] = None,
    last_service_at: Annotated[str | None, typer.Option(help="Last service time. "
                                                        + TIME_HELP)] = None,
    team: Annotated[str | None, typer.Option(help="Team that owns the case.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="The customer record (`knownfix "
                                                    "customers list`).")] = None,
    asset_id: Annotated[str | None, typer.Option(help="The equipment record; a serial of a "
                                                 "known asset names it too.")] = None,
    project: Annotated[str | None, typer.Option(help="Project code of the case number "
                                                "(default: setting project_code).")] = None,
    label: LabelOpt = None, allow_future: FutureOpt = False, as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Record a new request; it is numbered and triaged at once.

    Example: knownfix case open --text "NVR提示硬盘错误，无法回放" --channel phone
    --customer 远洋物流 --asset-model NVR-4216 --asset-serial SN123 --as alice
    (long text: --text - < mail.txt, or --text-file mail.txt)
    """
    description = text_input(text, text_file, "the text (--text)")
    labels = _labels(label)
    intake = {"channel": channel, "customer": customer, "contact": contact,
              "asset_model": asset_model, "asset_serial": asset_serial, "product": product,
              "received_at": received_at, "last_service_at": last_service_at, "team": team,
              "customer_id": customer_id, "asset_id": asset_id}
    with session(data_dir, as_user) as s:
        case = s.cases.open(s.actor, description, title=title, labels=labels,
                            project=project, allow_future=allow_future,
                            **{k: v for k, v in intake.items() if v})
        if as_json:
            _echo_json(case_dict(s, case))
            return
        typer.echo(f"opened {_summary(case)}")
        _echo_triage(case)


@case_app.command("show")
def show_cmd(case_id: IdArg, as_json: JsonOpt = False, as_user: AsOpt = None,
             data_dir: DataDirOpt = None) -> None:
    """Everything about a case: fields, stored triage, links and the event timeline.

    Example: knownfix case show KF-20261127-1 --json
    """
    with session(data_dir, as_user) as s:
        case = s.desk.queries.case(s.actor, case_id)
        if as_json:
            _echo_json(case_dict(s, case, full=True))
        else:
            _echo_case(s, case)


@case_app.command("update")
def update_cmd(
    case_id: IdArg,
    text: Annotated[str | None, typer.Option(help="New fault description (re-triaged).")] = None,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", help="Intake field NAME=VALUE, e.g. customer=ACME (repeatable); "
        "received_at and last_service_at take a time: " + TIME_HELP)] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="Set label NAME=VALUE; NAME= removes it (repeatable).")] = None,
    allow_future: FutureOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Change a case's description, title, intake fields or labels.

    Example: knownfix case update KF-20261127-1 --field asset_serial=SN999
    --text "NVR硬盘报错，两路通道无录像"
    """
    if text is None and title is None and not field and not label:
        fail("nothing to update: give --text, --title, --field or --label")
    fields, given = _fields(field), _labels(label, empty_ok=True)
    with session(data_dir, as_user) as s:
        labels = None
        if label:
            labels = {**s.cases.get(case_id).labels, **given}
            labels = {k: v for k, v in labels.items() if v}
        case = s.cases.update(s.actor, case_id, description=text, title=title, labels=labels,
                              allow_future=allow_future, **fields)
        _done(s, case)


@case_app.command("start")
def start_cmd(case_id: IdArg, as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Take the case: it goes in progress, assigned to you if nobody has it.

    Example: knownfix case start KF-20261127-1 --as alice
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.start(s.actor, case_id))


@case_app.command("escalate")
def escalate_cmd(
    case_id: IdArg,
    to: Annotated[str, typer.Option("--to", help="User name of an engineer, manager or "
                                    "admin, who takes the case.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is escalated.")],
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Hand the case on with its triage packet and what was tried.

    Example: knownfix case escalate KF-20261127-1 --to bob --reason "需要上门更换硬盘"
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.escalate(s.actor, case_id, to, reason))


@case_app.command("delay")
def delay_cmd(
    case_id: IdArg,
    code: Annotated[str, typer.Option("--code", help="A: taken but not served; B: staff or "
                                      "materials short; C: customer's reasons; D: other.")],
    note: Annotated[str, typer.Option(help="Details (required for D).")] = "",
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Record why a case is delayed (拖延原因 A–D).

    Example: knownfix case delay KF-20261127-1 --code B --note "备件缺货，预计周五到"
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.set_delay(s.actor, case_id, code, note))


@case_app.command("dispatch")
def dispatch_cmd(
    case_id: IdArg,
    assignee: Annotated[str, typer.Option(help="Who goes on site: the user name of an "
                                          "engineer, manager or admin.")],
    at: Annotated[str, typer.Option("--at", help="Planned time. " + TIME_HELP)],
    place: Annotated[str, typer.Option(help="Where.")],
    tool: Annotated[list[str] | None, typer.Option("--tool", help="A tool to bring "
                                                   "(repeatable).")] = None,
    part: Annotated[list[str] | None, typer.Option("--part", help="A spare part to bring "
                                                   "(repeatable).")] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Send someone on site (派工): who, when, where, tools and spare parts.

    Example: knownfix case dispatch KF-20261127-1 --assignee bob --at "2026-11-28 09:00"
    --place "远洋物流 3号仓库" --tool 万用表 --part "4TB 监控硬盘" --as manager1
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.dispatch(s.actor, case_id, assignee, at, place, tool, part))


@case_app.command("service-record")
def service_record_cmd(
    case_id: IdArg,
    cause: Annotated[str, typer.Option(help="The cause found.")],
    steps: Annotated[str, typer.Option(help="What was done, step by step.")],
    part: Annotated[list[str] | None, typer.Option("--part", help="A part used, as "
                                                   "text (repeatable); parts from the "
                                                   "catalogue, with their prices: knownfix "
                                                   "charges part.")] = None,
    result: Annotated[str, typer.Option(help="The outcome.")] = "",
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Write the on-site service record (设备服务记录单).

    Example: knownfix case service-record KF-20261127-1 --cause "硬盘坏道"
    --steps "更换硬盘并初始化" --part "4TB 监控硬盘" --result 录像恢复 --as bob
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.record_service(s.actor, case_id, cause, steps, part, result))


@case_app.command("link")
def link_cmd(
    case_id: IdArg,
    target: Annotated[str, typer.Argument(help="article:ID, case:ID, or the number of a "
                                          "suggestion shown by `case show`.")],
    not_helpful: Annotated[bool, typer.Option("--not-helpful", help="Mark the suggestion "
                                              "as not helpful instead of used.")] = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Link the known fix that was used (or mark a suggestion not helpful).

    Example: knownfix case link KF-20261127-1 article:A12   (or: ... KF-20261127-1 1)
    """
    with session(data_dir, as_user) as s:
        key = _target(s.cases.get(case_id), target)
        s.cases.link_fix(s.actor, case_id, key, helpful=not not_helpful)
        typer.echo(f"{case_id} {'not-helpful' if not_helpful else 'used'} {key}")


@case_app.command("resolve")
def resolve_cmd(
    case_id: IdArg,
    fix: Annotated[str, typer.Option("--fix", help="What was done (处理记录).")],
    cause: Annotated[str, typer.Option(help="The cause.")] = "",
    used: Annotated[str | None, typer.Option(help="The known fix used: article:ID, case:ID "
                                             "or a suggestion number.")] = None,
    label: LabelOpt = None,
    severity: Annotated[str | None, typer.Option(help="Confirmed severity level.")] = None,
    confirm: ConfirmOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Record the resolution. Only confirmed labels and severity teach triage: give the
    right values with --label / --severity, and --confirm to accept triage's prediction
    for the fields you leave out. Without either the case teaches nothing.

    Example: knownfix case resolve KF-20261127-1 --fix "更换硬盘并初始化" --cause 硬盘坏道
    --used article:A12 --label category=storage --severity high --confirm
    """
    with session(data_dir, as_user) as s:
        key = _target(s.cases.get(case_id), used) if used else None
        case = s.cases.resolve(s.actor, case_id, fix, cause=cause, used=key,
                               labels=_labels(label) or None, severity=severity,
                               confirm=confirm)
        _done(s, case)
        _say_unconfirmed(s, case)


@case_app.command("confirm")
def confirm_cmd(
    case_id: IdArg,
    satisfaction: Annotated[int, typer.Option(help="Customer satisfaction, 1 to 5.")],
    comment: Annotated[str, typer.Option(help="The customer's comment.")] = "",
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """The customer confirms the fix (客户确认) and rates the service, as they said it on
    the phone (the answer is kept as given by phone; `case answer-link` lets them answer
    on their own).

    Example: knownfix case confirm KF-20261127-1 --satisfaction 5 --comment 很及时
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.confirm(s.actor, case_id, satisfaction, comment))


@case_app.command("close")
def close_cmd(case_id: IdArg, label: LabelOpt = None,
              severity: Annotated[str | None, typer.Option(help="Confirmed severity level.")]
              = None, confirm: ConfirmOpt = False,
              as_user: AsOpt = None, data_dir: DataDirOpt = None) -> None:
    """Close a resolved or confirmed case (结案); a write-up is drafted from it. Labels not
    confirmed at resolve can be confirmed here, as with `case resolve`.

    Example: knownfix case close KF-20261127-1 --confirm
    """
    with session(data_dir, as_user) as s:
        closed = s.cases.close(s.actor, case_id, labels=_labels(label) or None,
                               severity=severity, confirm=confirm)
        typer.echo(_summary(closed.case))
        if closed.article_id:
            typer.echo(f"draft: article:{closed.article_id}")


@case_app.command("reopen")
def reopen_cmd(
    case_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why it is reopened.")],
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Reopen a resolved, confirmed or closed case.

    Example: knownfix case reopen KF-20261127-1 --reason "客户反馈问题再次出现"
    """
    with session(data_dir, as_user) as s:
        _done(s, s.cases.reopen(s.actor, case_id, reason))


@case_app.command("follow-up")
def follow_up_cmd(
    case_id: IdArg,
    outcome: Annotated[str | None, typer.Option(
        "--outcome", help="What the call found: solved, unhappy (solved, customer not "
        "satisfied), came_back (reopens the case) or unreachable.", show_default=False)]
    = None,
    came_back: Annotated[bool | None, typer.Option(
        "--came-back/--fixed", help="Short for --outcome came_back / --outcome solved.",
        show_default=False)] = None,
    note: Annotated[str, typer.Option(help="What the customer said.")] = "",
    satisfaction: Annotated[int | None, typer.Option(
        help="The customer's rating 1-5, for a case not rated at confirmation.")] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Record the follow-up call (客服回访): its outcome, a note, and a rating if the
    case has none.

    Example: knownfix case follow-up KF-20261127-1 --outcome solved --note "运行正常"
    """
    if (outcome is None) == (came_back is None):
        fail("say one of --outcome OUTCOME, --came-back or --fixed")
    if outcome is None:
        outcome = "came_back" if came_back else "solved"
    with session(data_dir, as_user) as s:
        _done(s, s.cases.follow_up(s.actor, case_id, outcome, note, satisfaction))


@case_app.command("answer-link")
def answer_link_cmd(
    case_id: IdArg,
    question: Annotated[str, typer.Option(
        "--for", help="confirm (客户确认: a resolved case) or follow_up (回访: a resolved, "
        "confirmed or closed case).")] = "confirm",
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """A fresh link where the customer answers on their own (to paste into a chat): the
    address is printed this once; it works for `answer_link_days`.  Resolving and closing
    mail one by themselves when the case has an e-mail address.

    Example: knownfix case answer-link KF-20261127-1 --for follow_up
    """
    with session(data_dir, as_user) as s:
        link, url = s.desk.links.issue(s.actor, case_id, question)
    typer.echo(url)
    typer.echo(f"works until {link.expires_at}", err=True)


@case_app.command("list")
def list_cmd(
    state: Annotated[list[str] | None, typer.Option(
        "--state", help="Only this state (repeatable); 'open' means every open state.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this assignee.")] = None,
    attention: Annotated[bool, typer.Option("--attention", help="Only open cases that are "
                                            "overdue or at risk, most urgent first.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """List cases, newest first (or the ones needing attention).

    Example: knownfix case list --state open --assignee bob
    """
    from service.auth import require
    from service.cases import OPEN_STATES, STATES

    states = set()
    for st in state or []:
        if st != "open" and st not in STATES:
            fail(f"unknown state {st!r} (states: open, {', '.join(STATES)})")
        states |= set(OPEN_STATES) if st == "open" else {st}
    with session(data_dir, as_user) as s:
        require(s.actor, "case.view")
        if attention:
            due = s.cases.attention()
            found = [c for c in due["overdue"] + due["at_risk"]
                     if (not states or c.state in states)
                     and (not assignee or c.fields.get("assignee") == assignee)][:limit]
        else:
            found = s.cases.list(states or None, assignee, limit=limit)
        if as_json:
            _echo_json([case_dict(s, c) for c in found])
            return
        if not found:
            typer.echo("no cases")
        for c in found:
            head = (c.title or c.description).replace("\n", " ")[:60]
            typer.echo(f"{c.id:<20} {c.state:<11} {c.priority or '-':<9} "
                       f"{c.fields.get('assignee') or '-':<12} "
                       f"{s.cases.deadline_status(c):<8} {head}")


# -- users ------------------------------------------------------------------------------------
RoleOpt = Annotated[str, typer.Option(help="first_line, engineer, manager or admin.")]
ZONE_HELP = ("The user's own time zone in the app, an IANA name such as Asia/Shanghai "
             "(default: the timezone setting).")


@user_app.command("add")
def user_add_cmd(
    name: Annotated[str, typer.Argument(help="User name (sign-in name): letters, digits and "
                                        ". _ @ + -, no spaces.")],
    role: RoleOpt,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    lang: Annotated[str, typer.Option(help="Interface language: zh or en.")] = "zh",
    team: Annotated[str, typer.Option(help="Team.")] = "",
    timezone: Annotated[str, typer.Option(help=ZONE_HELP)] = "",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (else prompt).")
    ] = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Add a user; an existing name is refused (change a user with `user update`). The
    password is never an argument.

    Example: printf '%s' "$PW" | knownfix user add alice --role first_line
    --display-name 张敏 --team 华东 --password-stdin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session(data_dir, as_user) as s:
        user = s.users.add(s.actor, name, password, role, display_name, lang, team, timezone)
        typer.echo(f"user {user.username} ({user.role}) added")


@user_app.command("update")
def user_update_cmd(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str | None, typer.Option(help="New role: first_line, engineer, manager "
                                             "or admin.", show_default=False)] = None,
    display_name: Annotated[str | None, typer.Option(help="New name shown in the app.",
                                                     show_default=False)] = None,
    team: Annotated[str | None, typer.Option(help="New team.", show_default=False)] = None,
    lang: Annotated[str | None, typer.Option(help="Interface language: zh or en.",
                                             show_default=False)] = None,
    timezone: Annotated[str | None, typer.Option(help=ZONE_HELP + ' "" clears it.',
                                                 show_default=False)] = None,
    active: Annotated[bool | None, typer.Option(
        "--active/--inactive", help="Enable the user, or disable them: a disabled user "
        "cannot sign in, act or be given work, and keeps their history.",
        show_default=False)] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Change a user's role, display name, team, language, time zone, or disable / enable
    them (an audit event records what changed). The password is not changed here.

    Example: knownfix user update alice --role engineer --team 华东二线
    --timezone Asia/Shanghai
    """
    with session(data_dir, as_user) as s:
        user = s.users.update(s.actor, name, role=role, display_name=display_name,
                              team=team, lang=lang, active=active, timezone=timezone)
    state = "" if user.active else ", disabled"
    typer.echo(f"user {user.username} ({user.role}{state}) updated")


@user_app.command("list")
def user_list_cmd(
    every: Annotated[bool, typer.Option("--all", help="Disabled users too.")] = False,
    as_json: JsonOpt = False, as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """List active users (with --all, disabled ones too) with their roles.

    Example: knownfix user list --all
    """
    with session(data_dir, as_user) as s:
        users = s.users.all(include_inactive=every)
    if as_json:
        _echo_json([u.__dict__ for u in users])
        return
    if not users:
        typer.echo("no users")
    for u in users:
        typer.echo(f"{u.username:<16} {u.role:<11} {u.lang}  {u.team or '-':<10} "
                   f"{u.timezone or '-':<20} {u.display_name}"
                   + ("" if u.active else "  (disabled)"))
