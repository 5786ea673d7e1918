"""Embeddings for the 1M-document benchmark, computed once and cached.

Encoding 1,000,000 texts with MiniLM on 2 shared cores takes many hours, so the 1M point
of bench_scale.py does not call the model for its documents.  Instead, every *distinct
piece* of the corpus is encoded once with the real model, and each document's vector
is composed from its pieces:

- a real record (the first 76,560 documents): the model's vector of its description,
  exactly what the pipeline would compute;
- a synthetic document (bench/corpus.py: real clauses recombined, optionally led by
  "<item> <brand>"): the unit-normalised sum of the model's vectors of its clauses and its
  lead, each weighted by its number of words (MiniLM mean-pools its tokens, so the vector of
  a concatenation is close to this weighted mean).

`validate` encodes a sample of synthetic documents in full with the real model and
reports the cosine between the real and the composed vector (stored in the cache's
meta.json and quoted in docs/benchmarks.md).  Queries (held-out real records) and cases
opened during the benchmark are always encoded by the real model.

The cache lives in bench/results/cache/ (git-ignored): vectors.f16.npy (float16, one row
per document in corpus order) and meta.json.  Encoding is checkpointed per 20,000 pieces
(pieces-*.npy), so an interrupted build resumes.

Usage:  python bench/vector_cache.py --n 1000800      (documents to cover)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from corpus import DEFAULT_DATA, Corpus  # noqa: E402

CACHE = REPO / "bench" / "results" / "cache"
PART = 20_000


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


def _words(text: str) -> int:
    return max(1, len(text.split()))


def build(n: int, data: str, seed: int, model: str, batch: int, out: Path = CACHE) -> dict:
    from indexer.encoder import make_encoder

    out.mkdir(parents=True, exist_ok=True)
    try:
        meta = json.loads((out / "meta.json").read_text("utf-8"))
        if (meta["n"], meta["seed"], meta["model"]) == (n, seed, model):
            print(f"the vector cache in {out} is ready ({n} documents)", file=sys.stderr)
            return meta
    except (OSError, ValueError, KeyError):
        pass
    corpus = Corpus(data, seed)
    pieces: dict[str, int] = {}
    for doc in corpus.documents(n):
        for text in ([doc["problem"]] if not doc["id"].startswith("syn-")
                     else [*doc["parts"], *([doc["lead"]] if doc["lead"] else [])]):
            if text not in pieces:
                pieces[text] = len(pieces)
    texts = list(pieces)
    print(f"{len(texts)} distinct pieces to encode for {n} documents", file=sys.stderr)
    encoder = make_encoder(model)
    encoder.encode(texts[:64], batch)
    encode_s, encoded = 0.0, 0
    parts = []
    for p, start in enumerate(range(0, len(texts), PART)):
        path = out / f"pieces-{p:03d}.npy"
        if path.is_file():
            parts.append(np.load(path))
            continue
        chunk = texts[start:start + PART]
        t = time.perf_counter()
        vecs = encoder.encode(chunk, batch)
        encode_s += time.perf_counter() - t
        encoded += len(chunk)
        np.save(path, vecs.astype(np.float32))
        parts.append(vecs)
        print(f"  pieces {start + len(chunk)}/{len(texts)} "
              f"({encoded / encode_s:.0f}/s, load {os.getloadavg()[0]:.1f})",
              file=sys.stderr, flush=True)
    piece_vecs = np.concatenate(parts)
    assert len(piece_vecs) == len(texts)

    vectors = np.lib.format.open_memmap(out / "vectors.f16.npy", mode="w+", dtype=np.float16,
                                        shape=(n, encoder.dim))
    for row, doc in enumerate(corpus.documents(n)):
        if not doc["id"].startswith("syn-"):
            v = piece_vecs[pieces[doc["problem"]]]
        else:
            items = [*doc["parts"], *([doc["lead"]] if doc["lead"] else [])]
            w = np.array([_words(t) for t in items], dtype=np.float32)
            v = (piece_vecs[[pieces[t] for t in items]] * w[:, None]).sum(0)
            v /= np.linalg.norm(v)
        vectors[row] = v
    vectors.flush()
    meta = {"n": n, "seed": seed, "model": model, "dim": encoder.dim, "pieces": len(texts),
            "encoded_now": encoded, "encode_s": round(encode_s, 1),
            "encode_rows_per_s": round(encoded / encode_s, 1) if encode_s else None,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    meta["validation"] = validate(corpus, encoder, vectors, batch)
    (out / "meta.json").write_text(json.dumps(meta, indent=2), "utf-8")
    return meta


def validate(corpus: Corpus, encoder, vectors: np.ndarray, batch: int,
             sample: int = 1000) -> dict:
    """Cosine between the composed and the real vector of `sample` synthetic documents."""
    rng = np.random.default_rng(7)
    first_syn = len(corpus.real)
    pool = np.arange(first_syn, len(vectors))
    rows = np.sort(rng.choice(pool, min(sample, len(pool)), replace=False))
    sample = len(rows)
    want = set(rows.tolist())
    texts = {}
    for row, doc in enumerate(corpus.documents(int(rows[-1]) + 1)):
        if row in want:
            texts[row] = doc["problem"]
    real = encoder.encode([texts[r] for r in rows.tolist()], batch)
    composed = vectors[rows].astype(np.float32)
    cos = (real * composed).sum(1)
    return {"documents": sample, "cosine_mean": round(float(cos.mean()), 4),
            "cosine_p5": round(float(np.percentile(cos, 5)), 4),
            "cosine_median": round(float(np.median(cos)), 4)}


class CachedEncoder:
    """The benchmark's encoder at 1M: corpus texts come from the cache (looked up by
    digest); anything else (queries, new cases) goes to the real model.  Keeps count."""

    def __init__(self, model_encoder, corpus: Corpus, n: int, cache: Path = CACHE) -> None:
        meta = json.loads((cache / "meta.json").read_text("utf-8"))
        if meta["n"] < n or meta["seed"] != corpus.seed:
            raise SystemExit(f"the vector cache covers {meta['n']} documents (seed "
                             f"{meta['seed']}): rebuild it with bench/vector_cache.py --n {n}")
        self.model = model_encoder
        self.name, self.dim = model_encoder.name, model_encoder.dim
        self.vectors = np.load(cache / "vectors.f16.npy", mmap_mode="r")
        self.rows: dict[bytes, int] = {}
        for row, doc in enumerate(corpus.documents(n)):
            self.rows.setdefault(digest(doc["problem"]), row)
        self.hits = self.misses = 0
        self.model_s = 0.0

    def expect_dim(self, dim: int) -> None:
        self.model.expect_dim(dim)

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # misses: filled below
        miss = []
        for i, t in enumerate(texts):
            row = self.rows.get(digest(t))
            if row is None:
                miss.append(i)
            else:
                out[i] = self.vectors[row]
        out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)  # float16 -> unit
        if miss:
            t0 = time.perf_counter()
            out[miss] = self.model.encode([texts[i] for i in miss], batch_size)
            self.model_s += time.perf_counter() - t0
        self.hits += len(texts) - len(miss)
        self.misses += len(miss)
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_800)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="bundled:all-MiniLM-L6-v2")
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    print(json.dumps(build(args.n, args.data, args.seed, args.model, args.batch), indent=2))


if __name__ == "__main__":
    main()
