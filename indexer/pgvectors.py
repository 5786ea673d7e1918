"""Vectors in PostgreSQL's `vector` extension (pgvector), for a knowledge base kept on
PostgreSQL (`vector_backend = "pgvector"`, with `database_url`).

The store keeps the same contract as the FAISS and NumPy ones (indexer/vectors.py): int
ids and normalised float vectors, best inner product first.  Each server's index has a
table of its own (named from the host and the index folder, so two servers never share
one), with an HNSW index for inner product; search is approximate like FAISS's IVF, and
exact enough at small sizes.  Unlike the file stores it writes through at once: `save`
records the table and how many vectors it held, and a table that no longer matches its
index's saved files (a server killed between saves) makes the index rebuild, as a
damaged file does.  The extension is not required: it is offered where the database
has it (`CREATE EXTENSION vector`, done by a superuser once).
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import numpy as np

EF_SEARCH = 100  # HNSW candidates per query (pgvector's default is 40)


def _literal(vec: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vec.tolist()) + "]"


def _parse(text: str) -> np.ndarray:
    return np.asarray(json.loads(text), dtype=np.float32)


class PgVectors:
    """A table of (id, vector) with an HNSW index, in the knowledge base's database."""

    suffix = ".pgvec"

    def __init__(self, dim: int, database: str, folder: str | Path, fresh: bool = True) -> None:
        import psycopg

        if not database:
            raise ValueError("vector_backend 'pgvector' needs database_url (PostgreSQL)")
        self.dim, self.database = dim, database
        where = f"{socket.gethostname()}:{Path(folder).resolve()}"
        self.table = "kf_vectors_" + hashlib.sha1(where.encode()).hexdigest()[:16]
        self.conn = psycopg.connect(database, autocommit=True, application_name="knownfix")
        self.conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        if fresh:
            with self.conn.transaction():
                self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
                self.conn.execute(f"CREATE TABLE {self.table} (id BIGINT PRIMARY KEY, "
                                  f"embedding vector({dim}) NOT NULL)")
                self.conn.execute(f"CREATE INDEX ON {self.table} USING hnsw "
                                  "(embedding vector_ip_ops)")

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        with self.conn.cursor().copy(f"COPY {self.table} (id, embedding) FROM STDIN") as copy:
            for i, v in zip(np.asarray(ids).tolist(), np.asarray(vecs, np.float32), strict=True):
                copy.write_row([i, _literal(v)])

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        return self.conn.execute(f"DELETE FROM {self.table} WHERE id = ANY(%s)",
                                 [np.asarray(ids).tolist()]).rowcount

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(query).astype(np.float32)
        k = min(k, len(self))
        scores = np.zeros((len(q), k), np.float32)
        found = np.zeros((len(q), k), np.int64)
        for n, row in enumerate(q):
            lit = _literal(row)
            hits = self.conn.execute(
                f"SELECT id, -(embedding <#> %s::vector) FROM {self.table} "
                f"ORDER BY embedding <#> %s::vector LIMIT %s", [lit, lit, k]).fetchall()
            if len(hits) < k:  # HNSW may return fewer on tiny or skewed tables
                scores, found = scores[:, :len(hits)], found[:, :len(hits)]
            for m, (i, s) in enumerate(hits[:scores.shape[1]]):
                found[n, m], scores[n, m] = i, s
        return scores, found

    def get(self, ids: np.ndarray) -> np.ndarray:
        wanted = np.asarray(ids).tolist()
        if not wanted:
            return np.zeros((0, self.dim), np.float32)
        got = dict(self.conn.execute(f"SELECT id, embedding::text FROM {self.table} "
                                     "WHERE id = ANY(%s)", [wanted]).fetchall())
        return np.stack([_parse(got[i]) for i in wanted])

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(f"SELECT id, embedding::text FROM {self.table} "
                                 "ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return (np.array([r[0] for r in rows], np.int64),
                np.stack([_parse(r[1]) for r in rows]))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"table": self.table, "count": len(self)}),
                              encoding="utf-8")

    @classmethod
    def load(cls, path: Path, dim: int, database: str, folder: str | Path) -> PgVectors:
        import psycopg

        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        store = cls(dim, database, folder, fresh=False)
        try:
            have = len(store)
        except psycopg.Error as exc:  # the table is gone: the index is rebuilt
            raise ValueError(f"vector table {store.table}: {exc}") from exc
        if saved["table"] != store.table or have != saved["count"]:
            raise ValueError(f"vector table {saved['table']} no longer matches its index "
                             f"({have} vectors, {saved['count']} saved)")
        return store

    def __len__(self) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]
