"""pgvector next to the per-server FAISS index: the same real model vectors in both.

Vectors: the bundled model's vectors of the PostgreSQL benchmark's corpus, as
`bench/bench_pg.py --vectors-only` caches them (bench/results/cache/). A few hundred are
held out as queries (new fault descriptions against the knowledge base); the rest are
stored in each backend as the product stores them: `FaissVectors` (exact inner product,
what a server uses below `ann_threshold`) and `PgVectors` (indexer/pgvectors.py: a table
with an HNSW index, filled through COPY while the index grows, as an import does).

Prints and writes (bench/results/pgvector.json): the time to store them, search latency
p50 / p95 per query (k = 10; medians over --runs passes), and pgvector's recall@10
against the exact answer.  Needs the `vector` extension on this machine's PostgreSQL;
without it, says so and stops.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pgvector.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.pgvectors import EF_SEARCH, PgVectors  # noqa: E402
from indexer.vectors import FaissVectors  # noqa: E402
from tests.postgres import Cluster  # noqa: E402

CACHE = ROOT / "bench" / "results" / "cache" / "pg-vectors-100000-seed0.npz"


def timed_searches(store, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    took, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = store.search(q, k)
        took.append(time.perf_counter() - t)
        found.append(ids[0])
    return took, np.array(found)


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", type=Path, default=CACHE)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pgvector.json")
    args = ap.parse_args()
    if not args.vectors.is_file():
        sys.exit(f"no vector cache {args.vectors}: run `bench/bench_pg.py --vectors-only` first")
    vecs = np.load(args.vectors)["vectors"].astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(vecs))
    queries, stored = vecs[order[:args.queries]], vecs[order[args.queries:]]
    ids = np.arange(len(stored), dtype=np.int64)
    load = os.getloadavg()[0]
    print(f"{len(stored):,} stored vectors of dim {vecs.shape[1]}, {len(queries)} queries; "
          f"{os.cpu_count()} cores, load {load:.2f}", flush=True)

    faiss = FaissVectors(vecs.shape[1])
    t = time.perf_counter()
    faiss.add(ids, stored)
    faiss_store_s = time.perf_counter() - t

    cluster = Cluster()
    try:
        url = cluster.new_database()
        import psycopg

        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION vector")
        except psycopg.Error as exc:
            sys.exit(f"this PostgreSQL has no vector extension (pgvector): {exc}")
        with tempfile.TemporaryDirectory() as folder:
            pg = PgVectors(vecs.shape[1], url, folder)
            t = time.perf_counter()
            for start in range(0, len(stored), 5000):  # as an import writes, in batches
                pg.add(ids[start:start + 5000], stored[start:start + 5000])
            pg_store_s = time.perf_counter() - t
            print(f"stored: faiss {faiss_store_s:.2f} s, pgvector {pg_store_s:.1f} s",
                  flush=True)
            runs = {"faiss": [], "pgvector": []}
            exact = recall = None
            for _ in range(args.runs):
                took, exact = timed_searches(faiss, queries, args.k)
                runs["faiss"].append(took)
                took, approx = timed_searches(pg, queries, args.k)
                runs["pgvector"].append(took)
                recall = float(np.mean([len(set(a) & set(e)) / args.k
                                        for a, e in zip(approx, exact, strict=True)]))
            pg.conn.close()
    finally:
        cluster.stop()

    result = {"stored": len(stored), "dim": int(vecs.shape[1]), "queries": len(queries),
              "k": args.k, "runs": args.runs, "cores": os.cpu_count(),
              "load_at_start": round(load, 2), "load_at_end": round(os.getloadavg()[0], 2),
              "hnsw_ef_search": EF_SEARCH, "recall_at_k": round(recall, 4),
              "store_seconds": {"faiss": round(faiss_store_s, 2),
                                "pgvector": round(pg_store_s, 1)}}
    for name, passes in runs.items():
        result[name] = {
            "p50_ms": round(statistics.median(pct(p, 50) for p in passes) * 1e3, 2),
            "p95_ms": round(statistics.median(pct(p, 95) for p in passes) * 1e3, 2)}
        print(f"{name}: search p50 {result[name]['p50_ms']} ms, p95 "
              f"{result[name]['p95_ms']} ms (medians of {args.runs} passes)")
    print(f"pgvector recall@{args.k} against exact: {recall:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
