"""`knownfix tune`: choose the quality settings from the knowledge base's own history
(triage/tuning.py), and the lines that say what a tuning chose.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.edge import session
from cli.options import AsOpt, DataDirOpt, JsonOpt
from triage.params import Tuning

commands = typer.Typer()


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return "—" if value is None else str(value)


def tuning_lines(t: Tuning) -> list[str]:
    """What a tuning chose and the figures on the validation records, before → after."""
    from triage.params import PINNED_BY

    if t.status != "tuned":
        return [f"not tuned: {t.note}"]
    v = t.validation
    lines = [f"tuned on {t.labelled} labelled records at {t.at} ({t.seconds:.0f} s; "
             f"validated on {v.get('queries')} newer records in {v.get('folds')} time "
             f"slices, relevant = same {v.get('relevant_by')})"]
    for name, value in t.chosen.items():
        lines.append(f"  {PINNED_BY[name]}: {_fmt(value)}")
    for name in t.pinned:
        lines.append(f"  {PINNED_BY[name]}: pinned in the settings, not tuned")
    b, a = t.before, t.after
    lines.append("on the validation records, before → after:")
    for field in a.get("accuracy", {}):
        lines.append(f"  {field} accuracy: {_fmt(b['accuracy'].get(field))} → "
                     f"{_fmt(a['accuracy'][field])}")
    lines.append(f"  known-fix hit@5: {_fmt(b.get('hit@5'))} → {_fmt(a.get('hit@5'))}, "
                 f"MRR@10 {_fmt(b.get('mrr@10'))} → {_fmt(a.get('mrr@10'))}")
    if a.get("severity") and b.get("severity"):
        bs, as_ = b["severity"], a["severity"]
        lines.append(f"  severity: accuracy {_fmt(bs['accuracy'])} → {_fmt(as_['accuracy'])}, "
                     f"top level found {_fmt(bs['top_recall'])} → {_fmt(as_['top_recall'])}, "
                     f"lower cases rated top {_fmt(bs['over_rated_at_top'])} → "
                     f"{_fmt(as_['over_rated_at_top'])} (the price)")
    return lines


@commands.command("tune")
def tune_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be chosen "
                                          "(and the stored tuning); change nothing.")] = False,
    as_json: JsonOpt = False,
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Choose the quality settings (fusion weights, lexical fields, classifier, vote share,
    label boost, thresholds, severity cutoffs) on the knowledge base's own labelled
    history: older records teach, newer ones are triaged. Settings pinned in
    settings.json or the environment are left alone.

    Example: knownfix tune --dry-run
    """
    with session(data_dir, as_user) as s:
        stored = s.desk.stats(s.actor)["tuning"]
        result = s.desk.tune(s.actor, dry_run, None if as_json
                             else lambda m: typer.echo(f"… {m}", err=True))
    if as_json:
        out = {"result": result.to_json(), "dry_run": dry_run, "stored": stored}
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if dry_run:
        typer.echo("stored: " + (tuning_lines(Tuning.from_json(stored))[0] if stored
                                 else "none"))
        typer.echo("would choose (dry run, nothing changed):")
    typer.echo("\n".join(tuning_lines(result)))
