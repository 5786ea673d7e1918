"""The bundled demo knowledge base (kb/demo/): loaded into an empty KB by `make run`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from kb.importer import ColumnMapping, ImportReport
from service.auth import SYSTEM, Users
from service.customers import Customers
from service.display_names import DisplayName, DisplayNames
from service.engine import Engine
from settings import Settings

DEMO_DIR = Path(__file__).resolve().parent.parent / "kb" / "demo"
LABELS = {"category": "category", "component": "component"}

CASES = ColumnMapping(text=["description"], title="title", fix="resolution", labels=LABELS,
                      severity="severity", id="id", kind="case")
ARTICLES = ColumnMapping(text=["symptoms"], title="title", fix="resolution", labels=LABELS,
                         severity="severity", id="id", kind="article")


def load_demo(engine: Engine, only_if_empty: bool = True) -> dict[str, ImportReport]:
    """Import the demo articles and cases (reports by kind); does nothing when the KB
    already has records."""
    counts = engine.kb.counts()
    if only_if_empty and counts["case"] + counts["article"] > 0:
        return {}
    reports = {}
    with tempfile.TemporaryDirectory(prefix="knownfix-demo-") as tmp:
        for kind, mapping in (("articles", ARTICLES), ("cases", CASES)):
            rows = [_on_scale(json.loads(line), engine.settings) for line in
                    (DEMO_DIR / f"{kind}.jsonl").read_text("utf-8").splitlines() if line.strip()]
            path = Path(tmp) / f"{kind}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                            "utf-8")
            reports[kind] = engine.import_file(path, mapping)
    return reports


def load_demo_names(names: DisplayNames) -> int:
    """The demo's names for its label values (kb/demo/names.jsonl), so the Chinese UI says
    存储, not storage: for each value the knowledge base holds that has no name yet (a
    name the admin gave stays); the number of names stored."""
    held = {(f, v) for f in names.kb.label_fields() for v in names.kb.label_values(f)}
    rows = [DisplayName(**json.loads(line)) for line in
            (DEMO_DIR / "names.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return names.set_many(SYSTEM, [r for r in rows if (r.field, r.value) in held and not any(
        names.name(r.field, r.value, lang) for lang in ("zh", "en"))])


def _on_scale(row: dict, settings: Settings) -> dict:
    """The demo is written on the default severity scale (low..critical): put each
    severity on the configured scale (counted from its top), or leave it out where that
    scale has no such level."""
    if row.get("severity"):
        row["severity"] = settings.level_named(row["severity"]) or ""
    return row


DEMO_PASSWORD = "knownfix-demo"
DEMO_USERS = (
    ("agent", "first_line", "李娜 (一线)", "support"),
    ("engineer", "engineer", "王工 (工程师)", "support"),
    ("manager", "manager", "陈主管 (主管)", "support"),
    ("admin", "admin", "Admin", ""),
)


def ensure_demo_users(users: Users) -> list[str]:
    """Create the demo sign-ins (password `knownfix-demo`) when no user exists yet
    (disabled users count: their names stay taken)."""
    if users.all(include_inactive=True):
        return []
    for name, role, display, team in DEMO_USERS:
        users.add(SYSTEM, name, DEMO_PASSWORD, role, display, team=team)
    return [u[0] for u in DEMO_USERS]


def load_demo_customers(customers: Customers) -> dict[str, ImportReport]:
    """The demo's customers and their equipment (kb/demo/customers.jsonl, assets.jsonl),
    imported like any file, and each demo asset's cases pointed at it and its customer
    (reports by kind); nothing when the KB already has customers."""
    if customers.find_customers(limit=1):
        return {}
    reports = {f"{kind}s": customers.import_file(SYSTEM, DEMO_DIR / f"{kind}s.jsonl", kind)
               for kind in ("customer", "asset")}
    links = [(row["id"], case_id) for row in _rows("assets")
             for case_id in row.get("cases", "").split()]
    kb = customers.kb
    with kb.transaction():
        for asset_id, case_id in links:
            kb.db.execute("UPDATE cases SET asset_id = ?, customer_id = (SELECT customer_id "
                          "FROM assets WHERE id = ?) WHERE id = ? AND asset_id IS NULL",
                          [asset_id, asset_id, case_id])
        kb.log(SYSTEM.username, "demo:link", "kb", {"cases": len(links)})
    return reports


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in
            (DEMO_DIR / f"{name}.jsonl").read_text("utf-8").splitlines() if line.strip()]
