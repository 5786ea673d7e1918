"""The `knownfix` command line: a thin edge over the service layer.

Errors the user can fix are printed as one line on stderr with exit code 1, in one
place (cli/edge.py); the options every command shares are declared in cli/options.py.
Commands that do not need the embedding model never load it (the Engine loads it on
first use), and heavy modules are imported inside the commands that use them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.api import commands as api_commands
from cli.articles import commands as article_commands
from cli.cases import commands as case_commands
from cli.charges import commands as charge_commands
from cli.customers import commands as customer_commands
from cli.edge import (
    OneLineErrors,
    ask_progress,
    fail,
    progress_asked,
    session,
    settings_for,
)
from cli.labels import commands as label_commands
from cli.mail import commands as mail_commands
from cli.maintenance import commands as maintenance_commands
from cli.notify import commands as notify_commands
from cli.options import AsOpt, DataDirOpt, JsonOpt, TextFileOpt, pairs, text_input
from cli.plans import commands as plan_commands
from cli.reports import commands as report_commands
from cli.serve import commands as serve_commands
from cli.tuning import commands as tuning_commands
from settings import SETTINGS, shown_value

if TYPE_CHECKING:
    from kb.importer import ColumnMapping

app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="KnownFix: turn a support team's history into answers.")
app.add_typer(case_commands)  # case, user (cli/cases.py)
app.add_typer(mail_commands)  # intake-mail (cli/mail.py)
app.add_typer(report_commands)  # report (cli/reports.py)
app.add_typer(maintenance_commands)  # backup, check-backup, restore, migrate
app.add_typer(serve_commands)  # serve: the app, loaded before it listens (cli/serve.py)
app.add_typer(tuning_commands)  # tune (cli/tuning.py)
app.add_typer(notify_commands)  # notify run/prefs/list/retry/test (cli/notify.py)
app.add_typer(api_commands)  # api, token create/list/revoke (cli/api.py)
app.add_typer(label_commands)  # labels names (cli/labels.py)
app.add_typer(customer_commands)  # customers, assets: records (cli/customers.py)
app.add_typer(charge_commands)  # parts import/list, charges list/part/add/remove
app.add_typer(plan_commands)  # plans add/list/edit/pause/resume/run-due (cli/plans.py)
app.add_typer(article_commands)  # article audience (cli/articles.py)


@app.callback()
def root(progress: Annotated[bool, typer.Option(
        "--progress", help="Show progress bars on stderr, loading the embedding model "
        "included (without it: only for long work, and only on a terminal).")] = False
         ) -> None:
    """KnownFix: turn a support team's history into answers."""
    from indexer.encoder import show_loading_progress

    ask_progress(progress)
    show_loading_progress(progress)


def _bar(total: int | None, desc: str):
    """A progress bar on stderr for long work: on a terminal, or when --progress asks."""
    from tqdm import tqdm

    shown = progress_asked() or sys.stderr.isatty() or total is not None
    return tqdm(total=total, desc=desc, unit="rows", file=sys.stderr, leave=False,
                disable=not shown)


def _mapping(text, title, fix, label, severity, id_col, kind) -> ColumnMapping:
    from kb.importer import ColumnMapping

    return ColumnMapping(text=list(text or []), title=title, fix=fix,
                         labels=pairs(label or [], "--label", "NAME=COLUMN", "category=类别"),
                         severity=severity, id=id_col, kind=kind)


TextOpt = Annotated[list[str] | None, typer.Option("--text", help="Description column "
                                                   "(repeatable; joined).")]
TitleOpt = Annotated[str | None, typer.Option("--title", help="Title column.")]
FixOpt = Annotated[str | None, typer.Option("--fix", help="Resolution / solution column.")]
LabelOpt = Annotated[list[str] | None, typer.Option("--label", help="Label field NAME=COL "
                                                    "(repeatable).")]
QueryLabelOpt = Annotated[list[str] | None, typer.Option(
    "--label", help="Only records with this label NAME=VALUE, e.g. category=storage "
    "(repeatable).")]
