"""Change the embedding model without taking search down.

`knownfix reindex --model NAME`, or `ModelMigration(settings, NAME).start(engine)` in a
running process, builds the new model's index in a folder of its own next to the current
one (data/index-<model>-<hash>), while search keeps answering from the current index:

- **In the background.**  The build reads the knowledge base through its own connection
  and writes only its own folder; nothing the current index or its users hold is touched.
  In a process that serves requests, `start(engine)` runs it in a thread.
- **Resumable.**  Records are taken in KB sequence order, a chunk at a time, and the new
  index is saved every `checkpoint_seconds` with the sequence number it has reached (the
  same manifest every index keeps).  An interrupted build (Ctrl-C, a crash, a kill) is
  continued by running the same command again: it opens the folder and carries on from
  that sequence number; records changed meanwhile are picked up like any other change.
  `data/migration.json` holds the model, the folder and the progress (done / total).
- **Atomic switch.**  Once the new index has caught up with the KB it is saved, then
  `settings.json` is rewritten with the new `model` and `index_name` together, through a
  temporary file and `os.replace`: a reader sees the old pair or the new pair, never a
  mix.  A crash before that replace leaves the old model in use (and the build resumable);
  after it, the new one.  An engine passed to `switch` swaps its encoder, index and
  triager under its lock, so its next request is served by the new model.  The old index
  folder is removed afterwards (unless `keep_old`).

Other processes that already have an engine open (a running app) keep answering from
the old index they have loaded until they are restarted; new processes use the new one.
Building the same model again works too (a rebuild without downtime).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from errors import BadInput, IndexCorrupt, ModelMismatch
from indexer.encoder import Encoder, make_encoder
from indexer.index import CHUNK, Index
from indexer.vectors import AnnParams
from kb.records import KINDS
from kb.store import _TABLE, KnowledgeBase
from settings import Settings, load_settings
from triage.params import TriageParams

STATE_FILE = "migration.json"
CHECKPOINT_SECONDS = 30.0
Progress = Callable[[int, int], None]  # (records done, records in total)


def folder_for(model: str, avoid: str | None = None) -> str:
    """The index folder name for a model: readable, and unique per model name."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model).strip("-").lower()[:40] or "model"
    name = f"index-{slug}-{hashlib.blake2b(model.encode(), digest_size=4).hexdigest()}"
    return f"{name}-b" if name == avoid else name


@dataclass
class Status:
    model: str
    index_name: str
    state: str  # building | complete | switched | stopped | failed
    done: int = 0
    total: int = 0
    error: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


