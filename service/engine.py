"""Engine: the knowledge base, the index and the triager wired together from settings.

The CLI and the app call these methods; they hold no business rule of their own.

The quality knobs (fusion weights, lexical fields, classifier and thresholds) are the
settings' values overridden by the tuning stored in the database for the current model
(`knownfix tune`, triage/tuning.py), except where the administrator pinned a setting.
Tuning runs again by itself after an import and when the labelled history has grown by
`retune_growth` since the last run, in a background thread; the new knobs take over
once the classifiers for them are trained.

Opening an engine is cheap: the embedding model is loaded on its first encode (a
LazyEncoder; the index needs only the model's name and the dimension its manifest
records), and the triager and its classifiers are made on first use.  So a command that
shows a case or a report never loads either.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from errors import BadInput, IndexCorrupt, UnknownLabel
from indexer.encoder import Encoder, LazyEncoder
from indexer.index import Hit, Index
from indexer.vectors import AnnParams
from kb.records import Record, is_known_fix
from kb.store import KnowledgeBase, now_utc
from service.integrity import check_and_repair, open_index
from settings import Settings
from triage.params import MIN_RECORDS as TUNE_MIN_RECORDS
from triage.params import TriageParams, Tuning

if TYPE_CHECKING:  # the classifiers (scikit-learn) and readers load when first used
    from kb.importer import ColumnMapping, ImportReport
    from triage.result import TriageResult
    from triage.triager import Triager

Progress = Callable[[int], None]
SAVE_EVERY_CHANGES = 200
SAVE_EVERY_SECONDS = 60.0
TUNING_KEY = "tuning"  # meta key of the stored Tuning (JSON)
# A server on a shared PostgreSQL follows the others' changes: woken by NOTIFY the moment
# one commits, and looking anyway this often (a missed notification costs no more, and
# closing waits no longer than this for the follower to stop).
FOLLOW_SECONDS = 0.5


class _Closing(Exception):
    """Raised inside a background tuning when the engine closes."""


@dataclass
class SearchResult:
    hit: Hit
    record: Record


class Engine:
    """One knowledge base with its index and triager."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None,
                 fresh_index: bool = False, background: bool = True) -> None:
        """`fresh_index` skips loading the saved index (for `reindex`, which replaces it
        even when it was built by another model or is unreadable); `background` lets
        tuning start by itself in a thread (a long-running server; a command line that
        ends in a moment tunes in the foreground where it must, see `tuning_due`)."""
        self.settings = settings
        # The in-memory index is changed by sync and read by search from the app's many
        # threads: every use of it goes through this lock (docs/reliability.md).
        self._lock = threading.RLock()
        self.encoder = encoder or LazyEncoder(settings.model)
        self.kb = KnowledgeBase(settings.database, settings.levels)
        self.tuning = self._stored_tuning()
        self.params = TriageParams.resolve(settings, self.tuning and self.tuning.chosen)
        self._index = self._new_index() if fresh_index else open_index(
            settings.index_dir, self.encoder, settings.vector_backend,
            self.params.ranking, settings.encode_batch_size,
            database=settings.database_url.strip())
        self._index.ann = AnnParams.from_settings(settings)  # exact or IVF by size
        self._index.tuning = self.tuning and self.tuning.to_json()
        self._triager: Triager | None = None  # made on first use (`_triage_with`)
        self._unsaved, self._saved_at = 0, time.monotonic()
        self._tuner: threading.Thread | None = None
        self._background = background
        self._closing = threading.Event()
        self._label_version_seen = -1
        with self._lock:
            self.integrity = None if fresh_index else check_and_repair(
                self.kb, self._index, self.refresh, self.save)
        self._tuning_raw = self.kb.meta(TUNING_KEY)
        self._follower: threading.Thread | None = None
        if background and self.kb.dialect == "postgresql":
            self._follower = threading.Thread(target=self._follow, daemon=True,
                                              name="knownfix-follow")
            self._follower.start()

    def _triage_with(self) -> Triager:
        """The triager over this index and its parameters, made on first use (its
        classifiers train when it first needs them)."""
        with self._lock:
            if self._triager is None:
                from triage.triager import Triager

                self._triager = Triager(self.kb, self._index, self.settings, self._lock,
                                        self.params)
            return self._triager

    def _new_index(self) -> Index:
        s = self.settings
        return Index(s.index_dir, self.encoder, s.vector_backend, self.params.ranking,
                     s.encode_batch_size, AnnParams.from_settings(s), s.database_url.strip())

    # -- keeping the index current ----------------------------------------------------------
    def refresh(self, progress: Progress | None = None, save: bool = False) -> int:
        """Bring the index up to date with the KB. It is saved when asked, after many
        changes, or a while after the last save; an unsaved index loses nothing, since
        it catches up from the database's sequence numbers when next opened."""
        with self._lock:
            changed = self._index.sync(self.kb, progress)
            self._unsaved += changed
            self.maybe_tune()
            if self._unsaved and (save or self._unsaved >= SAVE_EVERY_CHANGES
                                  or time.monotonic() - self._saved_at > SAVE_EVERY_SECONDS):
                self.save()
        return changed

    def _follow(self) -> None:
        """Keep this server's index, and the tuning it triages with, current with what
        other servers commit to the shared database (see FOLLOW_SECONDS)."""
        while not self._closing.is_set():
            try:
                self.kb.wait_for_change(FOLLOW_SECONDS)
                if self._closing.is_set():
                    return
                self.refresh()
                self._adopt_tuning()
            except Exception:  # a lost connection: try again (a thread has nobody to tell)
                if self._closing.is_set():
                    return
                self._closing.wait(1.0)

    def _adopt_tuning(self) -> None:
        """Take up a tuning another server stored (one server tunes: `maybe_tune`)."""
        raw = self.kb.meta(TUNING_KEY)
        if not raw or raw == self._tuning_raw:
            return
        self._tuning_raw = raw
        tuning = Tuning.from_json(json.loads(raw))
        if tuning.model == self.encoder.name:
            self.apply_tuning(tuning, store=False)

    def save(self) -> None:
        with self._lock:
            self._index.save()
            self._unsaved, self._saved_at = 0, time.monotonic()

    def reindex(self, progress: Progress | None = None) -> int:
        """Rebuild the whole index from the database (also after a model change)."""
        with self._lock:
            self._index = self._new_index()
            try:
                old = self._index.read_manifest()
            except IndexCorrupt:
                old = None
            self._index.generation = old.get("generation", 0) if old else 0
            self._index.tuning = self.tuning and self.tuning.to_json()
            n = self._index.rebuild(self.kb, progress)
            self.save()
            self._triager = None  # made again, over the new index, when next used
        return n

    def switch_model(self, settings: Settings, encoder: Encoder, index: Index) -> None:
        """Serve from another model's finished index (service/migrate.py): it catches up
        with the KB and is saved, then replaces the current one.  A tuning belongs to
        its model, so the new one starts from the settings until it is tuned."""
        with self._lock:
            index.sync(self.kb)  # changes since the build finished
            self.settings, self.encoder, self._index = settings, encoder, index
            self.tuning = self._stored_tuning()
            self.params = TriageParams.resolve(settings, self.tuning and self.tuning.chosen)
            index.ranking = self.params.ranking
            index.tuning = self.tuning and self.tuning.to_json()
            index.save()
            self._triager = None  # made again, with the new model, when next used
            self._unsaved, self._saved_at = 0, time.monotonic()
            self._label_version_seen = -1

    # -- tuning ---------------------------------------------------------------------------
    def _stored_tuning(self) -> Tuning | None:
        """The tuning stored for this model, if any (another model's is stale)."""
        raw = self.kb.meta(TUNING_KEY)
        if not raw:
            return None
        tuning = Tuning.from_json(json.loads(raw))
        return tuning if tuning.model == self.encoder.name else None

    def tune(self, progress: Callable[[str], None] | None = None,
             dry_run: bool = False) -> Tuning:
        """Choose the quality knobs on the KB's own labelled history (triage/tuning.py)
        and, unless `dry_run`, store them and put them to work."""
        from triage.learner import labelled
        from triage.tuning import time_order, tune

        with self._lock:
            self.refresh()
        records, vectors = labelled(self.kb, self._index, self._lock)
        order = time_order(records)
        result = tune([records[n] for n in order], vectors[order], self.settings,
                      TriageParams.from_settings(self.settings), self.encoder.name,
                      len(records), now_utc(), progress)
        if not dry_run:
            self.apply_tuning(result)
        return result

    def apply_tuning(self, tuning: Tuning, store: bool = True) -> None:
        """Store a tuning (unless `store` is False: another server stored it) and switch
        the index and triager to its knobs; the new classifiers are trained before the
        switch, so triage never waits for them."""
        from triage.triager import Triager

        if store:
            self._tuning_raw = json.dumps(tuning.to_json(), ensure_ascii=False)
            self.kb.set_meta(TUNING_KEY, self._tuning_raw)
        params = TriageParams.resolve(self.settings, tuning.chosen
                                      if tuning.status == "tuned" else None)
        triager = Triager(self.kb, self._index, self.settings, self._lock, params)
        triager.learner.current(block=True)
        with self._lock:
            self.tuning, self.params, self._triager = tuning, params, triager
            self._index.ranking = params.ranking
            self._index.tuning = tuning.to_json()
            self._unsaved += 1  # the manifest carries the tuning: save it with the index

    def tuning_due(self) -> bool:
        """Whether `auto_tune` is on and the labelled history has grown by
        `retune_growth` since the last tuning (or, never tuned, reached the size tuning
        needs).  Cheap when nothing that teaches has changed since the last call."""
        if not self.settings.auto_tune:
            return False
        version = self.kb.label_version
        if version == self._label_version_seen:
            return False
        self._label_version_seen = version
        now = self.kb.counts()["labelled"]
        if self.tuning is None:
            return now >= TUNE_MIN_RECORDS
        return now >= self.tuning.labelled * (1 + self.settings.retune_growth)

    def maybe_tune(self) -> bool:
        """Start a background tuning when one is due (see `tuning_due`) in an engine
        that may run in the background; returns whether one was started."""
        if not self._background or (self._tuner and self._tuner.is_alive()):
            return False
        if not self.tuning_due():
            return False
        self._tuner = threading.Thread(target=self._tune_quietly, daemon=True,
                                       name="knownfix-tune")
        self._tuner.start()
        return True

    def _tune_quietly(self) -> None:
        def progress(_msg: str) -> None:
            if self._closing.is_set():
                raise _Closing
        try:
            with self.kb.exclusive("tuning") as mine:
                if mine:  # else another server is tuning: its result is adopted here
                    self.tune(progress)
        except _Closing:
            return
        except Exception as exc:  # a background thread has nobody to tell but the log
            if not self._closing.is_set():
                self.kb.log("system", "tune-failed", "index", {"error": str(exc)[:300]})

    def wait_for_tuning(self) -> None:
        if self._tuner is not None:
            self._tuner.join()

    # -- knowledge base -----------------------------------------------------------------------
    def import_file(self, path: str | Path, mapping: ColumnMapping, encoding: str | None = None,
                    progress: Progress | None = None,
                    index_progress: Progress | None = None, header_row: int | None = None,
                    last_wins: bool = False) -> ImportReport:
        """Import rows into the KB, then index them. The report's time covers both.
        `header_row` and `last_wins`: see kb.importer.import_file."""
        from kb.importer import import_file

        start = time.perf_counter()
        report = import_file(self.kb, path, mapping, encoding=encoding, progress=progress,
                             header_row=header_row, last_wins=last_wins)
        self.refresh(index_progress, save=True)
        report.seconds = time.perf_counter() - start
        return report

    def upsert(self, records: list[Record], actor: str = "system") -> None:
        """Write records and make them searchable at once."""
        self.kb.upsert(records, actor)
        self.refresh()

    def export(self, out, kind: str | None = None) -> int:
        from kb.exporter import export_csv

        return export_csv(self.kb, out, kind)

    # -- lookup -------------------------------------------------------------------------------
    def warm(self) -> None:
        """Do the one-off work of a first request now (the model's first forward pass,
        the Chinese dictionary, training the classifiers), so the first agent to triage
        does not wait for it.  Triage reads only: nothing is written."""
        self.triage("预热：设备无法开机 warm-up: device will not power on")

    def triage(self, text: str, exclude: str | None = None, **fields: str) -> TriageResult:
        """Classify, rate and match a fault description; `exclude` leaves one record (the
        case being triaged) out of its own matches; `fields` are context (title,
        product) and label values given."""
        from kb.reader import check_text

        check_text(" ".join([text or "", *(str(v) for v in fields.values())]),
                   "the fault description")
        with self._lock:
            self.refresh()
            return self._triage_with().run(text, exclude=exclude, **fields)

    def train(self) -> None:
        """Train the classifiers now if they are not current (else the first triage
        after a change waits for them)."""
        self._triage_with().learner.current(block=True)

    def encode_query(self, text: str) -> np.ndarray:
        """The text's query vector, as search makes it (for timing the model alone)."""
        return self._index.encode_query(text)

    def similar(self, text: str, pool: int, weight: float | None = None) -> list[Hit]:
        """The index's best `pool` hits for a text, caught up with the KB first.  `weight`
        fixes the dense share of the fused score (duplicate and recurrence checks use
        the settings' fusion_weight, for which their thresholds are set); without it the
        ranking in use (tuned or set) applies."""
        with self._lock:
            self.refresh()
            return self._index.search(text, pool, weight=weight)

    def vectors(self, keys: list[str], texts: list[str]) -> np.ndarray:
        """The index's stored vectors for these keys; a key not indexed is encoded from
        its text."""
        out = np.zeros((len(keys), self.encoder.dim), dtype=np.float32)
        with self._lock:
            self.refresh()
            index = self._index
            have = [i for i, k in enumerate(keys) if k in index.key_to_id]
            if have:
                ids = np.array([index.key_to_id[keys[i]] for i in have], dtype=np.int64)
                out[have] = index.vectors.get(ids)
            missing = [i for i, k in enumerate(keys) if k not in index.key_to_id]
        if missing:
            out[missing] = self.encoder.encode([texts[i] for i in missing])
        return out

    def indexed(self, key: str) -> bool:
        """Whether a record ("case:ID", "article:ID") is in the search index."""
        with self._lock:
            return key in self._index

    def search(self, query: str, k: int | None = None, kind: str | None = None,
               labels: dict[str, str] | None = None,
               only: Collection[str] | None = None) -> list[SearchResult]:
        """Known fixes for a query, optionally only one kind or with given label values;
        `only`: among these keys alone ("article:ID"; Index.search)."""
        from kb.reader import check_text

        if not query.strip():
            raise BadInput("the search query is empty")
        check_text(query, "the search query")
        known = set(self.kb.label_fields())
        for name in labels or {}:
            if name not in known:
                raise UnknownLabel(f"unknown label field {name!r} "
                                   f"(known: {', '.join(sorted(known)) or 'none'})")
        k = k or self.settings.top_k
        filtered = bool(kind or labels)
        with self._lock:
            self.refresh()
            hits = self._index.search(query, k * 20 if filtered else k * 2, only=only)
        records = self.kb.get_many(h.key for h in hits)
        out = []
        for h in hits:
            rec = records.get(h.key)
            if rec is None or not is_known_fix(rec.kind, rec.state) or (kind and rec.kind != kind):
                continue
            if labels and any(rec.labels.get(f) != v for f, v in labels.items()):
                continue
            out.append(SearchResult(h, rec))
        return out[:k]

    def stats(self) -> dict:
        counts = self.kb.counts()
        fields = {f: len(self.kb.label_values(f)) for f in self.kb.label_fields()}
        manifest = self._index.read_manifest() or {}
        return {"records": counts, "label_fields": fields, "severity_levels": self.settings.levels,
                "index": {"count": len(self._index), "model": self.encoder.name,
                          "dim": self.encoder.dim, "backend": self._index.backend,
                          "up_to_date": self._index.seq == self.kb.seq,
                          "saved_at": manifest.get("saved_at")},
                "tuning": self.tuning.to_json() if self.tuning else None,
                "quality_settings": self.params.to_json()}

    def close(self) -> None:
        """Stop a background tuning, save what the index has not saved yet and close
        the database."""
        self._closing.set()
        self.wait_for_tuning()
        if self._follower is not None:
            self._follower.join()
        with self._lock:
            self.refresh()
            if self._unsaved:
                self.save()
        self.kb.close()


class OnEngine:
    """Base of a service over an Engine: `kb`, and `s`, the settings read from the
    Engine each time (a model switch or a tuning replaces them; a copy would go stale)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.kb = engine.kb

    @property
    def s(self) -> Settings:
        return self.engine.settings
