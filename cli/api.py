"""`knownfix api` (the HTTP API under uvicorn) and `knownfix token ...` (personal API
tokens).  `commands` is merged into the root app by cli/main.py.

The API process opens one Desk — the model, the index and the database — and warms
triage before it listens, like `knownfix serve`; uvicorn runs one worker, so the model is
loaded once.  Token commands act as `--as USER` (default $KNOWNFIX_USER, else the
built-in system administrator), with the same role checks as the API.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Annotated

import typer

from cli.edge import check_knowledge_base, session
from cli.options import AsOpt, DataDirOpt, JsonOpt

commands = typer.Typer()
token_app = typer.Typer(no_args_is_help=True, help="Personal API tokens: create (shown "
                        "once), list, revoke.")
commands.add_typer(token_app, name="token")


@commands.command("api")
def api(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    address: Annotated[str, typer.Option(
        help="Address to listen on: this machine only by default; 0.0.0.0 for the "
             "team's other machines (put TLS in front: tokens travel in headers).")
    ] = "127.0.0.1",
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the HTTP API (/api/v1/…, docs at /api/v1/docs) once the model is loaded.

    Example: knownfix api --port 8600 --address 127.0.0.1
    """
    import uvicorn

    from api.app import create_app
    from indexer.encoder import one_thread_per_request
    from service.desk import Desk
    from settings import load_settings

    settings = load_settings(data_dir)
    check_knowledge_base(settings, create=False)
    one_thread_per_request()
    typer.echo("loading the model, database and index…", err=True)
    start = time.perf_counter()
    desk = Desk.open(settings)
    desk.engine.warm()
    if desk.engine.integrity:
        typer.echo(desk.engine.integrity, err=True)
    typer.echo(f"ready in {time.perf_counter() - start:.1f} s: http://{address}:{port}"
               "/api/v1/docs", err=True)
    # uvicorn stops on SIGTERM (what `docker stop` sends) and then raises it again; with
    # the default handler that ended the process before the index was saved below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(create_app(desk), host=address, port=port, log_level="info",
                    workers=1, proxy_headers=False)
    finally:
        desk.close()


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token (they act as this user).")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. "
                                      "'zammad webhook'.")] = "",
    as_user: AsOpt = None, as_json: JsonOpt = False, data_dir: DataDirOpt = None,
) -> None:
    """Make a token for USER and print it; it is not stored and cannot be shown again.

    Example: knownfix token create agent --name "phone system"
    """
    with session(data_dir, as_user) as s:
        info, token = s.desk.tokens.create(s.actor, username, name)
    if as_json:
        typer.echo(json.dumps({**info.to_json(), "token": token}, ensure_ascii=False))
        return
    typer.echo(token)
    typer.echo(f"token {info.id} for {info.username}"
               + (f" ({info.name})" if info.name else "")
               + ": keep it now, it is not shown again", err=True)


@token_app.command("list")
def token_list(
    username: Annotated[str | None, typer.Argument(
        help="Whose tokens (default: everyone's, which needs an admin).")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Revoked tokens too.")] = False,
    as_user: AsOpt = None, as_json: JsonOpt = False, data_dir: DataDirOpt = None,
) -> None:
    """List tokens (never the tokens themselves: their first characters).

    Example: knownfix token list agent --revoked
    """
    with session(data_dir, as_user) as s:
        tokens = s.desk.tokens.list(s.actor, username or "*", include_revoked=revoked)
    if as_json:
        typer.echo(json.dumps([t.to_json() for t in tokens], ensure_ascii=False, indent=2))
        return
    if not tokens:
        typer.echo("no tokens")
    for t in tokens:
        state = f"revoked {t.revoked_at}" if t.revoked_at else \
            f"last used {t.last_used_at or 'never'}"
        typer.echo(f"{t.id:>4}  {t.prefix}…  {t.username:<16} {t.name or '-':<24} "
                   f"created {t.created_at}  {state}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see token list).")],
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Revoke a token: requests with it are refused from now on.

    Example: knownfix token revoke 3
    """
    with session(data_dir, as_user) as s:
        info = s.desk.tokens.revoke(s.actor, token_id)
    typer.echo(f"revoked token {info.id} of {info.username} ({info.revoked_at})")
