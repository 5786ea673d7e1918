"""Vector stores behind one interface: FAISS (inner product) and NumPy (tests).

Ids are int64 chosen by the caller and never reused; vectors are unit length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


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
        return self.index.search(q, k)

    def get(self, ids: np.ndarray) -> np.ndarray:
        return np.stack([self.index.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), np.float32)

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        flat = faiss.downcast_index(self.index.index)
        vecs = faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, self.dim)
        return ids, vecs.copy()

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> FaissVectors:
        import faiss

        return cls(dim, faiss.read_index(str(path)))

    def __len__(self) -> int:
        return int(self.index.ntotal)


BACKENDS: dict[str, type] = {"faiss": FaissVectors, "numpy": NumpyVectors}


def make_vectors(backend: str, dim: int) -> VectorStore:
    return BACKENDS[backend](dim)


def load_vectors(backend: str, path: Path, dim: int) -> VectorStore:
    return BACKENDS[backend].load(path, dim)
