"""The edge of the `knownfix` command line: where our errors become one line, where the
data folder is checked and the knowledge base opened, and who acts.

- `OneLineErrors` is the root command group: a KnownFixError (SettingsError included) or
  an OSError (a path the user gave) raised anywhere in a command is printed here as
  `error: …` on stderr, exit code 1 — the one place that does it.
- A command that reads a knowledge base refuses a data folder without one, instead of
  answering from a new, empty one; only `demo`, `import` and `serve` create one, and
  say so once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from typer.core import TyperGroup

from errors import BadInput, KnownFixError, NotFound
from settings import Settings, load_settings

if TYPE_CHECKING:  # the engine loads the index; imported when a command needs it
    from service.auth import User, Users
    from service.cases import Cases
    from service.desk import Desk
    from service.engine import Engine


class OneLineErrors(TyperGroup):
    """The root group: our errors (and OSError, a path given by the user) end the
    command with one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except (KnownFixError, OSError) as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            raise typer.Exit(1) from None


def one_line(exc: BaseException) -> str:
    """The error's message on one line."""
    return " ".join(str(exc).split()) or exc.__class__.__name__


def fail(message: str) -> NoReturn:
    """Stop the command with `message` as its one-line error."""
    raise BadInput(message)


_PROGRESS = {"asked": False}  # one command per process


def ask_progress(on: bool) -> None:
    """Record whether `knownfix --progress` asked for progress bars."""
    _PROGRESS["asked"] = on


def progress_asked() -> bool:
    """Whether `knownfix --progress` asked for progress bars."""
    return _PROGRESS["asked"]


# -- the data folder ------------------------------------------------------------------------
def folder_of(settings: Settings) -> Path:
    """The data folder, absolute; BadInput when that path is a file."""
    folder = Path(settings.data_dir).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"the data folder {folder} is not a folder but a file "
                       "(given by --data-dir or KNOWNFIX_DATA_DIR)")
    return folder


def check_knowledge_base(settings: Settings, create: bool) -> bool:
    """Make sure the data folder holds a knowledge base, or may get one: a command that
    only reads or works on one refuses a folder without it; a command that `create`s
    one says so once.  Returns whether this command creates the whole folder."""
    folder = folder_of(settings)
    if settings.database_url:
        return _check_database(settings, create)
    if Path(settings.db_path).is_file():
        return False
    if not create:
        raise NotFound(f"no knowledge base in {folder}: run `knownfix demo` or `knownfix "
                       "import` to create one, or pass --data-dir")
    typer.echo(f"creating a new knowledge base in {folder}", err=True)
    return not folder.exists()


def _check_database(settings: Settings, create: bool) -> bool:
    """check_knowledge_base for a knowledge base on PostgreSQL (`database_url`)."""
    from service.store_migration import describe, holds_knowledge_base

    where = describe(settings.database_url)
    if holds_knowledge_base(settings.database_url):  # NotFound when it cannot be reached
        return False
    if not create:
        raise NotFound(f"no knowledge base in {where}: run `knownfix demo`, `knownfix "
                       "import` or `knownfix migrate --to` to create one")
    typer.echo(f"creating a new knowledge base in {where}", err=True)
    return False


def settings_for(data_dir: str | None, say_missing: bool = True,
                 **overrides: object) -> Settings:
    """The settings of a data folder for a command that needs no knowledge base
    (`settings`, `evaluate`): a file is refused; a missing folder is said on stderr
    (`say_missing`), since only the defaults and the environment then apply."""
    settings = load_settings(data_dir, **overrides)
    folder = folder_of(settings)
    if say_missing and not folder.exists():
        typer.echo(f"no data folder {folder}: the defaults and KNOWNFIX_* variables apply",
                   err=True)
    return settings


@contextmanager
def engine_for(data_dir: str | None, create: bool = False,
               fresh_index: bool = False) -> Iterator[Engine]:
    """The engine of the data folder's knowledge base for one command (see
    `check_knowledge_base`), closed at the end.  A new data folder that a failing
    command created and left without records is removed again: bad input leaves
    nothing behind."""
    from service.engine import Engine

    settings = load_settings(data_dir)
    whole_folder = check_knowledge_base(settings, create)
    try:
        engine = Engine(settings, fresh_index=fresh_index, background=False)
    except (KnownFixError, OSError):
        _forget(settings, whole_folder)
        raise
    if engine.integrity:  # what the start-up index check repaired (service/integrity.py)
        typer.echo(engine.integrity, err=True)
    forget = False
    try:
        yield engine
    except (KnownFixError, OSError):
        forget = whole_folder and not any(engine.kb.counts()[k] for k in ("case", "article"))
        raise
    finally:  # also when a command ends early (typer.Exit) or is interrupted
        engine.close()
        _forget(settings, forget)


def _forget(settings: Settings, created: bool) -> None:
    """Remove the data folder this command created, when it is to be forgotten."""
    if created:
        shutil.rmtree(folder_of(settings), ignore_errors=True)


# -- who acts ------------------------------------------------------------------------------
def acting_user(users: Users, as_user: str | None) -> User:
    """The user named by --as / $KNOWNFIX_USER, or the built-in system administrator."""
    from service.auth import SYSTEM

    if not as_user:
        return SYSTEM
    try:
        return users.get(as_user)
    except NotFound:
        known = _known_user(users, as_user)
    raise BadInput(f"user {as_user!r} is disabled (given by --as or KNOWNFIX_USER)" if known
                   else f"unknown user {as_user!r} (given by --as or KNOWNFIX_USER)")


def _known_user(users, name: str) -> bool:
    try:
        users.find(name)
    except NotFound:
        return False
    return True


@dataclass
class Session:
    """The acting user and the Desk (users, cases, knowledge, reports) one command
    works with."""

    actor: User
    desk: Desk

    @property
    def users(self) -> Users:
        return self.desk.users

    @property
    def cases(self) -> Cases:
        return self.desk.cases


@contextmanager
def session(data_dir: str | None, as_user: str | None, create: bool = False,
            fresh_index: bool = False) -> Iterator[Session]:
    """The Desk over the data folder's knowledge base (see `engine_for`) and the acting
    user: every command acts through it, as the app and the API do."""
    from service.desk import Desk

    with engine_for(data_dir, create, fresh_index) as engine:
        desk = Desk(engine)
        yield Session(acting_user(desk.users, as_user), desk)
