"""Desk: the one object the app and the CLI hold — every service, wired together, with
the role checks for the administrative actions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from errors import BadInput
from service.administration import Administration
from service.auth import User, Users, require
from service.cases import Cases
from service.charges import Charges
from service.customer_links import CustomerLinks
from service.customers import Customers
from service.display_names import DisplayNames
from service.engine import Engine, Progress
from service.idempotency import Idempotency
from service.knowledge import Knowledge
from service.lookup import Lookup
from service.maintenance import Maintenance
from service.notify import Notifications
from service.portal import Portal
from service.queries import Queries
from service.reports import Reports
from service.status import Status
from service.tokens import Tokens
from service.versions import Versions
from settings import Settings, save_settings
from triage.params import Tuning

if TYPE_CHECKING:  # mail parsing, file readers and backups load when first used
    from kb.importer import ColumnMapping, ImportReport
    from service.mail import MailIntake

UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".jsonl", ".ndjson", ".json")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class Desk:
    """Users, cases, knowledge, reports, mail intake and notifications over one Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.users = Users(engine.kb)
        self.cases = Cases(engine, self.users)
        self.knowledge = Knowledge(engine)
        self.reports = Reports(engine)
        self.cases.drafter = self.knowledge.draft_from_case
        # every event of this knowledge base now also queues its notifications
        self.notify = Notifications(engine, self.cases, self.users)
        # what the HTTP API (api/, issue 11) asks of the Desk besides the services above
        self.lookup = Lookup(engine)  # triage and search, with the role check
        self.queries = Queries(self.cases, self.knowledge)  # pages, timelines, links
        self.admin = Administration(engine, self.users)  # user list and changes, settings
        self.tokens = Tokens(engine.kb, self.users)  # personal API tokens
        self.versions = Versions(engine)  # ETag / If-Match
        self.idempotency = Idempotency(engine.kb)  # Idempotency-Key
        self.status = Status(engine, self.cases)  # health, metrics gauges
        self.names = DisplayNames(engine.kb)  # display names of label values and levels
        self.customers = Customers(engine)  # customer and equipment records (issue 13)
        # parts and charges of cases; a close bills what it charges (issue 13)
        self.charges = Charges(engine, self.cases, self.customers)
        self.cases.biller = self.charges.bill_on_close
        # maintenance plans and the cases they open on time (issue 13)
        self.maintenance = Maintenance(engine, self.cases, self.users, self.customers)
        self.portal = Portal(engine, self.cases, self.knowledge)  # request page (issue 13)
        # confirmation and satisfaction by link: mailed on resolve and close (issue 13)
        self.links = CustomerLinks(engine, self.cases, self.customers)

    @cached_property
    def mail(self) -> MailIntake:
        """Mail intake: runs and their log (`mail.log`); made on first use."""
        from service.mail import MailIntake

        return MailIntake(self.cases)

    @classmethod
    def open(cls, settings: Settings) -> Desk:
        return cls(Engine(settings))

    # -- administration -------------------------------------------------------------------
    def store_upload(self, actor: User, name: str, data: bytes) -> Path:
        """Keep an uploaded file inside data/uploads under a fresh name (never a path
        the user chose), after checking its size and type."""
        require(actor, "kb.import")
        base = re.split(r"[\\/]", name.replace("\x00", ""))[-1]  # no folders, any OS's
        suffix = Path(base).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise BadInput(f"unsupported file type {suffix!r} "
                           f"(use {', '.join(UPLOAD_SUFFIXES)})", "upload_type",
                           suffix=suffix, allowed=", ".join(UPLOAD_SUFFIXES))
        if len(data) > MAX_UPLOAD_BYTES:
            raise BadInput(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB",
                           "upload_size", mb=MAX_UPLOAD_BYTES // 2**20)
        if suffix == ".xlsx" and not data.startswith(b"PK\x03\x04"):
            raise BadInput(f"{base[:80]!r} is not an Excel (.xlsx) file", "upload_not_xlsx",
                           name=base[:80])
        if suffix != ".xlsx" and b"\x00" in data[:65536] and not data.startswith(UTF16_BOMS):
            raise BadInput(f"{base[:80]!r} looks like a binary file, not text", "upload_binary",
                           name=base[:80])
        folder = Path(self.engine.settings.data_dir).resolve() / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^\w-]+", "_", Path(base).stem).strip("_")[:40] or "upload"
        path = folder / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"
        if path.resolve().parent != folder:  # cannot happen; checked all the same
            raise BadInput(f"refused upload name {name!r}")
        with open(path, "xb") as fh:  # never over an existing file
            fh.write(data)
        self.engine.kb.log(actor.username, "upload", f"file:{path.name}",
                           {"name": base[:200], "bytes": len(data)})
        return path

    def import_file(self, actor: User, path: str | Path, mapping: ColumnMapping,
                    progress: Progress | None = None, *, encoding: str | None = None,
                    index_progress: Progress | None = None, header_row: int | None = None,
                    last_wins: bool = False) -> ImportReport:
        """Import rows into the KB and index them (Engine.import_file; `header_row`,
        `last_wins`: kb.importer.import_file)."""
        require(actor, "kb.import")
        report = self.engine.import_file(path, mapping, encoding, progress, index_progress,
                                         header_row, last_wins)
        self.engine.kb.log(actor.username, "import", f"file:{Path(path).name}",
                           {"taken": report.taken, "rejected": len(report.rejected)})
        return report

    def load_demo(self, actor: User, force: bool = False
                  ) -> tuple[dict[str, ImportReport], list[str]]:
        """The bundled demo knowledge base into an empty KB (or any, with `force`), and
        the demo sign-ins when there are no users yet: (reports by kind, users made)."""
        from service.demo import (
            ensure_demo_users,
            load_demo,
            load_demo_customers,
            load_demo_names,
        )

        require(actor, "kb.import")
        reports = load_demo(self.engine, only_if_empty=not force)
        if reports:  # the demo customers and equipment, linked to the demo cases
            reports |= load_demo_customers(self.customers)
        load_demo_names(self.names)  # also names a demo KB loaded before names existed
        created = ensure_demo_users(self.users)
        if reports or created:
            self.engine.kb.log(actor.username, "demo", "kb", {
                **{kind: r.taken for kind, r in reports.items()}, "users": created})
        return reports, created

    def stats(self, actor: User) -> dict:
        """Counts of records, labels and the index, the tuning and the quality settings
        in use (Engine.stats)."""
        require(actor, "case.view")
        return self.engine.stats()

    def privacy_report(self, actor: User) -> list[dict]:
        """Which tables and columns hold personal data, with counts (service/privacy.py)."""
        from service.privacy import personal_data_report

        require(actor, "kb.export")
        rows = personal_data_report(self.engine.kb)
        self.engine.kb.log(actor.username, "privacy-report", "kb", {"columns": len(rows)})
        return rows

    def export(self, actor: User, out: str | Path | TextIO, kind: str | None = None,
               redact: bool = False) -> int:
        """Write the KB as CSV (see kb.exporter); `redact` takes personal data out."""
        from kb.exporter import export_csv

        require(actor, "kb.export")
        n = export_csv(self.engine.kb, out, kind, redact=redact)
        name = Path(out).name if isinstance(out, str | Path) else "stream"
        self.engine.kb.log(actor.username, "export", f"file:{name}",
                           {"records": n, "kind": kind, "redact": redact})
        return n

    def reindex(self, actor: User, progress: Progress | None = None) -> int:
        require(actor, "index.rebuild")
        n = self.engine.reindex(progress)
        self.engine.kb.log(actor.username, "reindex", "index", {"records": n})
        return n

    def tuning_due(self) -> bool:
        """Whether the labelled history has grown enough to tune again (Engine)."""
        return self.engine.tuning_due()

    def tune(self, actor: User, dry_run: bool = False,
             progress: Callable[[str], None] | None = None) -> Tuning:
        """Choose the quality settings on the KB's own history (see Engine.tune)."""
        require(actor, "settings.manage")
        result = self.engine.tune(progress, dry_run=dry_run)
        if not dry_run:
            self.engine.kb.log(actor.username, "tune", "index",
                               {"status": result.status, "chosen": result.chosen})
        return result

    def save_settings(self, actor: User, settings: Settings) -> str:
        require(actor, "settings.manage")
        path = save_settings(settings)
        self.engine.kb.log(actor.username, "settings", "settings")
        return path

    def backup(self, actor: User, out: str | Path | None = None) -> Path:
        """A zip of the database and the index, written while others keep working
        (service/backup.py); `out` a file or folder, else data/backups."""
        from service import backup

        return backup.backup(self.engine, actor, out)

    def close(self) -> None:
        self.engine.close()