class ModelMigration:
    """Build the index of another model beside the current one, then switch to it."""

    def __init__(self, settings: Settings, model: str, encoder: Encoder | None = None,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, chunk: int = CHUNK,
                 keep_old: bool = False) -> None:
        for name, allowed in (("MODEL", model), ("INDEX_NAME", None)):
            value = os.environ.get(f"KNOWNFIX_{name}")
            if value is not None and value != allowed:
                raise BadInput(f"KNOWNFIX_{name} is set in the environment and would "
                               "override the switch: unset it first")
        self.settings = settings
        self.model = model
        self.encoder = encoder or make_encoder(model)
        self.checkpoint_seconds = checkpoint_seconds
        self.chunk = chunk
        self.keep_old = keep_old
        self.data_dir = Path(settings.data_dir)
        previous = self.read_state()
        if previous and previous.get("model") == model and previous.get("state") != "switched" \
                and previous.get("index_name") != settings.index_name:
            name = previous["index_name"]  # resume where the last attempt stopped
        else:
            name = folder_for(model, avoid=settings.index_name)
            if previous and previous.get("index_name") not in (name, settings.index_name):
                self._remove(self.data_dir / previous["index_name"])  # another model's leftovers
        self.status = Status(model, name, "building")
        self.folder = self.data_dir / name
        self.index: Index | None = None
        self._save_s = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- state file ------------------------------------------------------------------------
    def read_state(self) -> dict | None:
        path = self.data_dir / STATE_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_state(self) -> None:
        s = self.status
        data = {"model": s.model, "index_name": s.index_name, "state": s.state,
                "done": s.done, "total": s.total, "percent": round(s.percent, 1),
                "from_model": self.settings.model, "from_index": self.settings.index_name,
                "error": s.error, "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.data_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.data_dir / STATE_FILE)

    # -- building --------------------------------------------------------------------------
    def _open(self) -> Index:
        s = self.settings
        args = (self.folder, self.encoder, s.vector_backend,
                TriageParams.from_settings(s).ranking, s.encode_batch_size,
                AnnParams.from_settings(s), s.database_url.strip())
        try:
            return Index.open(*args)
        except (IndexCorrupt, ModelMismatch):  # a leftover that cannot be resumed
            self._remove(self.folder)
            return Index(*args)

    def build(self, progress: Progress | None = None,
              stop: threading.Event | None = None) -> bool:
        """Index the whole KB with the new model, resuming a saved partial build.
        Returns True once the new index has caught up with the KB and is saved, False if
        `stop` was set (the progress so far is saved)."""
        stop = stop or self._stop
        kb = KnowledgeBase(self.settings.database, self.settings.levels)
        try:
            idx = self.index = self._open()
            counts = kb.counts()
            self.status.total = sum(counts.get(k, 0) for k in KINDS)
            self.status.done = len(idx)
            self.status.state = "building"
            self._write_state()
            saved_at = time.monotonic()
            while True:
                target = kb.seq
                if idx.seq >= target:
                    break
                hi = _chunk_end(kb, idx.seq, target, self.chunk)
                changed, removed = _changes_between(kb, idx.seq, hi)
                idx.delete(removed)
                idx.upsert(changed)
                idx.seq = hi
                self.status.done = min(len(idx), self.status.total)
                if progress:
                    progress(self.status.done, self.status.total)
                if stop.is_set():
                    self._checkpoint(idx, "stopped")
                    return False
                if time.monotonic() - saved_at >= max(self.checkpoint_seconds,
                                                      4 * self._save_s):
                    self._checkpoint(idx, "building")  # at most ~20% of the time saving
                    saved_at = time.monotonic()
            idx.fit_vectors()  # exact or IVF for its final size
            self.status.done = self.status.total = len(idx)
            self._checkpoint(idx, "complete")
            if progress:
                progress(self.status.done, self.status.total)
            return True
        except BaseException as exc:  # progress up to the last checkpoint stays saved
            self.status.state = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.status.error = f"{exc.__class__.__name__}: {exc}"
            self._write_state()
            raise
        finally:
            kb.close()

    def _checkpoint(self, idx: Index, state: str) -> None:
        t = time.monotonic()
        idx.save()
        self._save_s = time.monotonic() - t
        self.status.state = state
        self._write_state()

    # -- switching ---------------------------------------------------------------------------
    def switch(self, engine=None) -> Settings:
        """Make the new index current: settings.json gets the new model and index folder
        in one os.replace; `engine` (if given) swaps to it under its lock."""
        if self.status.state != "complete" or self.index is None:
            raise BadInput("the new index is not complete yet: run the build first")
        old_dir = self.settings.index_dir
        stored = self.data_dir / "settings.json"
        values = json.loads(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
        values.update(model=self.model, index_name=self.status.index_name)
        new_settings = load_settings(str(self.data_dir), model=self.model,
                                     index_name=self.status.index_name)
        tmp = self.data_dir / f".settings.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(values, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, stored)  # the switch
        self.status.state = "switched"
        self._write_state()
        if engine is not None:
            self._swap(engine, new_settings)
        if not self.keep_old and old_dir.resolve() != self.folder.resolve():
            self._remove(old_dir)
        self.settings = new_settings
        return new_settings

    def _swap(self, engine, settings: Settings) -> None:
        engine.switch_model(settings, self.encoder, self.index)

    def _remove(self, folder: Path) -> None:
        """Delete an index folder inside the data folder (never anything else)."""
        try:
            inside = folder.resolve().parent == self.data_dir.resolve()
        except OSError:
            return
        if inside and folder.is_dir() and folder.name != "backups":
            shutil.rmtree(folder, ignore_errors=True)

    # -- one call ------------------------------------------------------------------------------
    def run(self, engine=None, progress: Progress | None = None) -> bool:
        """Build (or resume) and switch; False if stopped before completion."""
        if not self.build(progress):
            return False
        self.switch(engine)
        return True

    def start(self, engine=None, progress: Progress | None = None) -> threading.Thread:
        """Build and switch in a background thread; `engine` keeps serving meanwhile."""
        def work() -> None:
            with contextlib.suppress(Exception):  # recorded in migration.json and .status
                self.run(engine, progress)

        self._thread = threading.Thread(target=work, name="knownfix-migrate", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, wait: bool = True) -> None:
        """Ask a background build to save its progress and stop."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()


def _chunk_end(kb: KnowledgeBase, lo: int, target: int, chunk: int) -> int:
    """The highest sequence number such that each table has at most `chunk` records
    in (lo, end], capped at `target`."""
    end = target
    for table in _TABLE.values():
        row = kb.db.execute(f"SELECT seq FROM {table} WHERE seq > ? AND seq <= ? "
                            "ORDER BY seq LIMIT 1 OFFSET ?", [lo, end, chunk - 1]).fetchone()
        if row is not None:
            end = min(end, int(row[0]))
    return max(end, lo + 1)


def _changes_between(kb: KnowledgeBase, lo: int, hi: int) -> tuple[list, list[str]]:
    """Records written and keys removed with a sequence number in (lo, hi]."""
    changed = [rec for kind in KINDS
               for rec in kb._records(kind, "seq > ? AND seq <= ?", [lo, hi])]
    removed = [r["key"] for r in kb.db.query(
        "SELECT key FROM removed WHERE seq > ? AND seq <= ?", [lo, hi])]
    return changed, removed


def migration_status(settings: Settings) -> dict | None:
    """What data/migration.json says about the last model change, if any."""
    try:
        return json.loads((Path(settings.data_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
