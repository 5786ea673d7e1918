"""`knownfix backup`, `knownfix check-backup` and `knownfix restore`: the database and the
index together, consistent with each other.

`backup` runs online (others may keep working). `restore` replaces the data folder's
database and index: stop the app and other `knownfix` commands first; it refuses while
another process has the database open, and keeps what it replaces in
data/before-restore-<time>/.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.edge import fail, folder_of, session
from cli.options import AsOpt, DataDirOpt, JsonOpt

commands = typer.Typer()


def _lines(report: dict) -> str:
    index = "with its index" if report.get("has_index") else "without an index"
    return (f"integrity {report['integrity']}: {report['cases']} cases, "
            f"{report['articles']} articles, {report['events']} events, {index}"
            + (f" (model {report['model']})" if report.get("model") else "")
            + (f", taken {report['at']}" if report.get("at") else ""))


@commands.command("backup")
def backup_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Zip file to write (default: "
                   "data/backups/knownfix-<time>.zip).")] = None,
    as_user: AsOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Back up the database and the index into one zip, while others keep working,
    and check the result (acting as an admin).

    Example: knownfix backup --out /mnt/backups/kb-monday.zip
    """
    from service.backup import check

    with session(data_dir, as_user) as s:
        path = s.desk.backup(s.actor, out)
        report = check(path)
    typer.echo(f"wrote {path}: {_lines(report)}")


@commands.command("check-backup")
def check_cmd(
    file: Annotated[Path, typer.Argument(help="A backup zip.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a backup without restoring it: the zip, the database's integrity and the
    index files.

    Example: knownfix check-backup data/backups/knownfix-20260105T020000Z.zip
    """
    from service.backup import check

    report = check(file)
    typer.echo(json.dumps(report, ensure_ascii=False) if as_json else
               f"{file}: {_lines(report)}")


@commands.command("restore")
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="A backup zip.")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace an existing knowledge base "
                   "without asking.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Replace the data folder's database and index with a backup's. Stop the app and
    other knownfix commands first (restore refuses while another process has the
    database open). What it replaces is kept in data/before-restore-<time>/. The
    restored knowledge base is then opened and its index checked.

    Example: knownfix restore kb-monday.zip --data-dir /srv/knownfix/data
    """
    from service.backup import check, restore
    from settings import load_settings

    settings = load_settings(data_dir)
    folder_of(settings)  # a file given as the data folder is refused before anything
    check(file)
    if Path(settings.db_path).exists() and not yes and not typer.confirm(
            f"replace the knowledge base in {settings.data_dir} with {file}?"):
        fail("restore cancelled; nothing was changed")
    report = restore(file, settings)
    if report["kept"]:
        typer.echo(f"the replaced database and index are in {report['kept']}")
    with session(data_dir, None) as s:  # prints what the index check repaired, if any
        stats = s.desk.stats(s.actor)
        counts, indexed = stats["records"], stats["index"]["count"]
    typer.echo(f"restored {file}: {counts['case']} cases, {counts['article']} articles, "
               f"{indexed} records indexed")
