"""Benchmark: KnownFix at 10k, 100k and 1M documents.

Corpus: bench/corpus.py (the 76,560 real Open Repair Alliance records, then synthetic
documents recombined from their sentences; seeded).  Queries: 200 held-out real records
that are never imported.

Each run is a fresh Python process with a fresh data folder and the default settings
(bundled MiniLM, FAISS; exact vector search below ann_threshold, IVF above).  It measures:

  import      Engine.import_file on the corpus CSV: rows/s over the whole call (KB write,
              encoding, FAISS, BM25, save), split into the KB write and the indexing, and
              the time spent inside the model; "texts encoded" counts distinct
              descriptions (repeats share one encoding).
  bare model  the same encoder on a random sample of the corpus texts (half just before,
              half just after the import), rows/s; ratio = import rows/s / bare rows/s.
  search      Engine.search(query) p50/p95 over the held-out queries (after 3 warm-ups).
  triage      the first Engine.triage (which trains the classifiers) alone, then p50/p95.
  ANN         recall@10 of an IVF index (default settings) against exact search on the
              same stored vectors, for 1,000 queries (the 200 held-out records and the 800
              documents that follow the corpus, never imported), nprobe swept; vector
              search latency exact vs IVF.  At 1M the index the engine built is the IVF one.
  reindex     Engine.reindex (rebuild from the database).
  close->searchable
              20 cases opened (with triage) through the case service, then each one
              resolved + closed and searched for with its own description until it is in
              the results: time from the resolve call to the first search that finds it.
  memory      RSS per document: a fresh process loads the model, then opens the data
              folder (Engine) and runs one search; (RSS after - RSS before) / documents.
              Also the time that open takes, the index folder and the database sizes.

The 1M point (--sizes 1000000 --cached-vectors) runs the same pipeline, but the model
output for the corpus documents comes from bench/vector_cache.py (computed once with the
real model; real records exactly, synthetic documents composed from their encoded
clauses).  Its import rows/s is therefore the pipeline *without* the model; the report
gives the end-to-end estimate 1 / (1/pipeline + 1/bare model), with the bare model
measured in the same run.  Queries and cases are encoded by the real model.

Usage (from the repo root):
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_scale.py                 # 10k + 100k
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_scale.py --sizes 1000000 --cached-vectors
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_scale.py --sizes 2000 --runs 1   # smoke
Results: bench/results/scale-<size>.json; bench/report_scale.py turns them into
docs/benchmarks.md and docs/bench-*.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_import_triage import folder_mb, git_commit, machine, percentile  # noqa: E402
from corpus import DEFAULT_DATA, Corpus  # noqa: E402

RESULTS = REPO / "bench" / "results"
RECALL_EXTRA = 800  # documents after the corpus used as extra ANN queries
NPROBES = [1, 2, 4, 8, 16, 32, 64, 128]
CASES = 20


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class Timed:
    """Wraps an encoder: counts texts and time spent in encode."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts, self.seconds = 0, 0.0

    def encode(self, texts, batch_size=64, progress=False):
        t = time.perf_counter()
        out = self.inner.encode(texts, batch_size)
        self.seconds += time.perf_counter() - t
        self.texts += len(texts)
        return out

    def expect_dim(self, dim: int) -> None:
        self.inner.expect_dim(dim)


