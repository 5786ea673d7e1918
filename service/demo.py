"""The bundled demo knowledge base (kb/demo/): loaded into an empty KB by `make run`."""

from __future__ import annotations

from pathlib import Path

from kb.importer import ColumnMapping, ImportReport
from service.auth import SYSTEM, Users
from service.engine import Engine

DEMO_DIR = Path(__file__).resolve().parent.parent / "kb" / "demo"
LABELS = {"category": "category", "component": "component"}

CASES = ColumnMapping(text=["description"], title="title", fix="resolution", labels=LABELS,
                      severity="severity", id="id", kind="case")
ARTICLES = ColumnMapping(text=["symptoms"], title="title", fix="resolution", labels=LABELS,
                         severity="severity", id="id", kind="article")


def load_demo(engine: Engine, only_if_empty: bool = True) -> list[ImportReport]:
    """Import the demo articles and cases; does nothing when the KB already has records."""
    counts = engine.kb.counts()
    if only_if_empty and counts["case"] + counts["article"] > 0:
        return []
    return [engine.import_file(DEMO_DIR / "articles.jsonl", ARTICLES),
            engine.import_file(DEMO_DIR / "cases.jsonl", CASES)]


DEMO_PASSWORD = "knownfix-demo"
DEMO_USERS = (
    ("agent", "first_line", "李娜 (一线)", "support"),
    ("engineer", "engineer", "王工 (工程师)", "support"),
    ("manager", "manager", "陈主管 (主管)", "support"),
    ("admin", "admin", "Admin", ""),
)


def ensure_demo_users(users: Users) -> list[str]:
    """Create the demo sign-ins (password `knownfix-demo`) when no user exists yet."""
    if users.all():
        return []
    for name, role, display, team in DEMO_USERS:
        users.add(SYSTEM, name, DEMO_PASSWORD, role, display, team=team)
    return [u[0] for u in DEMO_USERS]
