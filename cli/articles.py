"""`knownfix article audience`: who may read an article — the team alone (internal) or
customers too (external: shown on the customer request page once validated).
`commands` is merged into the root app by cli/main.py.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.edge import session
from cli.options import AsOpt, DataDirOpt

commands = typer.Typer()
article_app = typer.Typer(no_args_is_help=True, help="Articles: who may read them.")
commands.add_typer(article_app, name="article")


@article_app.command("audience")
def audience(
    article_id: Annotated[str, typer.Argument(help="The article's id, e.g. KA-000031.")],
    value: Annotated[str, typer.Argument(
        help="internal (the team alone) or external (customers too, once validated).")],
    as_user: AsOpt = None, data_dir: DataDirOpt = None,
) -> None:
    """Set who may read an article.  Customers see an external article on the request
    page only once it is validated; a validated article whose audience is changed by
    someone who may not validate goes back to review.

    Example: knownfix article audience KA-000031 external --as engineer
    """
    with session(data_dir, as_user) as s:
        version, _duplicates = s.desk.knowledge.edit(s.actor, article_id, audience=value)
        art = s.desk.knowledge.get(article_id)
    typer.echo(f"{art.id}: {art.audience} ({art.state or 'imported'}, version {version})"
               + ("" if art.for_customers or art.audience == "internal"
                  else "; customers see it once it is validated"))
