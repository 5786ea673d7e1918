"""`knownfix backup`, `knownfix check-backup` and `knownfix restore`: the database and the
index together, consistent with each other, on SQLite or PostgreSQL; and `knownfix
migrate`, which moves a data folder's SQLite knowledge base into PostgreSQL.

`backup` runs online (others may keep working). `restore` replaces the knowledge base and
the data folder's index: stop the app and other `knownfix` commands first; it refuses
while another process has the database open, and keeps what it replaces in
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
    """Replace the knowledge base (the data folder's, or the PostgreSQL database of
    KNOWNFIX_DATABASE_URL) and the data folder's index with a backup's, taken on either
    store. Stop the app and other knownfix commands first (restore refuses while another
    process has the database open). What it replaces is kept in
    data/before-restore-<time>/. The restored knowledge base is then opened and its
    index checked.

    Example: knownfix restore kb-monday.zip --data-dir /srv/knownfix/data
    """
    from service.backup import check, replaces, restore
    from settings import load_settings

    settings = load_settings(data_dir)
    folder_of(settings)  # a file given as the data folder is refused before anything
    check(file)
    where = replaces(settings)
    if where and not yes and not typer.confirm(
            f"replace the knowledge base in {where} with {file}?"):
        fail("restore cancelled; nothing was changed")
    report = restore(file, settings)
    if report["kept"]:
        typer.echo(f"the replaced database and index are in {report['kept']}")
    with session(data_dir, None) as s:  # prints what the index check repaired, if any
        stats = s.desk.stats(s.actor)
        counts, indexed = stats["records"], stats["index"]["count"]
    typer.echo(f"restored {file}: {counts['case']} cases, {counts['article']} articles, "
               f"{indexed} records indexed")


@commands.command("migrate")
def migrate_cmd(
    to: Annotated[str, typer.Option(
        "--to", help="The PostgreSQL database to copy into: postgresql://USER@HOST:PORT/NAME"
        " (the password from PGPASSWORD or ~/.pgpass, not in the address).",
        show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the records the database "
                   "already holds (without it, a database that holds any is refused).")
                   ] = False,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Copy the data folder's SQLite knowledge base (knownfix.db, whatever
    KNOWNFIX_DATABASE_URL says) into a PostgreSQL database, every table, then check the
    copy: rows counted in every table, a sample of records compared field by field, and
    searches on an index built from the copy giving the source's results. The SQLite
    file is only read: it stays the way back. Stop the app first.

    Example: knownfix migrate --data-dir /srv/knownfix/data --to postgresql://knownfix@db.example.internal:5432/knownfix
    """
    from service.store_migration import TOP, migrate_to
    from settings import load_settings

    settings = load_settings(data_dir)
    folder_of(settings)
    report = migrate_to(settings, to, replace=yes, progress=lambda m: typer.echo(m, err=True))
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        typer.echo(f"copied {report.rows} rows in {len(report.tables)} tables from "
                   f"{report.source} to {report.target} ({report.seconds} s)")
    if report.mismatches:
        fail(f"the copy in {report.target} does not match the source "
             f"({len(report.mismatches)} difference(s); the first: {report.mismatches[0]}):"
             " do not switch to it; run migrate again with --yes")
    if not as_json:
        typer.echo(f"checked: the rows of every table counted equal, {report.sampled} "
                   f"records equal field by field, {report.queries} searches with the same "
                   f"top {TOP}")
        typer.echo("next: give every app server this address as KNOWNFIX_DATABASE_URL "
                   "(the password in PGPASSWORD or ~/.pgpass)")