# -- one run (child process) ------------------------------------------------------------------
def one_run(args: argparse.Namespace) -> dict:
    import numpy as np

    from indexer.encoder import make_encoder
    from indexer.vectors import AnnParams, FaissVectors, IvfVectors
    from kb.importer import ColumnMapping
    from service.auth import SYSTEM
    from service.cases import Cases
    from service.engine import Engine
    from settings import load_settings

    work, size = Path(args.work), args.size
    queries = json.loads((work / "queries.json").read_text("utf-8"))
    extra = json.loads((work / f"extra-{size}.json").read_text("utf-8"))
    data_dir = Path(tempfile.mkdtemp(prefix=f"kf_scale_{size}_", dir=args.tmp))
    out: dict = {"size": size, "loadavg_start": os.getloadavg()}
    try:
        settings = load_settings(str(data_dir))
        out["model"] = settings.model
        t = time.perf_counter()
        model = make_encoder(settings.model)
        out["model_load_s"] = time.perf_counter() - t
        model.encode([q["text"] for q in queries[:64]], settings.encode_batch_size)
        if args.cached_vectors:
            from vector_cache import CachedEncoder

            t = time.perf_counter()
            inner = CachedEncoder(model, Corpus(args.data, args.seed), size + RECALL_EXTRA)
            out["cache_load_s"] = time.perf_counter() - t
        else:
            inner = model
        encoder = Timed(inner)
        with open(work / f"corpus-{size}.csv", encoding="utf-8", newline="") as fh:
            texts = [r["problem"] for r in csv.DictReader(fh)]
        sample = random.Random(args.seed).sample(texts, min(args.encode_sample, len(texts)))
        del texts
        halves = (sample[:len(sample) // 2], sample[len(sample) // 2:])
        t = time.perf_counter()
        model.encode(halves[0], settings.encode_batch_size)
        bare = [time.perf_counter() - t]

        # -- import -------------------------------------------------------------------------
        engine = Engine(settings, encoder=encoder)
        fit_s = [0.0]
        real_fit = engine._index.fit_vectors

        def timed_fit() -> bool:
            t0 = time.perf_counter()
            changed = real_fit()
            fit_s[0] += time.perf_counter() - t0
            return changed

        engine._index.fit_vectors = timed_fit
        marks: dict[str, float] = {}
        mapping = ColumnMapping(text=["problem"], labels={"category": "product_category",
                                                          "status": "repair_status"}, id="id")
        rss0 = rss_mb()
        t0 = time.perf_counter()
        report = engine.import_file(work / f"corpus-{size}.csv", mapping,
                                    progress=lambda n: marks.__setitem__("kb", time.perf_counter()))
        total = time.perf_counter() - t0
        kb_s = marks.get("kb", t0) - t0
        t = time.perf_counter()
        model.encode(halves[1], settings.encode_batch_size)
        bare.append(time.perf_counter() - t)
        bare_rate = len(sample) / sum(bare)
        out.update({
            "rows": report.taken, "rejected": len(report.rejected), "import_s": total,
            "import_rows_per_s": report.taken / total, "import_kb_s": kb_s,
            "import_index_s": total - kb_s, "import_model_s": encoder.seconds,
            "texts_encoded": encoder.texts, "ann_switch_s": fit_s[0],
            "vector_index": engine._index.vectors.describe(),
            "bare_encode_n": len(sample), "bare_encode_rows_per_s": bare_rate,
            "pipeline_over_bare": report.taken / total / bare_rate,
            "rss_mb_after_import": rss_mb(), "rss_mb_import_growth": rss_mb() - rss0,
            "index_mb": folder_mb(settings.index_dir),
            "db_mb": sum(p.stat().st_size for p in data_dir.glob("knownfix.db*")) / 2**20,
        })
        if args.cached_vectors:
            out["cache_hits"], out["cache_misses"] = inner.hits, inner.misses
            # pipeline without the model, then the end-to-end estimate with it
            out["pipeline_rows_per_s_without_model"] = report.taken / (total - encoder.seconds)
            out["estimated_import_rows_per_s_with_model"] = 1.0 / (
                (total - encoder.seconds) / report.taken + encoder.texts / report.taken
                / bare_rate)
        print(f"[{size}] imported {report.taken} rows in {total:.0f}s", file=sys.stderr,
              flush=True)
        if args.import_only:  # the real model at 1M: an hour for the import alone
            engine.close()
            return out

        # -- search and triage ----------------------------------------------------------------
        for q in queries[:3]:
            engine.search(q["text"])
        lat = []
        for q in queries:
            t = time.perf_counter()
            engine.search(q["text"])
            lat.append((time.perf_counter() - t) * 1e3)
        enc = []
        for q in queries:
            t = time.perf_counter()
            model.encode([q["text"]], settings.encode_batch_size)
            enc.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        engine.triage(queries[0]["text"])
        out["first_triage_s"] = time.perf_counter() - t
        tri = []
        for q in queries:
            t = time.perf_counter()
            engine.triage(q["text"])
            tri.append((time.perf_counter() - t) * 1e3)
        out.update({"queries": len(queries),
                    "search_p50_ms": percentile(lat, .5), "search_p95_ms": percentile(lat, .95),
                    "triage_p50_ms": percentile(tri, .5), "triage_p95_ms": percentile(tri, .95),
                    "query_encode_p50_ms": percentile(enc, .5),
                    "rss_mb_after_triage": rss_mb()})
        print(f"[{size}] search p50 {out['search_p50_ms']:.0f} ms, triage p50 "
              f"{out['triage_p50_ms']:.0f} ms", file=sys.stderr, flush=True)

        # -- ANN recall against exact on the stored vectors -----------------------------------
        qtexts = [q["text"] for q in queries]
        qv = np.vstack([model.encode(qtexts, settings.encode_batch_size),
                        encoder.encode(extra, settings.encode_batch_size)]).astype(np.float32)
        ids, vecs = engine._index.vectors.all()
        exact = FaissVectors(vecs.shape[1])
        exact.add(ids, vecs)
        del vecs
        out["ann"] = ann_study(engine._index.vectors, exact, ids, qv, args, np, AnnParams,
                               IvfVectors)
        out["ann_hybrid_top5_agreement"] = hybrid_agreement(engine._index, exact, qtexts, qv,
                                                            IvfVectors)
        del exact, ids
        print(f"[{size}] recall@10 at default nprobe: {out['ann']['recall_default']:.3f}",
              file=sys.stderr, flush=True)

        # -- reindex ---------------------------------------------------------------------------
        before = encoder.texts
        t = time.perf_counter()
        engine.reindex()
        out["reindex_s"] = time.perf_counter() - t
        out["reindex_texts_encoded"] = encoder.texts - before
        out["reindex_vector_index"] = engine._index.vectors.describe()
        print(f"[{size}] reindex {out['reindex_s']:.0f}s", file=sys.stderr, flush=True)

        # -- close -> searchable ----------------------------------------------------------------
        out.update(close_to_searchable(engine, Cases(engine), SYSTEM, queries, size))
        out["rss_mb_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["index_mb_after_reindex"] = folder_mb(settings.index_dir)
        engine.close()

        # -- memory per document and open time, in a fresh process -----------------------------
        probe = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe-open",
                                "--data-dir", str(data_dir), "--query", queries[0]["text"]],
                               capture_output=True, text=True, check=True)
        out["open"] = json.loads(probe.stdout.strip().splitlines()[-1])
        out["rss_per_doc_kb"] = out["open"]["rss_growth_mb"] * 1024 / report.taken
        out["loadavg_end"] = os.getloadavg()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def ann_study(store, exact, ids, qv, args, np, AnnParams, IvfVectors) -> dict:
    """recall@10 of IVF vs exact search on the same vectors, for several nprobe values."""
    params = AnnParams()
    res: dict = {"queries": len(qv), "n": len(ids)}
    if isinstance(store, IvfVectors):
        ivf = store
        res["built_by"] = "the engine (the index it serves)"
    else:
        _, vecs = exact.all()
        t = time.perf_counter()
        ivf = IvfVectors.build(ids, vecs, params)
        res["build_s"] = time.perf_counter() - t
        res["built_by"] = "this study (the engine serves exact search at this size)"
        del vecs
    res["nlist"] = ivf.nlist
    truth_s, truth = exact.search(qv, 10)
    res["exact_ms_per_query"] = timed_search(exact, qv[:200], np)
    sweep = []
    for nprobe in NPROBES:
        if nprobe > ivf.nlist:
            break
        ivf.tune(AnnParams(nprobe=nprobe))
        _, got = ivf.search(qv, 10)
        sweep.append({"nprobe": nprobe, "recall": recall(got, truth, truth_s, exact, qv, np),
                      "ms_per_query": timed_search(ivf, qv[:200], np)})
    ivf.tune(params)
    res["sweep"] = sweep
    res["nprobe_default"] = params.nprobe
    default = [s for s in sweep if s["nprobe"] == min(params.nprobe, ivf.nlist)]
    res["recall_default"] = default[0]["recall"] if default else None
    if args.nlist_study and len(ids) >= 500_000:
        res["nlist_study"] = nlist_study(ids, exact, qv, truth, truth_s, np, AnnParams,
                                         IvfVectors, ivf.nlist)
    return res


def nlist_study(ids, exact, qv, truth, truth_s, np, AnnParams, IvfVectors, done) -> list:
    """Other cell counts at this size: build time, recall and latency per nprobe."""
    _, vecs = exact.all()
    rows = []
    for nlist in (500, 2000):
        if nlist == done:
            continue
        t = time.perf_counter()
        ivf = IvfVectors.build(ids, vecs, AnnParams(nlist=nlist))
        build_s = time.perf_counter() - t
        for nprobe in (8, 16, 32, 64):
            ivf.tune(AnnParams(nlist=nlist, nprobe=nprobe))
            _, got = ivf.search(qv, 10)
            rows.append({"nlist": nlist, "nprobe": nprobe, "build_s": build_s,
                         "recall": recall(got, truth, truth_s, exact, qv, np),
                         "ms_per_query": timed_search(ivf, qv[:200], np)})
        del ivf
    return rows


def recall(got, truth, truth_s, exact, qv, np) -> float:
    """recall@10: share of the exact top 10 found; a result tied with the exact 10th
    score (identical descriptions) counts as found."""
    found = 0
    for row, (g, t, ts) in enumerate(zip(got, truth, truth_s, strict=True)):
        want = set(t.tolist())
        extra = [i for i in g.tolist() if i >= 0 and i not in want]
        hit = len(want & set(g.tolist()))
        if extra and hit < 10:
            sims = exact.get(np.array(extra, dtype=np.int64)) @ qv[row]
            hit += int((sims >= ts[-1] - 1e-6).sum())
        found += min(hit, 10)
    return found / (10 * len(got))


def timed_search(store, qv, np) -> float:
    t = time.perf_counter()
    for q in qv:
        store.search(q, 64)  # the pool Index.search asks for
    return (time.perf_counter() - t) * 1e3 / len(qv)


def hybrid_agreement(index, exact, texts, qv, IvfVectors) -> float | None:
    """Share of the top-5 hybrid results that stay the same when the index answers with
    exact vector search instead of IVF (only at sizes where it serves IVF)."""
    if not isinstance(index.vectors, IvfVectors):
        return None
    ivf = index.vectors
    same = 0
    for text, q in zip(texts, qv, strict=False):
        a = [h.key for h in index.search(text, 5, qvec=q)]
        index.vectors = exact
        b = [h.key for h in index.search(text, 5, qvec=q)]
        index.vectors = ivf
        same += len(set(a) & set(b)) / max(len(b), 1)
    return same / len(texts)


def close_to_searchable(engine, cases, actor, queries, size) -> dict:
    opened = []
    for i, q in enumerate(queries[:CASES]):
        text = f"{q['text']} (bench case {size}-{i})"
        opened.append((cases.open(actor, text).id, text))
    close_s, find_s, total_s, tries = [], [], [], []
    for case_id, text in opened:
        t0 = time.perf_counter()
        cases.resolve(actor, case_id, fix="replaced the faulty part (benchmark)")
        cases.close(actor, case_id)
        t1 = time.perf_counter()
        n = 0
        while True:
            n += 1
            found = [r.hit.key for r in engine.search(text, 10)]
            if f"case:{case_id}" in found or n >= 5:
                break
        t2 = time.perf_counter()
        close_s.append((t1 - t0) * 1e3)
        find_s.append((t2 - t1) * 1e3)
        total_s.append((t2 - t0) * 1e3)
        tries.append(n if f"case:{case_id}" in found else -1)
    return {"close_ms_p50": percentile(close_s, .5), "close_ms_p95": percentile(close_s, .95),
            "close_to_searchable_ms_p50": percentile(total_s, .5),
            "close_to_searchable_ms_p95": percentile(total_s, .95),
            "first_search_after_close_ms_p50": percentile(find_s, .5),
            "cases_found_on_first_search": sum(1 for n in tries if n == 1),
            "cases_not_found": sum(1 for n in tries if n < 0), "cases": len(tries)}


def probe_open(args: argparse.Namespace) -> dict:
    from indexer.encoder import make_encoder
    from service.engine import Engine
    from settings import load_settings

    settings = load_settings(args.data_dir)
    model = make_encoder(settings.model)
    model.encode(["warm up"])
    before = rss_mb()
    t = time.perf_counter()
    engine = Engine(settings, encoder=model)
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    engine.search(args.query)
    first = time.perf_counter() - t
    after = rss_mb()
    engine.kb.close()
    return {"open_s": open_s, "first_search_s": first, "rss_before_mb": before,
            "rss_after_mb": after, "rss_growth_mb": after - before, "records": len(engine._index)}


# -- parent -----------------------------------------------------------------------------------
def prepare(args: argparse.Namespace, work: Path, sizes: list[int]) -> dict:
    corpus = Corpus(args.data, args.seed)
    queries = [{"text": q["problem"], "category": q["product_category"],
                "status": q["repair_status"]} for q in corpus.queries]
    (work / "queries.json").write_text(json.dumps(queries, ensure_ascii=False), "utf-8")
    for size in sizes:
        path = work / f"corpus-{size}.csv"
        corpus.write_csv(path, size)
        after = [d["problem"] for d in corpus.documents(size + RECALL_EXTRA)][size:]
        (work / f"extra-{size}.json").write_text(json.dumps(after, ensure_ascii=False), "utf-8")
    return corpus.describe()


def medians(runs: list[dict]) -> dict:
    out = {}
    for k, v in runs[0].items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            vals = [r[k] for r in runs if isinstance(r.get(k), int | float)]
            out[k] = statistics.median(vals)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--runs", type=int, default=3, help="runs per size below 50k")
    p.add_argument("--runs-large", type=int, default=1, help="runs per size from 50k")
    p.add_argument("--cached-vectors", action="store_true",
                   help="corpus vectors from bench/vector_cache.py (the 1M point)")
    p.add_argument("--nlist-study", action="store_true", help="at >=500k: other nlist values")
    p.add_argument("--import-only", action="store_true",
                   help="measure the import (and the bare model beside it), nothing after")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encode-sample", type=int, default=2000)
    p.add_argument("--tmp", default=None)
    p.add_argument("--model", default=None, help="another model (smoke tests: hash:384)")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe-open", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--query", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.model:
        os.environ["KNOWNFIX_MODEL"] = args.model  # children inherit it
    if args.probe_open:
        print(json.dumps(probe_open(args)))
        return 0
    if args.scale_child:
        Path(args.result).write_text(json.dumps(one_run(args)), "utf-8")
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="kf_scale_work_", dir=args.tmp))
    started = time.perf_counter()
    try:
        corpus = prepare(args, work, sizes)
        print(f"corpus ready for {sizes} in {time.perf_counter() - started:.0f}s "
              f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        for size in sizes:
            runs = []
            n_runs = args.runs if size < 50_000 else args.runs_large
            for i in range(n_runs):
                res = work / f"run-{size}-{i}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--scale-child", "--size",
                       str(size), "--work", str(work), "--result", str(res), "--seed",
                       str(args.seed), "--data", args.data, "--encode-sample",
                       str(args.encode_sample)]
                cmd += ["--cached-vectors"] if args.cached_vectors else []
                cmd += ["--nlist-study"] if args.nlist_study else []
                cmd += ["--import-only"] if args.import_only else []
                cmd += ["--tmp", args.tmp] if args.tmp else []
                t = time.perf_counter()
                subprocess.run(cmd, check=True)
                runs.append(json.loads(res.read_text("utf-8")))
                print(f"size {size} run {i + 1}/{n_runs}: {time.perf_counter() - t:.0f}s",
                      file=sys.stderr, flush=True)
            result = {"benchmark": "scale", "size": size, "commit": git_commit(),
                      "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "machine": machine(), "corpus": corpus,
                      "cached_vectors": args.cached_vectors,
                      "config": {"runs": n_runs, "seed": args.seed,
                                 "encode_sample": args.encode_sample},
                      "median": medians(runs), "runs": runs}
            out = Path(args.out_dir) / f"scale-{size}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
            print(f"wrote {out}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
