"""Index: hybrid (dense + BM25) search over the knowledge base, saved as a folder.

The folder holds `manifest.json` (format version, model, dimension, normalisation,
backend, counts, the KB sequence number it reflects and the file generation) and the
files of that generation.  Saving writes new files first and replaces the manifest last,
so a crash leaves either the old index or the new one.

Hybrid score = w * max(cosine, 0) + (1 - w) * normalised BM25, both in 0-1, so one
threshold means the same for every query (see README, "How matching works"); `Ranking`
(indexer/ranking.py) holds w per script of the query and what the lexical side reads.
The lexical index holds two fields of every record, its words and its Chinese character
bigrams (indexer/tokens.py); a query reads one or both.

With the "faiss" backend the vector store is exact below `AnnParams.threshold` vectors and
approximate (IVF) above it; the choice is re-made at the end of every sync and rebuild
(`indexer.vectors.fit_to_size`), and the manifest's "vector_index" says which is saved.
Records with the same description share one encoding: a description already in the
index is copied from the stored vector instead of being encoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from errors import IndexCorrupt, ModelMismatch
from indexer.encoder import Encoder
from indexer.lexical import BM25Index
from indexer.ranking import Ranking, fuse
from indexer.tokens import analyze, shown_terms
from indexer.vectors import (
    BACKENDS,
    AnnParams,
    VectorStore,
    fit_to_size,
    load_vectors,
    make_vectors,
)
from kb.records import Record

FORMAT_VERSION = 3  # 3: the lexical index holds character bigrams beside words
CANDIDATES = 64
CHUNK = 8192  # records encoded per call (the model sorts each call by length)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@dataclass
class Hit:
    key: str
    score: float
    dense: float
    lexical: float
    matched: list[str] = field(default_factory=list)


class Index:
    """Vectors + BM25 + the map between internal int ids and KB keys."""

    def __init__(self, folder: str | Path, encoder: Encoder, backend: str = "faiss",
                 ranking: Ranking | None = None, batch_size: int = 64,
                 ann: AnnParams | None = None, database: str = "") -> None:
        self.folder = Path(folder)
        self.encoder = encoder
        self.backend = backend
        self.database = database  # the knowledge base's, for a store kept there (pgvector)
        self.ranking = ranking or Ranking()
        self.tuning: dict | None = None  # the tuning in force, recorded in the manifest
        self.batch_size = batch_size
        self._ann = ann or AnnParams()
        self.vectors: VectorStore = make_vectors(backend, encoder.dim, database, self.folder)
        self.lexical = BM25Index()
        self.key_to_id: dict[str, int] = {}
        self.id_to_key: dict[int, str] = {}
        self.digests: dict[str, str] = {}  # key -> digest of the text its vector encodes
        self.next_id = 0
        self.seq = 0
        self.epoch = ""  # the database's epoch (KnowledgeBase.epoch) seq counts in
        self.generation = 0
        self._by_digest: dict[str, int] | None = None  # digest -> an id with that vector

    @property
    def ann(self) -> AnnParams:
        """When the vector store turns approximate, and its shape (settings ann_*)."""
        return self._ann

    @ann.setter
    def ann(self, params: AnnParams) -> None:
        self._ann = params
        tune = getattr(self.vectors, "tune", None)
        if tune:
            tune(params)

    # -- persistence ---------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, encoder: Encoder, backend: str = "faiss",
             ranking: Ranking | None = None, batch_size: int = 64,
             ann: AnnParams | None = None, database: str = "") -> Index:
        """Load the index in `folder`, or start an empty one if there is none.  The
        model is not needed: the manifest records the model's name, checked against the
        encoder's (ModelMismatch), and its dimension, which the encoder takes on trust
        until it loads the model (Encoder.expect_dim)."""
        manifest = _read_manifest(Path(folder))
        if manifest is not None:
            _check_model(manifest, encoder)
        if manifest is None:
            return cls(folder, encoder, backend, ranking, batch_size, ann, database)
        # a store in the database is not made afresh (that would empty it) but loaded
        idx = cls(folder, encoder, "numpy", ranking, batch_size, ann, database)
        idx.backend = backend
        gen = manifest["generation"]
        try:
            idx.vectors = load_vectors(manifest["backend"], idx._file("vectors", gen,
                                       manifest["backend"]), encoder.dim, database,
                                       idx.folder)
            idx.lexical = BM25Index.load(idx._file("lexical", gen))
            ids = json.loads(idx._file("ids", gen).read_text(encoding="utf-8"))
            digests = json.loads(idx._file("digests", gen).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, RuntimeError, EOFError) as exc:
            raise IndexCorrupt(f"index files in {idx.folder} are unreadable ({exc}): "
                               "run `knownfix reindex`") from exc
        idx.backend = manifest["backend"]
        idx.ann = idx.ann  # apply the query-time parameters to the loaded store
        idx.key_to_id, idx.digests = ids, digests
        idx.id_to_key = {v: k for k, v in ids.items()}
        idx.next_id, idx.seq, idx.generation = manifest["next_id"], manifest["seq"], gen
        idx.epoch = manifest.get("db_epoch", "")
        if len(idx.vectors) != len(ids) or len(idx.lexical) != len(ids):
            raise IndexCorrupt("index files disagree on their counts: run `knownfix reindex`")
        return idx

    def read_manifest(self) -> dict | None:
        return _read_manifest(self.folder)

    def _file(self, part: str, gen: int, backend: str | None = None) -> Path:
        suffix = {"vectors": BACKENDS[backend or self.backend].suffix,
                  "lexical": ".pkl", "ids": ".json", "digests": ".json"}[part]
        return self.folder / f"{part}-{gen}{suffix}"

    def manifest(self) -> dict:
        return {"format_version": FORMAT_VERSION, "model": self.encoder.name,
                "dim": self.encoder.dim, "normalized": True, "metric": "inner_product",
                "backend": self.backend, "count": len(self.key_to_id), "next_id": self.next_id,
                "vector_index": getattr(self.vectors, "describe", lambda: {"type": "exact"})(),
                "seq": self.seq, "db_epoch": self.epoch, "generation": self.generation,
                "ranking": {"fusion": self.ranking.fusion, "analyzers": self.ranking.analyzers,
                            "context_weight": self.ranking.context_weight},
                "tuning": self.tuning,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def save(self) -> None:
        """Write a new generation of files, then switch the manifest to it atomically.
        A lock keeps two processes from writing the same generation; whichever saves
        last wins, which is safe because each saved index records the KB sequence
        number it reflects and catches up from there when opened."""
        from filelock import FileLock

        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder / "save.lock"), timeout=120):
            on_disk = self.read_manifest()
            gen = max(self.generation, on_disk["generation"] if on_disk else 0) + 1
            self.generation = gen
            self.vectors.save(self._file("vectors", gen))
            self.lexical.save(self._file("lexical", gen))
            self._file("ids", gen).write_text(json.dumps(self.key_to_id), encoding="utf-8")
            self._file("digests", gen).write_text(json.dumps(self.digests), encoding="utf-8")
            tmp = self.folder / "manifest.json.tmp"
            tmp.write_text(json.dumps(self.manifest(), indent=2), encoding="utf-8")
            os.replace(tmp, self.folder / "manifest.json")
            for part in ("vectors", "lexical", "ids", "digests"):
                for stale in self.folder.glob(f"{part}-*"):
                    if stale.stem.rsplit("-", 1)[-1] != str(gen):
                        stale.unlink(missing_ok=True)

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, records: list[Record], progress: Callable[[int], None] | None = None) -> int:
        """Add or replace records; returns how many were written. A record whose
        description is unchanged keeps its vector (only its words are re-indexed)."""
        done = 0
        for start in range(0, len(records), CHUNK):
            chunk = records[start:start + CHUNK]
            fresh = []
            for rec in chunk:
                digest = _digest(rec.description)
                if self.digests.get(rec.key) == digest:
                    self.lexical.add(self.key_to_id[rec.key], analyze(rec.search_text))
                else:
                    fresh.append((rec, digest))
            self.delete([r.key for r, _ in fresh if r.key in self.key_to_id])
            vecs = self._vectors_for(fresh)
            ids = np.arange(self.next_id, self.next_id + len(fresh), dtype=np.int64)
            self.next_id += len(fresh)
            self.vectors.add(ids, vecs)
            by_digest = self._digest_ids()
            for i, (rec, digest) in zip(ids.tolist(), fresh, strict=True):
                self.key_to_id[rec.key] = i
                self.id_to_key[i] = rec.key
                self.digests[rec.key] = digest
                by_digest.setdefault(digest, i)
                self.lexical.add(i, analyze(rec.search_text))
            done += len(chunk)
            if progress:
                progress(done)
        return done

    def _digest_ids(self) -> dict[str, int]:
        if self._by_digest is None:
            self._by_digest = {}
            for key, digest in self.digests.items():
                self._by_digest.setdefault(digest, self.key_to_id[key])
        return self._by_digest

    def _vectors_for(self, fresh: list[tuple[Record, str]]) -> np.ndarray:
        """Vectors for (record, digest) pairs: each description not yet in the index is
        encoded once; one already there is copied from the stored vector."""
        by_digest = self._digest_ids()
        out = np.empty((len(fresh), self.encoder.dim), dtype=np.float32)
        copy_rows = [n for n, (_, d) in enumerate(fresh) if d in by_digest]
        if copy_rows:
            out[copy_rows] = self.vectors.get(
                np.array([by_digest[fresh[n][1]] for n in copy_rows], dtype=np.int64))
        slot: dict[str, int] = {}  # digest -> its row among the texts to encode
        texts: list[str] = []
        encode_rows: list[int] = []
        for n, (rec, digest) in enumerate(fresh):
            if digest in by_digest:
                continue
            if digest not in slot:
                slot[digest] = len(texts)
                texts.append(rec.description)
            encode_rows.append(n)
        if texts:
            encoded = self.encoder.encode(texts, self.batch_size)
            out[encode_rows] = encoded[[slot[fresh[n][1]] for n in encode_rows]]
        return out

    def delete(self, keys: Iterable[str]) -> list[str]:
        """Remove records by key; returns the keys that were there."""
        gone = [k for k in keys if k in self.key_to_id]
        ids = np.array([self.key_to_id.pop(k) for k in gone], dtype=np.int64)
        self.vectors.remove(ids)
        for i in ids.tolist():
            self.lexical.remove(i)
            self.id_to_key.pop(i, None)
        by_digest = self._by_digest
        for k, i in zip(gone, ids.tolist(), strict=True):
            digest = self.digests.pop(k, None)
            if by_digest is not None and by_digest.get(digest) == i:
                del by_digest[digest]
        return gone

    def sync(self, kb, progress: Callable[[int], None] | None = None) -> int:
        """Apply every KB change newer than this index; returns how many records changed.
        An index of another database (a backup was restored into it, or it was
        replaced: another epoch, or fewer changes than the index has seen) has nothing
        to catch up from and is rebuilt."""
        target, epoch = kb.seq, kb.epoch
        if self.seq and (epoch != self.epoch or target < self.seq):
            return self.rebuild(kb, progress)
        self.epoch = epoch
        if target == self.seq:
            return 0
        changed, removed = kb.changes_since(self.seq)
        self.delete(removed)
        n = self.upsert(changed, progress)
        self.seq = target
        self.fit_vectors()
        return n + len(removed)

    def fit_vectors(self) -> bool:
        """Move the vectors to the store their number calls for (exact or IVF, see
        indexer/vectors.py); returns whether the store changed."""
        if self.backend != "faiss":
            return False
        store = fit_to_size(self.vectors, self.ann)
        if store is None:
            return False
        self.vectors = store
        return True

    def rebuild(self, kb, progress: Callable[[int], None] | None = None) -> int:
        """Throw away the contents and index every record in the KB afresh; returns how
        many records the index now holds."""
        gen, tuning = self.generation, self.tuning
        self.__init__(self.folder, self.encoder, self.backend, self.ranking, self.batch_size,
                      self.ann, self.database)
        self.generation, self.tuning = gen, tuning
        self.sync(kb, progress)  # sets seq to the change it read up to, not a later one
        return len(self.key_to_id)

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.key_to_id)

    def __contains__(self, key: str) -> bool:
        return key in self.key_to_id

    def encode_query(self, text: str) -> np.ndarray:
        return self.encoder.encode([text], self.batch_size)[0]

    def search(self, text: str, k: int = 5, qvec: np.ndarray | None = None,
               keep: Callable[[str], bool] | None = None, pool: int = CANDIDATES,
               context: str = "", weight: float | None = None,
               only: Collection[str] | None = None) -> list[Hit]:
        """The k best records for `text` by hybrid score (see module docstring).
        `context` (product, model, title) weighs less than `text`; `qvec`, when given,
        is the encoding of both.  `weight` overrides the ranking's fusion weight, for
        callers whose thresholds were set on a fixed fusion (duplicates, recurrence).
        `only`: search among these keys alone, every one of them scored (a small set,
        such as the articles customers may see, that the best of the whole index could
        leave out)."""
        if not self.key_to_id:
            return []
        if qvec is None:
            qvec = self.encode_query("\n".join(p for p in (context, text) if p))
        tokens = self.ranking.query_terms(text, context)
        weight = self.ranking.weight_for(text or context) if weight is None else weight
        lex_docs, lex_scores = self.lexical.score_arrays(tokens)  # by doc id
        if only is not None:
            dense, missing = {}, [self.key_to_id[key] for key in only if key in self.key_to_id]
        else:
            want = max(pool, k * 4) * (4 if keep else 1)
            dense_s, dense_i = self.vectors.search(qvec, want)
            dense = {int(i): float(s) for s, i in zip(dense_s[0], dense_i[0], strict=True)
                     if i >= 0}
            missing = [i for i in _top_ids(lex_docs, lex_scores, want).tolist()
                       if i not in dense]
        if missing:
            extra = self.vectors.get(np.array(missing, dtype=np.int64)) @ qvec
            dense.update(zip(missing, extra.tolist(), strict=True))
        cand = np.fromiter(dense, dtype=np.int64, count=len(dense))
        lex_vals = np.zeros(len(cand))
        if len(lex_docs):
            at = np.searchsorted(lex_docs, cand).clip(max=len(lex_docs) - 1)
            lex_vals = np.where(lex_docs[at] == cand, lex_scores[at], 0.0)
        lex_of = dict(zip(cand.tolist(), lex_vals.tolist(), strict=True))
        hits = []
        for i, d in dense.items():
            key = self.id_to_key.get(i)
            if key is None or (keep and not keep(key)):
                continue
            lex = lex_of[i]
            hits.append(Hit(key, float(fuse(weight, d, lex)), d, lex))
        hits.sort(key=lambda h: -h.score)
        hits = hits[:k]
        for h in hits:
            h.matched = shown_terms(self.lexical.matched(self.key_to_id[h.key], list(tokens)))
        return hits


def stamp_epoch(folder: str | Path, epoch: str) -> None:
    """Record in a saved index that it describes the database of `epoch` (after a
    restore put that database and this index back together)."""
    manifest = _read_manifest(Path(folder))
    if manifest is None:
        return
    tmp = Path(folder) / "manifest.json.tmp"
    tmp.write_text(json.dumps({**manifest, "db_epoch": epoch}, indent=2), encoding="utf-8")
    os.replace(tmp, Path(folder) / "manifest.json")


def _read_manifest(folder: Path) -> dict | None:
    """The saved index's manifest, or None when there is no saved index."""
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path} is unreadable: run `knownfix reindex`") from exc


def _check_model(manifest: dict, encoder: Encoder) -> None:
    """The index's format and model must be this version's and the encoder's."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(f"index format {manifest.get('format_version')} is not "
                           f"{FORMAT_VERSION}: run `knownfix reindex`")
    if manifest["model"] != encoder.name:
        raise ModelMismatch(
            f"the index was built with model {manifest['model']!r} (dim {manifest['dim']}) "
            f"but the model setting is {encoder.name!r}: run `knownfix reindex` to "
            "rebuild it")
    encoder.expect_dim(int(manifest["dim"]))


def _top_ids(docs: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The n docs with the highest scores, best first; ties go to the lower doc id
    (docs come sorted by id).  Linear in len(docs) plus a sort of about n."""
    if len(docs) > 4 * n:
        kth = np.partition(scores, len(scores) - n)[len(scores) - n]
        keep = scores >= kth
        docs, scores = docs[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")[:n]
    return docs[order]
