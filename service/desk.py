"""Desk: the one object the app and the CLI hold — every service, wired together, with
the role checks for the administrative actions."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from errors import BadInput
from kb.importer import ColumnMapping, ImportReport
from service import backup
from service.auth import User, Users, require
from service.cases import Cases
from service.engine import Engine, Progress
from service.knowledge import Knowledge
from service.reports import Reports
from settings import Settings, save_settings

UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".jsonl", ".ndjson", ".json")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class Desk:
    """Users, cases, knowledge and reports over one Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.users = Users(engine.kb)
        self.cases = Cases(engine)
        self.knowledge = Knowledge(engine)
        self.reports = Reports(engine)
        self.cases.on_close.append(self.knowledge.draft_from_case)

    @classmethod
    def open(cls, settings: Settings) -> Desk:
        return cls(Engine(settings))

    # -- administration -------------------------------------------------------------------
    def store_upload(self, actor: User, name: str, data: bytes) -> Path:
        """Keep an uploaded file inside data/uploads under a fresh name (never a path
        the user chose), after checking its size and type."""
        require(actor, "kb.import")
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise BadInput(f"unsupported file type {suffix!r}")
        if len(data) > MAX_UPLOAD_BYTES:
            raise BadInput(f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        folder = Path(self.engine.settings.data_dir).resolve() / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^\w.-]+", "_", Path(name).stem)[:40] or "upload"
        path = folder / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"
        path.write_bytes(data)
        return path

    def import_file(self, actor: User, path: str | Path, mapping: ColumnMapping,
                    progress: Progress | None = None) -> ImportReport:
        require(actor, "kb.import")
        return self.engine.import_file(path, mapping, progress=progress)

    def reindex(self, actor: User, progress: Progress | None = None) -> int:
        require(actor, "index.rebuild")
        n = self.engine.reindex(progress)
        self.engine.kb.log(actor.username, "reindex", "index", {"records": n})
        return n

    def save_settings(self, actor: User, settings: Settings) -> Path:
        require(actor, "settings.manage")
        path = save_settings(settings)
        self.engine.kb.log(actor.username, "settings", "settings")
        return path

    def backup(self, actor: User) -> Path:
        return backup.backup(self.engine, actor)

    def close(self) -> None:
        self.engine.close()
