"""`knownfix serve`: the Streamlit app, with the model, database and index loaded before
the server starts listening, so the first page a user opens draws at once.

It loads the app's Desk (ui/resources.py) in this process, then hands over to Streamlit's
own `streamlit run app.py`, which finds that Desk already in its resource cache.  Options
Streamlit knows (`--server.enableXsrfProtection true`, …) may follow and are passed on.

`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.edge import check_knowledge_base
from cli.options import DataDirOpt

commands = typer.Typer()
APP = Path(__file__).resolve().parent.parent / "app.py"
# What .streamlit/config.toml says, for when serve is started from another folder.  No
# file watcher: a served app does not reload on edits, and watching the repository (with
# its .venv) keeps a core busy.  No Deploy button, no traceback in the browser.
STREAMLIT_FLAGS = ["--server.headless", "true", "--browser.gatherUsageStats", "false",
                   "--server.maxUploadSize", "50", "--server.fileWatcherType", "none",
                   "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none"]


@commands.command("serve", context_settings={"allow_extra_args": True,
                                             "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(
        help="Address to listen on: this machine only by default; 0.0.0.0 for the team's "
             "other machines (Streamlit then also tries to look up the public IP, "
             "which fails quietly offline).")] = "localhost",
    data_dir: DataDirOpt = None,
    api_port: Annotated[int | None, typer.Option(
        "--api-port", help="Also serve the HTTP API (/api/v1) on this port and the same "
        "address, sharing the app's model and database.")] = None,
) -> None:
    """Start the app on http://localhost:PORT once the model and index are loaded
    (creates an empty knowledge base if there is none).

    Example: knownfix serve --port 8501 --address 0.0.0.0 --api-port 8600
    """
    from settings import load_settings

    check_knowledge_base(load_settings(data_dir), create=True)
    if data_dir:
        os.environ["KNOWNFIX_DATA_DIR"] = str(Path(data_dir).resolve())
    from indexer.encoder import one_thread_per_request
    from ui.resources import wait_loaded

    one_thread_per_request()
    typer.echo("loading the model, database and index…")
    start = time.perf_counter()
    desk = wait_loaded()
    if desk.engine.integrity:
        typer.echo(desk.engine.integrity, err=True)
    # notifications (issue 11): the outbox sender runs beside the app, in this process
    desk.notify.start_sender()
    # maintenance plans (issue 13): due cases are opened every few minutes, in this process
    desk.maintenance.start()
    counts = desk.engine.stats()["records"]
    typer.echo(f"ready in {time.perf_counter() - start:.1f} s: {counts['case']} cases, "
               f"{counts['article']} articles")
    if api_port:  # the HTTP API beside the app, on the same Desk (issue 11)
        from api.app import serve_in_thread

        serve_in_thread(desk, address, api_port)  # an OSError (port taken) is one line
        typer.echo(f"HTTP API: http://{address}:{api_port}/api/v1/docs")
    from streamlit.web import cli as streamlit_cli

    # Streamlit runs a full garbage collection after every script run; over the half
    # million objects of the loaded model, index and classifiers that took ~0.3 s per run
    # (per click).  They live as long as the process: moved out of the collector's sight,
    # the pass costs next to nothing.
    gc.collect()
    gc.freeze()
    sys.argv = ["streamlit", "run", str(APP), "--server.port", str(port),
                "--server.address", address, *STREAMLIT_FLAGS, *ctx.args]
    sys.exit(streamlit_cli.main())
