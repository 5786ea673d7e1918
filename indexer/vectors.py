"""Vector stores behind one interface: FAISS (inner product) and NumPy (tests).

Ids are int64 chosen by the caller and never reused; vectors are unit length.

Exact or approximate, chosen by size
------------------------------------
With the "faiss" backend the index holds an exact store (`FaissVectors`: IndexFlatIP in
an IndexIDMap2) while it has fewer than `ann_threshold` vectors, and an approximate one
(`IvfVectors`) from there on.  `fit_to_size` makes that choice; the Index calls it at the
end of every sync and rebuild, re-training from the stored vectors (`all()`), so callers
never see the switch.  A flat scan costs N x dim per query (about 0.1-0.2 s at 1M
vectors of 384 dims on 2 cores); the approximate store scans only a few cells.

Why IVF (IndexIVFFlat) and not HNSW:
- It deletes: IndexIVF.remove_ids works, and with a hashtable direct map `get()` can
  reconstruct any id.  The index deletes and re-adds a vector whenever a description
  changes, and deletes on every KB deletion; HNSW cannot remove, so it would need a
  deleted-id filter, over-fetching and periodic rebuilds to keep results and memory right.
- It builds fast on 2 cores: k-means on a sample plus one assignment pass (about a
  minute for 1M vectors with ~1000 cells), where HNSW insertion of 1M vectors takes
  several times longer.  Rebuilds happen on reindex and at the switch, so this matters.
- Same memory as the exact store (IVFFlat keeps full float32 vectors, so `get()` and
  `all()` return exact vectors and re-training loses nothing).
- Recall is tuned at query time by `ann_nprobe` (cells scanned), without rebuilding.
The cost: cells are trained once, so they are re-trained when the collection has grown
(or shrunk) enough that the automatic cell count would change by 2x or more, and on
every reindex.  Below 80% of the threshold the store goes back to exact (hysteresis, so a
collection hovering around the threshold does not flip at every change).

Queries of a few vectors run FAISS on one thread (`_few_threads`): with OpenMP's
spin-waiting, a 2-thread search of one query took 50 ms instead of 1 ms for 3,000
vectors on this 2-core machine under load (docs/benchmarks.md).  Bulk work (adding,
training) keeps every thread.  FAISS and torch share the OpenMP runtime, so the thread
count is restored as soon as the last concurrent query is done.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.pgvectors import PgVectors

# The defaults of the ann_* settings (settings.py), measured in bench/bench_scale.py and
# docs/benchmarks.md.
ANN_THRESHOLD = 200_000
ANN_NLIST = 0  # 0: automatic, ~sqrt(N) cells
ANN_NPROBE = 32
MIN_POINTS_PER_CELL = 39  # FAISS warns below this many training points per cell
TRAIN_POINTS_PER_CELL = 64  # k-means sample size per cell
TRAIN_ITERATIONS = 12
BACK_TO_EXACT = 0.8  # share of the threshold under which an IVF store turns exact again
FEW_QUERIES = 8  # searches of at most this many vectors run on one thread

_threads_lock = threading.Lock()
_threads_state = {"active": 0, "saved": 0}


@contextmanager
def _few_threads(nq: int) -> Iterator[None]:
    """One OpenMP thread while a small query runs (see the module docstring)."""
    if nq > FEW_QUERIES:
        yield
        return
    import faiss

    with _threads_lock:
        if _threads_state["active"] == 0:
            _threads_state["saved"] = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
        _threads_state["active"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_state["active"] -= 1
            if _threads_state["active"] == 0:
                faiss.omp_set_num_threads(_threads_state["saved"])


@dataclass(frozen=True)
class AnnParams:
    """When to leave exact search, and how the approximate index is shaped."""

    threshold: int = ANN_THRESHOLD
    nlist: int = ANN_NLIST
    nprobe: int = ANN_NPROBE

    @classmethod
    def from_settings(cls, settings: Any) -> AnnParams:
        return cls(settings.ann_threshold, settings.ann_nlist, settings.ann_nprobe)

    def cells_for(self, n: int) -> int:
        """Number of IVF cells for n vectors: the setting, or about sqrt(n); never so
        many that a cell gets fewer than MIN_POINTS_PER_CELL training points."""
        want = self.nlist or max(1, round(math.sqrt(n)))
        return int(max(1, min(want, n // MIN_POINTS_PER_CELL)))


class VectorStore(Protocol):
    dim: int

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> int: ...
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def get(self, ids: np.ndarray) -> np.ndarray: ...
    def all(self) -> tuple[np.ndarray, np.ndarray]: ...
    def save(self, path: Path) -> None: ...
    def __len__(self) -> int: ...


class NumpyVectors:
    """Exact search with a matrix product. Keeps everything in memory."""

    suffix = ".npz"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.vecs = np.zeros((0, dim), dtype=np.float32)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        self.vecs = np.vstack([self.vecs, np.asarray(vecs, dtype=np.float32)])

    def remove(self, ids: np.ndarray) -> int:
        keep = ~np.isin(self.ids, ids)
        removed = int((~keep).sum())
        self.ids, self.vecs = self.ids[keep], self.vecs[keep]
        return removed

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(query).astype(np.float32)
        k = min(k, len(self.ids))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        sims = q @ self.vecs.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sims, top, 1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, 1)
        return np.take_along_axis(sims, top, 1), self.ids[top]

    def get(self, ids: np.ndarray) -> np.ndarray:
        pos = {int(i): n for n, i in enumerate(self.ids)}
        return self.vecs[[pos[int(i)] for i in ids]]

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ids.copy(), self.vecs.copy()

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, ids=self.ids, vecs=self.vecs)

    @classmethod
    def load(cls, path: Path, dim: int) -> NumpyVectors:
        store = cls(dim)
        with np.load(path) as data:
            store.ids, store.vecs = data["ids"], data["vecs"]
        return store

    def __len__(self) -> int:
        return len(self.ids)


class FaissVectors:
    """Exact inner-product search in FAISS (IndexFlatIP inside an IndexIDMap2)."""

    suffix = ".faiss"
    kind = "flat"

    def __init__(self, dim: int, index: object | None = None) -> None:
        import faiss

        self.dim = dim
        self.index = index or faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        k = min(k, self.index.ntotal)
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        with _few_threads(len(q)):
            return self.index.search(q, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        flat = faiss.downcast_index(self.index.index)
        vecs = faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, self.dim)
        return ids, vecs.copy()

    def describe(self) -> dict:
        return {"type": self.kind}

    def tune(self, params: AnnParams) -> None:
        """Exact search has nothing to tune."""

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> FaissVectors | IvfVectors:
        """Either kind of FAISS store: the file says which."""
        import faiss

        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexIVF):
            return IvfVectors(dim, index=index)
        return cls(dim, index)

    def __len__(self) -> int:
        return int(self.index.ntotal)


class IvfVectors:
    """Approximate inner-product search: IndexIVFFlat over spherical k-means cells; a
    query scans the `nprobe` cells nearest to it.  A hashtable direct map lets remove()
    and get() work on any id.  (Why IVF rather than HNSW: see the module docstring.)

    Built with `IvfVectors.build(ids, vecs, params)`.  Made empty (the contract tests,
    `make_vectors("faiss-ivf", dim)`), it trains on the first batch it is given, with
    as many cells as that batch supports."""

    suffix = ".faiss"
    kind = "ivf"

    def __init__(self, dim: int, params: AnnParams | None = None,
                 index: object | None = None) -> None:
        self.dim = dim
        self.params = params or AnnParams()
        self.index = index  # a trained faiss.IndexIVFFlat, or None until the first add
        if index is not None:
            self.tune(self.params if params else AnnParams(nprobe=int(index.nprobe)))

    @classmethod
    def build(cls, ids: np.ndarray, vecs: np.ndarray, params: AnnParams) -> IvfVectors:
        store = cls(vecs.shape[1] if vecs.ndim == 2 else 0, params)
        store.add(ids, vecs)
        return store

    @property
    def nlist(self) -> int:
        return int(self.index.nlist) if self.index is not None else 0

    def _train(self, vecs: np.ndarray) -> None:
        import faiss

        n = len(vecs)
        nlist = self.params.cells_for(n)
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True  # unit-length centroids: cells by cosine
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.max_points_per_centroid = TRAIN_POINTS_PER_CELL
        index.cp.seed = 1234
        sample = vecs
        cap = nlist * TRAIN_POINTS_PER_CELL
        if n > cap:
            pick = np.random.default_rng(1234).choice(n, cap, replace=False)
            sample = vecs[np.sort(pick)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        self.index = index
        self.tune(self.params)

    def tune(self, params: AnnParams) -> None:
        """Apply the query-time parameter (nprobe) without rebuilding."""
        self.params = params
        if self.index is not None:
            self.index.nprobe = int(max(1, min(params.nprobe, self.index.nlist)))

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids):
            return
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        if self.index is None:
            self.dim = vecs.shape[1]
            self._train(vecs)
        self.index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids) or self.index is None:
            return 0
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        with _few_threads(len(q)):
            # -1 ids (fewer than k vectors in the scanned cells) are skipped by callers
            return self.index.search(q, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if self.index is None:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        lists = self.index.invlists
        ids = np.empty(len(self), np.int64)
        vecs = np.empty((len(self), self.dim), np.float32)
        at = 0
        for cell in range(self.index.nlist):
            n = lists.list_size(cell)
            if not n:
                continue
            ids[at:at + n] = faiss.rev_swig_ptr(lists.get_ids(cell), n)
            codes = faiss.rev_swig_ptr(lists.get_codes(cell), n * self.dim * 4)
            vecs[at:at + n] = codes.view(np.float32).reshape(n, self.dim)
            at += n
        order = np.argsort(ids, kind="stable")  # id order, like the exact store
        return ids[order], vecs[order]

    def describe(self) -> dict:
        return {"type": self.kind, "nlist": self.nlist, "nprobe": self.params.nprobe}

    def save(self, path: Path) -> None:
        import faiss

        # untrained (never given a vector): saved as an empty exact store
        faiss.write_index(self.index if self.index is not None
                          else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim)), str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> FaissVectors | IvfVectors:
        return FaissVectors.load(path, dim)

    def __len__(self) -> int:
        return int(self.index.ntotal) if self.index is not None else 0


BACKENDS: dict[str, type] = {"faiss": FaissVectors, "faiss-ivf": IvfVectors,
                             "numpy": NumpyVectors, "pgvector": PgVectors}
# stores kept in the knowledge base's database: they need its address and the index folder
IN_DATABASE = frozenset({"pgvector"})


def make_vectors(backend: str, dim: int, database: str = "",
                 folder: str | Path = "") -> VectorStore:
    if backend in IN_DATABASE:
        return BACKENDS[backend](dim, database, folder)
    return BACKENDS[backend](dim)


def load_vectors(backend: str, path: Path, dim: int, database: str = "",
                 folder: str | Path = "") -> VectorStore:
    if backend in IN_DATABASE:
        return BACKENDS[backend].load(path, dim, database, folder)
    return BACKENDS[backend].load(path, dim)


def fit_to_size(store: VectorStore, params: AnnParams) -> VectorStore | None:
    """The FAISS store this many vectors should live in, when it is not `store`:
    exact below `params.threshold`, IVF from there on (back to exact below 80% of it),
    and a re-trained IVF when the automatic cell count for the current size is 2x off
    the trained one.  None means keep `store` (then only its nprobe is updated).
    Only the "faiss" family switches; NumPy stays exact."""
    n = len(store)
    if isinstance(store, IvfVectors):
        if n < params.threshold * BACK_TO_EXACT:
            exact = FaissVectors(store.dim)
            exact.add(*store.all())
            return exact
        want, have = params.cells_for(n), store.nlist
        if max(want, have) >= 2 * min(want, have):
            return IvfVectors.build(*store.all(), params)
        store.tune(params)
        return None
    if isinstance(store, FaissVectors) and n >= max(params.threshold, 1):
        return IvfVectors.build(*store.all(), params)
    return None