SevOpt = Annotated[str | None, typer.Option("--severity", help="Severity column.")]


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Excel (.xlsx) or JSON Lines file.")],
    text: TextOpt = None, title: TitleOpt = None, fix: FixOpt = None, label: LabelOpt = None,
    severity: SevOpt = None,
    id_col: Annotated[str | None, typer.Option("--id", help="Id column (upsert key).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="case or article.")] = "case",
    encoding: Annotated[str | None, typer.Option(help="Force a text encoding.")] = None,
    header_row: Annotated[int | None, typer.Option(
        "--header-row", help="The row (from 1) holding the column names, when rows above "
        "it are not a title or empty (those are passed by without this).")] = None,
    severity_map: Annotated[list[str] | None, typer.Option(
        "--severity-map", help="Severity values of the file as levels of the scale: "
        "高=high,中=medium,低=low (repeatable).")] = None,
    last_wins: Annotated[bool, typer.Option(
        "--last-wins", help="A later row with an id already in the file replaces the "
        "earlier one (without it, the later row is rejected).")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows here (CSV).")] = None,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Import cases or articles from a file (creates the knowledge base if there is none).

    Example: knownfix import history.xlsx --text 故障描述 --fix 处理记录
    --label category=类别 --severity 严重程度 --severity-map 高=high,中=medium,低=low
    --id 工单号
    """
    from cli.tuning import tuning_lines
    from kb.importer import write_rejects

    mapping = _mapping(text, title, fix, label, severity, id_col, kind)
    mapping.severity_map = pairs(severity_map or [], "--severity-map", "VALUE=LEVEL",
                                 "高=high,中=medium,低=low", split=True)
    if not file.is_file():
        fail(f"no such file: {file}" if not file.exists() else f"{file} is not a file")
    with session(data_dir, as_user, create=True) as s:
        bar = _bar(None, "import")
        ibar = _bar(None, "index")
        try:
            report = s.desk.import_file(s.actor, file, mapping,
                                        lambda n: bar.update(n - bar.n), encoding=encoding,
                                        index_progress=lambda n: ibar.update(n - ibar.n),
                                        header_row=header_row, last_wins=last_wins)
        finally:
            bar.close()
            ibar.close()
        for rej in report.rejected:
            typer.echo(f"row {rej.row}: {rej.reason}", err=True)
        if rejects and report.rejected:
            write_rejects(report, rejects)
        typer.echo(_import_summary(report, kind))
        if s.desk.tuning_due():  # as the app would in the background (setting auto_tune)
            typer.echo("tuning triage on the labelled history …", err=True)
            typer.echo("\n".join(tuning_lines(s.desk.tune(s.actor))))


def _import_summary(report, kind: str) -> str:
    """'imported 9 cases, rejected 1 rows (…)', saying where the header was and how many
    rows replaced an earlier one with the same id."""
    notes = [f"{report.rows_per_s:.0f} rows/s", f"encoding {report.encoding or 'xlsx'}"]
    if report.header_row != 1:
        notes.append(f"header in row {report.header_row}")
    replaced = (f" ({report.replaced} later row(s) replaced an earlier one with the same "
                "id: --last-wins)") if report.replaced else ""
    return (f"imported {report.taken} {kind}s{replaced}, rejected {len(report.rejected)} "
            f"rows ({', '.join(notes)})")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(
        help="Words, a fault description or a code; - reads it from standard input.",
        show_default=False)] = None,
    text_file: TextFileOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 5,
    kind: Annotated[str | None, typer.Option(help="Only case or article.")] = None,
    label: QueryLabelOpt = None,
    as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Search the knowledge base.

    Example: knownfix search "NVR 硬盘错误 E-1043" --label category=storage
    """
    query = text_input(query, text_file, "the query")
    labels = pairs(label or [], "--label", "NAME=VALUE", "category=storage")
    with session(data_dir, as_user) as s:
        results = s.desk.lookup.search(s.actor, query, k, kind, labels)
        rows = [{"key": r.hit.key, "score": round(r.hit.score, 4), "title": r.record.title,
                 "matched": r.hit.matched, "fix": r.record.fix, "labels": r.record.labels}
                for r in results]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no matches")
    for n, r in enumerate(rows, 1):
        typer.echo(f"{n}. [{r['score']:.2f}] {r['key']}  {r['title']}")
        typer.echo(f"   matched: {', '.join(r['matched']) or '(meaning only)'}")
        if r["fix"]:
            typer.echo(f"   fix: {r['fix'][:200]}")


@app.command()
def triage(
    text: Annotated[str | None, typer.Argument(
        help="The fault description; - reads it from standard input.",
        show_default=False)] = None,
    text_file: TextFileOpt = None,
    field: Annotated[list[str] | None, typer.Option("--field", help="Context or known "
                     "label NAME=VALUE, e.g. product=NVR-4216 (repeatable).")] = None,
    as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Classify a fault, rate its severity, find known fixes, advise on escalation.

    Example: knownfix triage "全部摄像机离线，NVR无法访问" --json
    (long text: knownfix triage - < fault.txt, or --text-file fault.txt)
    """
    text = text_input(text, text_file, "the fault description")
    fields = pairs(field or [], "--field", "NAME=VALUE", "product=NVR-4216")
    context = {k: fields.pop(k, "") for k in ("title", "product", "model")}
    with session(data_dir, as_user) as s:
        result = s.desk.lookup.triage(s.actor, text, labels=fields, **context).result
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    for name, pred in result.labels.items():
        typer.echo(f"{name}: {pred.value} ({pred.confidence:.0%})")
    typer.echo(f"severity: {result.severity} — {result.severity_reason}")
    for n, m in enumerate(result.matches, 1):
        typer.echo(f"{n}. [{m.score:.2f}] {m.key}  {m.title}")
        if m.matched:
            typer.echo(f"   matched: {', '.join(m.matched)}")
    esc = result.escalation
    typer.echo("escalate: " + ("yes — " + "; ".join(esc.reasons) if esc.escalate else "no"))


@app.command()
def reindex(
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Change the embedding model: build its index beside the current "
        "one while search keeps answering (an interrupted build resumes when run again), "
        "then switch model and index at once.")] = None,
    keep_old: Annotated[bool, typer.Option(help="With --model: keep the old index "
                                            "folder.")] = False,
) -> None:
    """Rebuild the search index from the database (after a model change, or to repair).

    Example: knownfix reindex --model bundled:all-MiniLM-L6-v2
    """
    if model:
        _migrate(data_dir, model, keep_old)
        return
    with session(data_dir, as_user, fresh_index=True) as s:
        counts = s.desk.stats(s.actor)["records"]
        bar = _bar(counts["case"] + counts["article"], "reindex")
        try:
            n = s.desk.reindex(s.actor, lambda done: bar.update(done - bar.n))
        finally:
            bar.close()
        typer.echo(f"indexed {n} records with {s.desk.stats(s.actor)['index']['model']}")


def _migrate(data_dir: str | None, model: str, keep_old: bool) -> None:
    """`reindex --model`: service/migrate.py does the work; this shows the progress."""
    from cli.edge import check_knowledge_base
    from errors import KnownFixError
    from service.migrate import ModelMigration
    from settings import load_settings

    settings = load_settings(data_dir)
    check_knowledge_base(settings, create=False)
    migration = ModelMigration(settings, model, keep_old=keep_old)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _bar(total, f"index for {model}")
        bar.total = total
        bar.update(done - bar.n)

    typer.echo(f"building the index for {model} in {migration.folder} "
               "(search keeps using the current index)", err=True)
    try:
        migration.run(progress=progress)
    except (KnownFixError, OSError) as exc:
        raise KnownFixError(f"{exc} (progress is saved: run the same command again to "
                            "resume)") from exc
    except KeyboardInterrupt:
        fail("interrupted: run the same command again to resume from the last checkpoint")
    finally:
        if bar is not None:
            bar.close()
    typer.echo(f"indexed {migration.status.done} records with {model}; "
               f"now using {migration.status.index_name}")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="CSV file to write.")],
    kind: Annotated[str | None, typer.Option(help="Only case or article.")] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Replace personal data (names, "
                                         "phones, e-mails, ID and serial numbers) by "
                                         "placeholders.")] = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Write the knowledge base to CSV (formula-safe; re-importable).

    Example: knownfix export kb.csv --kind article --redact
    """
    with session(data_dir, as_user) as s:
        n = s.desk.export(s.actor, out, kind, redact=redact)
    typer.echo(f"wrote {n} records to {out}" + (" (personal data redacted)" if redact else ""))


@app.command("privacy-report")
def privacy_report(as_json: JsonOpt = False, as_user: AsOpt = None,
                   data_dir: DataDirOpt = None) -> None:
    """Which tables and columns hold personal data, with counts (never the values).

    Example: knownfix privacy-report --json
    """
    from service.privacy import PATTERNS

    with session(data_dir, as_user) as s:
        rows = s.desk.privacy_report(s.actor)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{'table.column':<36}{'holds':<12}{'values':>8}" + "".join(
        f"{p:>8}" for p in PATTERNS))
    for r in rows:
        typer.echo(f"{r['table'] + '.' + r['column']:<36}{r['personal'] or 'free text':<12}"
                   f"{r['with_value']:>8}" + "".join(f"{r[p]:>8}" for p in PATTERNS))


@app.command()
def stats(as_json: JsonOpt = False, as_user: AsOpt = None,
          data_dir: DataDirOpt = None) -> None:
    """Counts of records, labels and the index.

    Example: knownfix stats
    """
    with session(data_dir, as_user) as s:
        data = s.desk.stats(s.actor)
    typer.echo(json.dumps(data, ensure_ascii=False, indent=None if as_json else 2))


@app.command()
def demo(as_user: AsOpt = None, data_dir: DataDirOpt = None,
         force: Annotated[bool, typer.Option(help="Load even if the KB has records.")] = False
         ) -> None:
    """Load the bundled demo knowledge base into an empty KB (creating it if there is
    none).

    Example: knownfix demo
    """
    from service.demo import DEMO_PASSWORD

    with session(data_dir, as_user, create=True) as s:
        reports, created = s.desk.load_demo(s.actor, force)
    if not reports:
        typer.echo("the knowledge base is not empty; demo not loaded")
    for kind, r in reports.items():
        typer.echo(f"loaded {r.taken} demo {kind}" + (
            f" ({len(r.rejected)} rejected, first: {r.rejected[0].reason})" if r.rejected
            else ""))
    if created:
        typer.echo(f"demo sign-ins: {', '.join(created)} (password {DEMO_PASSWORD})")


@app.command()
def evaluate(
    train: Annotated[Path, typer.Option(help="Training file (history).")],
    test: Annotated[Path, typer.Option(help="Test file (new faults).")],
    text: TextOpt = None, title: TitleOpt = None, fix: FixOpt = None, label: LabelOpt = None,
    severity: SevOpt = None,
    severity_levels: Annotated[str | None, typer.Option(help="Scale, least severe first: "
                                                        "a,b,c.")] = None,
    relevant_by: Annotated[str | None, typer.Option(help="A match is relevant when this "
                                                    "column equals the test row's.")] = None,
    id_col: Annotated[str | None, typer.Option("--id", help="Id column.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Force a text encoding.")] = None,
    tune: Annotated[bool, typer.Option("--tune", help="Tune on TRAIN first (time-ordered "
                                       "validation inside TRAIN), as after an import; the "
                                       "JSON reports what was chosen under 'tuned'.")] = False,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Measure triage and retrieval on your own history (in a temporary knowledge base;
    the data folder gives only the settings).

    Example: knownfix evaluate --train old.csv --test new.csv --text problem
    --label fault=fault_type --relevant-by fault_type --tune --json
    """
    from service.evaluate import EvalSpec
    from service.evaluate import evaluate as run_eval

    settings = settings_for(data_dir, say_missing=False, severity_levels=severity_levels)
    spec = EvalSpec(str(train), str(test),
                    _mapping(text, title, fix, label, severity, id_col, "case"),
                    relevant_by, encoding, tune)
    result = run_eval(spec, settings)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    _print_eval(result)


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _print_eval(r: dict) -> None:
    for name, s in r["labels"].items():
        typer.echo(f"label {name}: accuracy {_pct(s['accuracy'])}  macro-F1 "
                   f"{_pct(s['macro_f1'])}  (n={s['n']}, skipped {s['skipped']})")
    if r["severity"]:
        s = r["severity"]
        typer.echo(f"severity: accuracy {_pct(s['accuracy'])}  macro-F1 {_pct(s['macro_f1'])}"
                   f"  top-level recall {_pct(s['top_recall'])}  (n={s['n']})")
    if r["retrieval"]:
        s = r["retrieval"]
        typer.echo(f"retrieval: hit@1 {_pct(s['hit@1'])}  hit@5 {_pct(s['hit@5'])}  "
                   f"MRR@10 {_pct(s['mrr@10'])}  (n={s['n']}, skipped {s['skipped']})")
    lat = r["latency_ms"]
    typer.echo(f"triage latency: p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  "
               f"(raw encode p50 {lat['encode_p50']:.1f} ms, ratio "
               f"{lat['ratio_to_encode']:.2f})")
    typer.echo(f"import: {r['import_rows_per_s']:.0f} rows/s ({r['train']['rows']} rows)")


@app.command("settings")
def settings_cmd(data_dir: DataDirOpt = None,
                 markdown: Annotated[bool, typer.Option(
                     "--markdown", help="Print the defaults as the README's table.")] = False
                 ) -> None:
    """List every setting with its current value and help.

    Example: KNOWNFIX_TOP_K=10 knownfix settings
    """
    if markdown:
        typer.echo(settings_table())
        return
    current = settings_for(data_dir)
    for s in SETTINGS:
        value = shown_value(s.name, getattr(current, s.name))
        pinned = " (pinned)" if s.name in current.pinned else ""
        typer.echo(f"{s.name} = {json.dumps(value, ensure_ascii=False)}{pinned}\n    {s.help}")


def settings_table() -> str:
    """The settings as a Markdown table (the README's, checked by tests/test_docs.py)."""
    def shown(value) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: …" for k in value) + "}"
        return json.dumps(value, ensure_ascii=False)
    lines = ["| name | default | meaning |", "|---|---|---|"]
    lines += [f"| `{s.name}` | `{shown(s.default)}` | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
