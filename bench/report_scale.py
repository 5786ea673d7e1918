"""Write docs/benchmarks.md and its plots (docs/bench-*.png) from bench/results/scale-*.json.

Run by `make bench` and `make bench-1m` after bench/bench_scale.py; every number in the
document comes from those JSON files (medians over the runs of each size), and from
app.json, api_load*.json and pg.json (bench_app.py, bench_api.py, bench_pg.py) when they
are there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "docs"


def load(results: Path) -> list[dict]:
    """The runs in `results`; a cached-vector run also gets `real_model`, the import of
    the same size measured with the real model (results/real-model/), when there is one."""
    out = []
    for path in sorted(results.glob("scale-*.json")):
        r = json.loads(path.read_text("utf-8"))
        real = results / "real-model" / path.name
        if r.get("cached_vectors") and real.is_file():
            r["real_model"] = json.loads(real.read_text("utf-8"))
        out.append(r)
    return sorted(out, key=lambda r: r["size"])


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else \
        f"{n // 1000}k" if n >= 1000 else str(n)


def fmt(v, spec: str = "{:.0f}") -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    return spec.format(v)


def med(r: dict, key: str):
    return r["median"].get(key)


def nested_median(r: dict, getter) -> float | None:
    vals = [getter(run) for run in r["runs"]]
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def store_label(vi: dict) -> str:
    if vi.get("type") == "ivf":
        return f"IVF (nlist {vi['nlist']}, nprobe {vi['nprobe']})"
    return "exact (flat)"


def loads(r: dict) -> list[float]:
    out = []
    for run in r["runs"]:
        out += [run["loadavg_start"][0], run["loadavg_end"][0]]
    return out


def summary_table(rs: list[dict]) -> str:
    cols = [size_label(r["size"]) + (" ¹" if r["cached_vectors"] else "") for r in rs]
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---|" * len(rs)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("runs (medians of)", [str(len(r["runs"])) for r in rs])
    row("documents imported", [fmt(med(r, "rows")) for r in rs])
    row("distinct descriptions encoded", [fmt(med(r, "texts_encoded")) for r in rs])
    row("vector index served", [store_label(r["runs"][0]["vector_index"]) for r in rs])

    def imported(r: dict) -> str:
        if not r["cached_vectors"]:
            return f"**{fmt(med(r, 'import_rows_per_s'))}**"
        text = (f"{fmt(med(r, 'pipeline_rows_per_s_without_model'))} without the model; "
                f"≈{fmt(med(r, 'estimated_import_rows_per_s_with_model'))} with it ²")
        if "real_model" in r:
            text = f"**{fmt(med(r['real_model'], 'import_rows_per_s'))}** with the model ³; " + text
        return text

    row("**import, rows/s** (KB write + encode + FAISS + BM25 + save)",
        [imported(r) for r in rs])
    row("import wall time, s", [
        fmt(med(r, "import_s")) + (f" (with the model: {fmt(med(r['real_model'], 'import_s'))}"
                                   " ³)" if "real_model" in r else "") for r in rs])
    row("  of which KB write, s", [fmt(med(r, "import_kb_s")) for r in rs])
    row("  of which inside the model, s", [fmt(med(r, "import_model_s")) if not
                                            r["cached_vectors"] else "cache ¹" for r in rs])
    row("  of which exact → IVF switch (training), s",
        [fmt(med(r, "ann_switch_s"), "{:.1f}") for r in rs])
    row("bare model encode, rows/s (same run)", [fmt(med(r, "bare_encode_rows_per_s"))
                                                 for r in rs])

    def ratio(r: dict) -> str:
        if not r["cached_vectors"]:
            return f"**{fmt(med(r, 'pipeline_over_bare'), '{:.2f}')}**"
        text = "≈" + fmt(med(r, "estimated_import_rows_per_s_with_model")
                         / med(r, "bare_encode_rows_per_s"), "{:.2f}") + " ²"
        if "real_model" in r:
            text = f"**{fmt(med(r['real_model'], 'pipeline_over_bare'), '{:.2f}')}** ³; " + text
        return text

    row("**ratio import / bare model**", [ratio(r) for r in rs])
    row("**search p50 / p95, ms**", [f"**{fmt(med(r, 'search_p50_ms'))} / "
                                     f"{fmt(med(r, 'search_p95_ms'))}**" for r in rs])
    row("**triage p50 / p95, ms**", [f"**{fmt(med(r, 'triage_p50_ms'))} / "
                                     f"{fmt(med(r, 'triage_p95_ms'))}**" for r in rs])
    row("  query encode alone (model), p50 ms", [fmt(med(r, "query_encode_p50_ms"))
                                                 for r in rs])
    row("first triage (trains the classifiers), s", [fmt(med(r, "first_triage_s"), "{:.1f}")
                                                     for r in rs])
    row("**close → searchable p50 / p95, ms**",
        [f"**{fmt(med(r, 'close_to_searchable_ms_p50'))} / "
         f"{fmt(med(r, 'close_to_searchable_ms_p95'))}**" for r in rs])
    row("  resolve + close alone, p50 ms", [fmt(med(r, "close_ms_p50")) for r in rs])
    row("  found by the first search after closing",
        [f"{fmt(med(r, 'cases_found_on_first_search'))} of {fmt(med(r, 'cases'))}"
         for r in rs])

    def reindex(r: dict) -> str:
        if not r["cached_vectors"]:
            return f"**{fmt(med(r, 'reindex_s'))}**"
        model_s = med(r, "reindex_texts_encoded") / med(r, "bare_encode_rows_per_s")
        return (f"{fmt(med(r, 'reindex_s'))} without the model; "
                f"**≈{fmt(med(r, 'reindex_s') + model_s)}** with it ²")

    row("**reindex, s**", [reindex(r) for r in rs])
    row("**RSS per document, KB** (index + KB handles, fresh process)",
        [f"**{fmt(med(r, 'rss_per_doc_kb'), '{:.1f}')}**" for r in rs])
    row("  RSS growth when opening the data folder, MB",
        [fmt(nested_median(r, lambda x: x["open"]["rss_growth_mb"])) for r in rs])
    row("  open (load index + integrity check), s",
        [fmt(nested_median(r, lambda x: x["open"]["open_s"]), "{:.1f}") for r in rs])
    row("peak RSS of the benchmark process, MB", [fmt(med(r, "rss_mb_peak")) for r in rs])
    row("**index on disk, MB**", [f"**{fmt(med(r, 'index_mb'), '{:.0f}')}**" for r in rs])
    row("database on disk, MB", [fmt(med(r, "db_mb")) for r in rs])
    row("**recall@10, IVF (defaults) vs exact**",
        [f"**{fmt(nested_median(r, lambda x: x['ann']['recall_default']), '{:.3f}')}**"
         for r in rs])
    row("hybrid top-5 unchanged by IVF (served index)",
        [fmt(med(r, "ann_hybrid_top5_agreement"), "{:.3f}") for r in rs])
    row("load average (1 min), min–max over the runs",
        [f"{min(loads(r)):.1f}–{max(loads(r)):.1f}" for r in rs])
    return "\n".join(lines)


def ann_tables(rs: list[dict]) -> str:
    out = []
    for r in rs:
        ann = r["runs"][0]["ann"]
        out.append(f"**{size_label(r['size'])}** ({ann['n']} vectors, {ann['queries']} "
                   f"queries; IVF with {ann['nlist']} cells, built by {ann['built_by']}"
                   + (f" in {ann['build_s']:.1f} s" if ann.get("build_s") else "") + "; exact "
                   f"search {ann['exact_ms_per_query']:.2f} ms/query):\n")
        out.append("| nprobe | recall@10 | IVF ms/query |\n|---|---|---|")
        for s in ann["sweep"]:
            mark = " ← default" if s["nprobe"] == ann["nprobe_default"] else ""
            out.append(f"| {s['nprobe']}{mark} | {s['recall']:.3f} | {s['ms_per_query']:.2f} |")
        out.append("")
        if ann.get("nlist_study"):
            out.append(f"Other cell counts at {size_label(r['size'])}:\n")
            out.append("| nlist | build s | nprobe | recall@10 | ms/query |\n|---|---|---|---|---|")
            for s in ann["nlist_study"]:
                out.append(f"| {s['nlist']} | {s['build_s']:.0f} | {s['nprobe']} | "
                           f"{s['recall']:.3f} | {s['ms_per_query']:.2f} |")
            out.append("")
    return "\n".join(out)


def per_run_table(rs: list[dict]) -> str:
    keys = [("import_rows_per_s", "import rows/s", "{:.0f}"),
            ("bare_encode_rows_per_s", "bare rows/s", "{:.0f}"),
            ("search_p50_ms", "search p50", "{:.0f}"),
            ("triage_p50_ms", "triage p50", "{:.0f}"),
            ("close_to_searchable_ms_p50", "close→search p50", "{:.0f}"),
            ("reindex_s", "reindex s", "{:.0f}"),
            ("rss_per_doc_kb", "RSS/doc KB", "{:.1f}")]
    lines = ["| size | run | " + " | ".join(k[1] for k in keys) + " | load start → end |",
             "|---|---|" + "---|" * (len(keys) + 1)]
    for r in rs:
        for i, run in enumerate(r["runs"], 1):
            cells = [fmt(run.get(k), f) for k, _, f in keys]
            lines.append(f"| {size_label(r['size'])} | {i} | " + " | ".join(cells) +
                         f" | {run['loadavg_start'][0]:.1f} → {run['loadavg_end'][0]:.1f} |")
    return "\n".join(lines)


def plots(rs: list[dict], docs: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    sizes = [r["size"] for r in rs]
    labels = [size_label(n) for n in sizes]

    def save(fig, ax, ylabel: str, title: str, png: str) -> None:
        """A plot over the benchmark sizes: log size axis, labels, legend, saved."""
        ax.set_xscale("log")
        ax.set_xticks(sizes, labels)
        ax.set_xlabel("documents")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(docs / png, dpi=110)
        plt.close(fig)
        made.append(png)

    # latency
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for key, name, style in (("search", "search", "o-"), ("triage", "triage", "s-")):
        ax.plot(sizes, [med(r, f"{key}_p50_ms") for r in rs], style, label=f"{name} p50")
        ax.plot(sizes, [med(r, f"{key}_p95_ms") for r in rs], style, alpha=0.45,
                label=f"{name} p95")
    ax.plot(sizes, [med(r, "close_to_searchable_ms_p50") for r in rs], "^-",
            label="close → searchable p50")
    save(fig, ax, "ms", "Latency by knowledge-base size", "bench-latency.png")

    # throughput
    fig, ax = plt.subplots(figsize=(6.4, 4))
    imp = [med(r, "estimated_import_rows_per_s_with_model") if r["cached_vectors"]
           else med(r, "import_rows_per_s") for r in rs]
    ax.plot(sizes, imp, "o-", label="import, whole pipeline (1M: estimate ²)")
    ax.plot(sizes, [med(r, "bare_encode_rows_per_s") for r in rs], "s--",
            label="bare model encode")
    no_model = [(r["size"], med(r, "pipeline_rows_per_s_without_model")) for r in rs
                if r["cached_vectors"]]
    if no_model:
        ax.plot([s for s, _ in no_model], [v for _, v in no_model], "d",
                label="import without the model (1M, cached vectors)")
    ax.set_yscale("log")
    save(fig, ax, "rows/s", "Import throughput", "bench-throughput.png")

    # recall vs nprobe
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    for r in rs:
        sw = r["runs"][0]["ann"]["sweep"]
        a1.plot([s["nprobe"] for s in sw], [s["recall"] for s in sw], "o-",
                label=size_label(r["size"]))
        a2.plot([s["nprobe"] for s in sw], [s["ms_per_query"] for s in sw], "o-",
                label=f"IVF {size_label(r['size'])}")
        a2.axhline(r["runs"][0]["ann"]["exact_ms_per_query"], ls=":", lw=1,
                   color=a2.lines[-1].get_color(), label=f"exact {size_label(r['size'])}")
    a1.axhline(0.95, color="grey", ls="--", lw=1)
    for ax, title in ((a1, "recall@10 vs exact"), (a2, "vector search ms/query")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("nprobe (cells scanned)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    a2.set_yscale("log")
    fig.tight_layout()
    fig.savefig(docs / "bench-ann.png", dpi=110)
    plt.close(fig)
    made.append("bench-ann.png")

    # memory and disk
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(sizes, [med(r, "rss_per_doc_kb") for r in rs], "o-", label="RSS per document, KB")
    ax.plot(sizes, [med(r, "index_mb") * 1024 / r["size"] for r in rs], "s-",
            label="index on disk per document, KB")
    ax.plot(sizes, [med(r, "db_mb") * 1024 / r["size"] for r in rs], "^-",
            label="database per document, KB")
    save(fig, ax, "KB per document", "Memory and disk per document", "bench-memory.png")
    return made


def cache_note(rs: list[dict]) -> str:
    meta_path = RESULTS / "cache" / "meta.json"
    if not any(r["cached_vectors"] for r in rs) or not meta_path.is_file():
        return ""
    m = json.loads(meta_path.read_text("utf-8"))
    v = m.get("validation", {})
    return (f"The cache holds {m['n']:,} document vectors composed from {m['pieces']:,} "
            f"distinct pieces (real descriptions, clauses, device leads) encoded once by "
            f"{m['model']}"
            + (f" in {m['encode_s'] / 60:.0f} min ({m['encode_rows_per_s']:.0f} pieces/s)"
               if m.get("encode_s") else "") + ". "
            f"Against the real model's vector of the full text of {v.get('documents')} random "
            f"synthetic documents, the composed vector has cosine {v.get('cosine_mean')} on "
            f"average (median {v.get('cosine_median')}, 5th percentile {v.get('cosine_p5')}).")


def real_model_notes(rs: list[dict]) -> list[str]:
    """Footnote ³: the import at a cached size, measured with the real model."""
    out = []
    for r in rs:
        if "real_model" not in r:
            continue
        m = r["real_model"]
        run = m["runs"][0]
        out.append(
            f"³ The import alone at {size_label(r['size'])}, measured with the real model "
            f"(`bench/bench_scale.py --sizes {r['size']} --import-only --out-dir "
            f"bench/results/real-model`, finished {m['at'][:16].replace('T', ' ')} UTC, "
            f"load average {run['loadavg_start'][0]:.1f} at the start): "
            f"{fmt(med(m, 'rows'))} rows in "
            f"{med(m, 'import_s') / 60:.0f} min, {fmt(med(m, 'import_rows_per_s'))} rows/s, "
            f"{fmt(med(m, 'texts_encoded'))} distinct descriptions encoded, "
            f"{med(m, 'import_model_s') / 60:.0f} min of it inside the model; the bare model "
            f"encoded {fmt(med(m, 'bare_encode_rows_per_s'))} rows/s in the same run.")
    return out


def estimate_check(rs: list[dict]) -> str:
    """The estimate of footnote ² made at a size also measured with the real model
    (`make bench-1m` runs 100k with the cache into bench/results/cache-check/)."""
    real = {r["size"]: r for r in rs if not r["cached_vectors"]}
    for c in load(RESULTS / "cache-check"):
        r = real.get(c["size"])
        if r is None:
            continue
        model_s = med(c, "reindex_texts_encoded") / med(c, "bare_encode_rows_per_s")
        return (f" Checked at {size_label(c['size'])}, where the real model was measured too: "
                f"the same method estimates "
                f"{med(c, 'estimated_import_rows_per_s_with_model'):.0f} rows/s for the "
                f"import and {med(c, 'reindex_s') + model_s:.0f} s for reindex; measured "
                f"with the model, {med(r, 'import_rows_per_s'):.0f} rows/s and "
                f"{med(r, 'reindex_s'):.0f} s.")
    return ""


def threshold_note(rs: list[dict]) -> str:
    pts = [(r["size"], r["runs"][0]["ann"]["exact_ms_per_query"]) for r in rs]
    text = ", ".join(f"{e:.1f} ms at {size_label(n)}" for n, e in pts)
    below = [(n, e) for n, e in pts if n <= 200_000]
    if below:
        n, e = below[-1]
        at = e * 200_000 / n
        r = next(x for x in rs if x["size"] == n)
        text += (f" (one query, one thread, this machine). It grows linearly with N: about "
                 f"{at:.0f} ms at the 200k threshold, next to {med(r, 'query_encode_p50_ms'):.0f} "
                 f"ms for encoding the query and a search p50 of "
                 f"{med(r, 'search_p50_ms'):.0f} ms at {size_label(n)}")
    return text


def nprobe_note(rs: list[dict]) -> str:
    """The smallest nprobe reaching recall 0.95 at each size, from the sweeps."""
    out = []
    for r in rs:
        ann = r["runs"][0]["ann"]
        ok = [s["nprobe"] for s in ann["sweep"] if s["recall"] >= 0.95]
        out.append(f"{min(ok) if ok else '>' + str(ann['sweep'][-1]['nprobe'])} at "
                   f"{size_label(r['size'])} ({ann['nlist']} cells)")
    return ", ".join(out)


def write(rs: list[dict], docs: Path) -> Path:
    docs.mkdir(parents=True, exist_ok=True)
    pngs = plots(rs, docs)
    m = rs[-1]["machine"]
    high = max(max(loads(r)) for r in rs)
    cores = m["cpu_count"] or 1
    dates = sorted({r["at"][:16].replace("T", " ") for r in rs})
    cached = [r for r in rs if r["cached_vectors"]]
    parts = [
        "# Benchmarks: KnownFix from 10k to 1M documents",
        "",
        "Generated by `bench/report_scale.py` from `bench/results/scale-*.json`, which "
        "`make bench` (10k and 100k documents) and `make bench-1m` (1M) write. What each "
        "number is and how it is taken: the docstring of `bench/bench_scale.py`; the "
        "corpus: `bench/corpus.py`.",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['ram_gb']} GB RAM, "
        f"Python {m['python']} ({m['platform']}). Runs: {', '.join(dates)} UTC; "
        f"commit {rs[-1]['commit']}.",
        "",
    ]
    low = min(min(loads(r)) for r in rs)
    if high > cores + 1:  # the benchmark itself keeps about `cores` threads busy
        parts += [
            f"> **The machine was loaded.** It was shared with other jobs (test suites, other "
            f"benchmarks) while some of these ran: the 1-minute load average was "
            f"{low:.1f}–{high:.1f} on {cores} cores (per size in the table below, per run at "
            "the end). Everything that uses the CPU — encoding above all, and single-query "
            "latencies — is slower than on an idle machine, so those numbers are "
            "pessimistic; the ratios (import / bare model, IVF / exact) were measured in "
            "the same runs and hold better.",
            "",
        ]
    else:
        parts += [
            f"Load: the 1-minute load average was {low:.1f}–{high:.1f} during the runs on "
            f"{cores} cores, about what the benchmark itself makes (the model encodes on "
            "every core); the machine had no other significant work then.",
            "",
        ]
    corpus = rs[-1]["corpus"]
    parts += [
        "## Corpus",
        "",
        f"The {corpus['real_documents']:,} real repair records with a description (Open "
        "Repair Alliance, CC BY-SA 4.0; "
        f"{corpus['held_out_queries']} more are held out as queries and never imported), "
        f"then synthetic documents recombined from their {corpus['clauses']:,} clauses in "
        f"{corpus['clause_pools']} (category, provider) pools, seed {corpus['seed']} "
        "(`bench/corpus.py`). 10k = real records only; 100k = 76.6k real + 23.4k "
        "synthetic; 1M = 76.6k real + 923k synthetic. Import maps `problem` → text, "
        "`product_category` → label `category`, `repair_status` → label `status`.",
        "",
        "## Results (medians)",
        "",
        summary_table(rs),
        "",
    ]
    notes = []
    if cached:
        notes.append(
            "¹ **1M: how it was measured.** Encoding a million texts with MiniLM on these "
            "2 shared cores takes many hours, so the 1M point runs the whole pipeline — KB "
            "import, FAISS, BM25, the exact→IVF switch, saves, search, triage, case "
            "workflow, reindex — with the model's output for the corpus documents read "
            "from a cache computed once with the real model (`bench/vector_cache.py`): real "
            "records get exactly the model's vector; a synthetic document gets the "
            "normalised, word-weighted sum of the model's vectors of its clauses and its "
            "device lead. " + cache_note(rs) + " Queries, the recall query set's held-out "
            "records, and the cases opened in the benchmark are encoded by the real model. "
            "Search, triage, close→searchable, memory, disk and recall are therefore real "
            "measurements at 1M; the model's time is taken out of import and reindex only.")
        notes.append(
            "² Import at 1M with the model = 1 / (pipeline seconds per row without the model "
            "+ distinct descriptions per row / bare model rows/s), both measured in the "
            "same run; reindex with the model = reindex seconds without it + distinct "
            "descriptions / bare model rows/s." + estimate_check(rs))
        notes += real_model_notes(rs)
    parts += [*notes, ""] if notes else []
    parts += [
        "## Approximate vector search (FAISS IVF)",
        "",
        "Below `ann_threshold` (default 200,000 records) the index searches exactly "
        "(IndexFlatIP); from there on it is an IndexIVFFlat with about √N cells "
        "(`ann_nlist` 0 = automatic) of which `ann_nprobe` (default 32) are scanned per "
        "query. The switch is made at the end of a sync or rebuild, re-training from the "
        "stored vectors; below 80% of the threshold the index goes back to exact. Why IVF "
        "and not HNSW: `indexer/vectors.py`. recall@10 is the share of the exact top-10 "
        "(same vectors, inner product) that the IVF search returns, with a result tied "
        "with the exact 10th score counting as found (repeated descriptions), over 1,000 "
        "queries: the 200 held-out real records plus the 800 documents that follow the "
        "corpus (never imported).",
        "",
        ann_tables(rs),
        "**Why these defaults.** Exact vector search costs a scan of every vector per "
        f"query: {threshold_note(rs)}. Up to the threshold exact search is affordable, "
        "with perfect recall and nothing to train or re-train; past it the scan would "
        "become the largest part of a search, while IVF stays around a millisecond. At "
        "the switch IVF is trained from the stored vectors (the training time is in the "
        "table). The smallest nprobe with "
        f"recall@10 ≥ 0.95 was {nprobe_note(rs)}; the default 32 keeps a margin at every "
        "size (recall grows with nprobe and the IVF latency stays a few ms).",
        "",
        "## Plots",
        "",
    ]
    captions = {"bench-latency.png": "Search, triage and close→searchable latency",
                "bench-throughput.png": "Import throughput and the bare model",
                "bench-ann.png": "IVF recall@10 and latency by nprobe (dotted: exact)",
                "bench-memory.png": "Memory and disk per document"}
    for png in pngs:
        parts += [f"![{captions[png]}]({png})", ""]
    parts += [
        "## Changing the embedding model without downtime",
        "",
        "`knownfix reindex --model NAME` (or `service.migrate.ModelMigration(settings, "
        "NAME).start(engine)` inside a running service) builds the new model's index in its "
        "own folder while search answers from the current one, checkpoints its progress "
        "(resumable after an interruption or a kill), and switches `model` and "
        "`index_name` together with one `os.replace` of `settings.json`. Its cost is a "
        "reindex with the new model (row *reindex* above). Tested in "
        "`tests/indexer/test_migrate.py`.",
        "",
        *app_section(docs.parent / "bench" / "results" / "app.json"),
        *api_section(docs.parent / "bench" / "results"),
        *pg_section(docs.parent / "bench" / "results" / "pg.json"),
        "## Every run",
        "",
        per_run_table(rs),
        "",
    ]
    out = docs / "benchmarks.md"
    out.write_text("\n".join(parts), "utf-8")
    return out


def app_section(path: Path) -> list[str]:
    """The app in a real browser (bench/bench_app.py), when it has been run: medians per
    load (idle, and with a second process triaging), the ratio and the target."""
    if not path.exists():
        return []
    from bench_app import table

    a = json.loads(path.read_text("utf-8"))
    runs = [r for load in a["runs"].values() for r in load]
    load = [x for r in runs for x in (r["loadavg_start"], r["loadavg_end"])]
    first = next(iter(a["loads"].values()))
    return [
        "## The app, in a real browser",
        "",
        f"`bench/bench_app.py` (commit {a['commit']}): `knownfix serve` — what `make run` "
        f"starts — on the demo knowledge base plus {a['data']['records']:,} imported repair "
        "records, driven by headless Chromium; medians of "
        f"{first['runs']} runs per load after one that warms the machine (busy: a second "
        "process triaging in a loop), load average "
        f"{min(load):.1f}–{max(load):.1f}; start-up median "
        f"{first['server_start_s_median']:.1f} s, a first sign-in drawn (model, index and "
        f"classifiers loaded) {first['ready_s_median']:.1f} s after starting; the pages "
        "are measured after that.",
        "",
        table(a["loads"]),
        "",
    ]


def pg_section(path: Path) -> list[str]:
    """PostgreSQL next to SQLite and the API on two servers (bench/bench_pg.py), when it
    has been run to the end."""
    if not path.exists():
        return []
    from bench_pg import section

    result = json.loads(path.read_text("utf-8"))
    return section(result) if result.get("complete") else []


def api_section(results: Path) -> list[str]:
    """The HTTP API under load (bench/bench_api.py), when it has been run: api_load.json,
    and beside it the same load with a setting changed (api_load-*.json, --setting)."""
    path = results / "api_load.json"
    if not path.exists():
        return []
    from bench_api import PHASE_TITLES, answered_per, notes, table

    a = json.loads(path.read_text("utf-8"))
    variants = [json.loads(v.read_text("utf-8")) for v in sorted(results.glob("api_load-*.json"))]
    clients = a["args"]["clients"]
    parts = ["## The HTTP API under load", "", api_intro(a), "", api_load_note(a, variants), ""]
    for phase, body in a["phases"].items():
        parts += [f"### {PHASE_TITLES[phase]}", "", table(body["median"]), "",
                  notes(body["median"], clients), "", answered(a, body["runs"], answered_per), ""]
    for v in variants:
        pinned = ", ".join(f"`{k}={x}`" for k, x in v["data"]["settings"].items())
        body = v["phases"]["idle"]
        parts += [f"### {PHASE_TITLES['idle']}, with {pinned}", "",
                  f"The same benchmark with {pinned} saved in the data folder (commit "
                  f"{v['commit']}, {v.get('at', '?')[:16].replace('T', ' ')} UTC, "
                  f"{len(body['runs'])} runs):", "", table(body["median"]), "",
                  notes(body["median"], clients), "", answered(v, body["runs"], answered_per),
                  ""]
    return [*parts, *api_findings(a, variants), ""]


def api_intro(a: dict) -> str:
    args, m = a["args"], a["machine"]
    both = "; runs with the app in use alternated with runs without it" \
        if len(a["phases"]) > 1 else ""
    return (
        f"`bench/bench_api.py` (commit {a['commit']}, {a.get('at', '?')[:16].replace('T', ' ')} "
        "UTC): `knownfix api` (uvicorn, one worker) on the demo knowledge base plus "
        f"{imported(a)} real repair records (`--records {a['data']['import_rows']}`, the rows "
        f"with a description), {args['clients']} clients for "
        f"{args['seconds']:.0f} s, each with its own keep-alive connection and token "
        "(agents and engineers in turn), alternating a triage (Chinese and English in turn) "
        "with the next step of one of its own cases: opened with an `Idempotency-Key`, then "
        "every action with `If-Match` (each step: `bench/README.md`). Medians of "
        f"{args['runs']} runs per phase{both}. Machine: {m['cpu_model']}, {m['cpu_count']} "
        f"cores, {m['ram_gb']} GB RAM.")


def imported(a: dict) -> int:
    return a["data"]["import_rows"] - a["data"]["import_rows_empty_problem"]


def api_load_note(a: dict, variants: list[dict]) -> str:
    runs = [r for x in (a, *variants) for b in x["phases"].values() for r in b["runs"]]
    ones = [r[k][0] for r in runs for k in ("loadavg_start", "loadavg_end")]
    cores = a["machine"]["cpu_count"] or 1
    span = f"{min(ones):.1f}–{max(ones):.1f}"
    if max(ones) <= cores + 1:
        return (f"Load: the 1-minute load average was {span} at the starts and ends of the "
                f"runs, on {cores} cores: the benchmark's own work; nothing else ran.")
    return (f"> **The machine was shared and busy.** The 1-minute load average was {span} at "
            f"the starts and ends of the runs, on {cores} cores, with other work (test "
            "suites, other benchmarks) running beside these benchmarks. Every latency here is "
            "longer, and every rate lower, than on an idle machine; comparisons made inside "
            "one run (the server's own time against the clients', the model alone against "
            "triage) and between phases run in turn hold better than the absolute numbers.")


def answered(a: dict, runs: list[dict], per) -> str:
    rows = "; ".join(", ".join(map(str, per(r["load"]["samples"]))) for r in runs)
    return (f"Requests answered in each 10 s, run by run (after {a['args']['seconds']:.0f} s: "
            f"the requests still under way at the end): {rows}.")


def api_findings(a: dict, variants: list[dict]) -> list[str]:
    """What the figures show, with the figures."""
    idle = a["phases"]["idle"]["median"]
    ops, clients = idle["ops"], a["args"]["clients"]
    runs = [r for x in (a, *variants) for b in x["phases"].values() for r in b["runs"]]
    sent = sum(r["load"]["ops"]["all"]["requests"] for r in runs)
    errors = sum(sum(r["load"]["ops"]["all"]["errors"].values()) for r in runs)
    checked = sum(r["verify"]["cases_checked"] for r in runs)
    lost = sum(len(r["verify"]["mismatched"]) for r in runs)
    enc = idle["encode_p50_ms"]
    out = [
        "### What it shows",
        "",
        f"- **Correct under load.** {sent} requests in {len(runs)} runs, {errors} errors: no "
        "5xx, no 409 or 412 (each client changes only its own cases, with the ETag of its "
        "last answer), every repeated `Idempotency-Key` replayed the first answer, and of the "
        f"{checked} cases read back afterwards {lost} were not at the version and state their "
        "client last saw: no write was lost.",
    ]
    out += retrain_finding(a, variants)
    out.append(
        f"- **One lock.** Alone, a triage takes {idle['baseline_triage_p50_ms']:.0f} ms "
        f"through the API, {idle['baseline_triage_p50_ms'] / enc:.1f} × the bundled model "
        f"encoding the text alone ({enc:.0f} ms, in a worker thread as the API's handlers "
        f"run). With {clients} clients the server's own work on a triage stays at "
        f"{idle['triage_server_p50_ms']:.0f} ms (p50; {idle['triage_server_encode_p50_ms']:.0f} "
        f"of it encoding) but the clients wait {ops['triage']['p50_ms']:.0f} ms: triage, "
        "opening a case (its triage, the duplicate and recurrence checks, the index update) "
        "and every action that changes a case (the index is brought up to date after the "
        "write) take the engine's lock one at a time. What does not take it answers in "
        f"milliseconds: a PATCH of intake fields {ops['update']['p50_ms']:.0f} ms, a link "
        f"{ops['link']['p50_ms']:.0f} ms, a replayed open {ops['open (retry)']['p50_ms']:.0f} ms.")
    out += app_finding(a)
    out.append(
        f"- The model alone in this process's main thread took "
        f"{idle['encode_main_thread_p50_ms']:.0f} ms a text, against {enc:.0f} ms in a worker "
        "thread, on the same busy machine (why is not established here). The API encodes in "
        "worker threads; `knownfix triage` and `bench_import_triage.py`'s encode figure run "
        "in the main thread.")
    return out


def retrain_finding(a: dict, variants: list[dict]) -> list[str]:
    idle = a["phases"]["idle"]["median"]
    bg = next((v["phases"]["idle"]["median"] for v in variants
               if v["data"]["settings"].get("sync_retrain_max") == "0"), None)
    slow = idle.get("triage_server_slow")
    if not slow:
        return []
    text = (
        "- **A resolve that confirms labels stops the API for seconds to tens of seconds.** "
        f"The knowledge base here (the demo and {imported(a)} labelled repair records) "
        "is below `sync_retrain_max` (5000 labelled records), so the first triage after such "
        "a resolve retrains the classifiers inside the request, holding the engine's lock, "
        f"while every other triage, case opening and case action waits: {slow:.0f} such "
        f"triages a run, median {idle['triage_server_slow_median_ms'] / 1e3:.1f} s each. "
        "While cases keep being resolved, triage after triage finds the labels changed "
        "again and retrains, so after the first such resolve the API answers a handful of "
        "requests until the load stops (the rows above); "
        f"resolve p50 {idle['ops']['resolve']['p50_ms'] / 1e3:.0f} s, and "
        f"{idle['ops'].get('close', {}).get('requests', 0):.0f} cases a run reach close.")
    if bg:
        text += (
            " With `sync_retrain_max=0` (the classifiers retrain in the background while the "
            "previous ones answer, as above 5000 records; the nearest-neighbour vote counts "
            f"a new case at once either way) the same load ran at {bg['ops']['all']['rps']:.1f} "
            f"requests/s instead of {idle['ops']['all']['rps']:.1f}, p95 "
            f"{bg['ops']['all']['p95_ms'] / 1e3:.1f} s instead of "
            f"{idle['ops']['all']['p95_ms'] / 1e3:.1f} s, and "
            f"{bg['ops'].get('close', {}).get('requests', 0):.0f} cases a run reached close.")
    return [text]


def app_finding(a: dict) -> list[str]:
    if "app" not in a["phases"]:
        return []
    busy, idle = a["phases"]["app"]["median"], a["phases"]["idle"]["median"]
    app = busy["app"]
    return [
        f"- **The app in use at the same time** ({app['sessions_in_window']:.0f} sessions a "
        "run inside the load): a new case's triage was drawn "
        f"{app['triage_ms_p50'] / 1e3:.1f} s after submitting (p50; p95 "
        f"{app['triage_ms_p95'] / 1e3:.1f} s), signing in took "
        f"{app['sign_in_s_median']:.1f} s (the app on its own: the section above). The app "
        "is its own process with its own engine, but reads the same database: the API's "
        "resolves make the app's next triage retrain too. The API answered "
        f"{busy['ops']['all']['rps']:.1f} requests/s (alone: {idle['ops']['all']['rps']:.1f}), "
        f"triage p50 {busy['ops']['triage']['p50_ms']:.0f} ms "
        f"(alone: {idle['ops']['triage']['p50_ms']:.0f})."]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--docs", default=str(DOCS))
    args = p.parse_args()
    rs = load(Path(args.results))
    if not rs:
        print(f"no scale-*.json in {args.results}: run bench/bench_scale.py first",
              file=sys.stderr)
        return 1
    print(f"wrote {write(rs, Path(args.docs))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
