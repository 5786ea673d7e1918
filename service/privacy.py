"""Where personal data sits in the knowledge base: counts per table and column, never the
values (`knownfix privacy-report`).

A column is listed when it holds personal data by what it is: the case fields customer,
contact and asset_serial (kb.redact.personal_fields), an imported column whose name says
so ("客户信息", "contact_phone", kept in a record's `extra`), the senders in the mail
intake log, the names, contacts and addresses of customer records and the serials of
assets, or the names of staff (users, event and link actors, authors, assignees,
who ran a mail intake); and when its free text contains
phone numbers, e-mail addresses or ID numbers as kb.redact finds them.  The redacted
export (`knownfix export --redact`) takes these out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kb.redact import detect, personal_column, personal_fields
from kb.store import KnowledgeBase

TABLES = ("cases", "articles", "article_versions", "labels", "links", "events", "users",
          "mail_log", "outbox", "notify_prefs")
# the HTTP API's: token owners, and the first answers kept for Idempotency-Key retries
# (a case as it was opened, customer and contact included) for 24 hours
TABLES += ("api_tokens", "api_idempotency")
TABLES += ("sessions",)  # the app's sign-ins (service/auth.py): who, and until when
# customer and asset records (service/customers.py): what each of their columns holds
TABLES += ("customers", "assets")
RECORDS = {("customers", "name"): "name", ("customers", "contacts"): "name",
           ("customers", "address"): "address", ("assets", "serial"): "serial"}
# parts and charges (service/charges.py): who recorded them, and the customer billed
TABLES += ("case_items", "billing")
# not listed: the customer request page's status_links (a token's digest, a case id) and
# deflections (a time, an article, a language) hold nothing about a person
STAFF = {("users", "username"), ("users", "display_name"), ("events", "actor"),
         ("links", "actor"), ("articles", "author"), ("article_versions", "actor"),
         ("cases", "assignee"), ("mail_log", "actor"), ("outbox", "recipient"),
         ("notify_prefs", "username")}
SENDERS = {("mail_log", "sender")}  # who wrote a mail: a name and an e-mail address
CUSTOMER_NAMES = {("billing", "customer")}  # the customer a billing line is for
# secrets, not personal data; their random text only adds noise
SKIP = {"password_hash", "webhook_secret"}
STAFF |= {("api_tokens", "username"), ("api_tokens", "created_by"),
          ("api_tokens", "revoked_by"), ("api_idempotency", "username"),
          ("sessions", "username"), ("case_items", "actor"), ("billing", "actor")}
SKIP |= {"token_hash", "fingerprint"}  # digests, not personal data
# maintenance plans (service/maintenance.py): who gets their cases, who made them; their
# title and work are free text, scanned like the rest
TABLES += ("maintenance_plans",)
STAFF |= {("maintenance_plans", "assignee"), ("maintenance_plans", "created_by")}
# customers' answers by link or phone (service/customer_links.py): their words, and the
# agent who took one by phone
TABLES += ("customer_answers",)
STAFF |= {("customer_answers", "actor")}
PATTERNS = ("phone", "email", "id")


@dataclass
class _Column:
    table: str
    column: str
    personal: str = ""
    with_value: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PATTERNS, 0))
    any_pattern: int = 0

    def add(self, value) -> None:
        if value is None or value == "":
            return
        self.with_value += 1
        kinds = detect(value if isinstance(value, str) else str(value))
        for kind in kinds:
            self.found[kind] += 1
        self.any_pattern += bool(kinds)

    def row(self, records: int) -> dict:
        return {"table": self.table, "column": self.column, "personal": self.personal,
                "records": records, "with_value": self.with_value, **self.found,
                "with_pattern": self.any_pattern}


def _kind(table: str, column: str) -> str:
    if (table, column) in STAFF:
        return "staff name"
    if table == "cases" and column in personal_fields():
        return personal_column(column) or "name"
    if (table, column) in SENDERS or (table, column) in CUSTOMER_NAMES:
        return "name"
    if (table, column) in RECORDS:
        return RECORDS[(table, column)]
    return ""


def personal_data_report(kb: KnowledgeBase) -> list[dict]:
    """One dict per column holding personal data: table, column, personal (what it holds
    by its nature: 'name', 'serial', 'phone', 'staff name' ..., or '' when only its free
    text does), records (rows in the table), with_value (rows with a value), phone,
    email, id (rows whose value contains one) and with_pattern (rows with any).
    Imported columns appear as column 'extra:NAME'."""
    out = []
    for table in TABLES:
        if not kb.db[table].exists():
            continue
        cols = [c.name for c in kb.db[table].columns
                if c.type.upper() == "TEXT" and c.name not in SKIP]
        stats = {c: _Column(table, c, _kind(table, c)) for c in cols if c != "extra"}
        extra: dict[str, _Column] = {}
        records = 0
        for values in kb.db.execute(f"SELECT {', '.join(cols)} FROM {table}"):
            records += 1
            for col, value in zip(cols, values, strict=True):
                if col != "extra":
                    stats[col].add(value)
                    continue
                try:
                    kept = json.loads(value or "{}")
                except ValueError:
                    kept = {"": value}
                for name, v in (kept.items() if isinstance(kept, dict) else ()):
                    if name not in extra:
                        extra[name] = _Column(table, f"extra:{name}",
                                              personal_column(name) or "")
                    extra[name].add(v)
        for col in [*stats.values(), *extra.values()]:
            always = table == "cases" and col.column in personal_fields()
            if col.personal or col.any_pattern or always:
                out.append(col.row(records))
    return out
