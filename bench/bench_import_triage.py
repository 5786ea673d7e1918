"""Benchmark: import throughput, triage latency, memory and index size on real data.

Data: the Open Repair Alliance records (ORDS CSVs, CC BY-SA 4.0, "Open Repair Alliance"),
read from --data (default ../shared/data/openrepair/records next to the repo).  Only this
benchmark reads them; the project itself never does.

What one run does, in a fresh temporary data folder and a fresh Python process:
  1. loads the embedding model (timed) and warms it up on a few texts;
  2. Engine.import_file on one combined CSV (id, problem, product_category,
     repair_status) -> rows/s over the whole call, which includes indexing; the KB
     write phase is timed apart from the index phase with the progress callback;
  3. the bare model's encode on a sample of the same texts (half just before the import,
     half just after, so both see the same machine) -> rows/s, and the ratio
     pipeline / bare;
  4. the first triage (which trains the classifiers) timed on its own, then triage
     latency p50/p95 over held-out queries (never imported), and the raw single-query
     encode p50 over the same queries;
  5. RSS (now and peak) and the size of the index folder and the database.

The parent process runs --runs such runs one after another and reports medians.
Usage (from the repo root):
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_import_triage.py --limit 3000 --runs 1
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_import_triage.py            # full, 3 runs
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "openrepair" / "records"
DEFAULT_OUT = REPO / "bench" / "results" / "import_triage.json"
COLUMNS = ["id", "problem", "product_category", "repair_status"]


# -- data preparation (parent process) ------------------------------------------------------
def read_records(data_dir: Path) -> list[dict[str, str]]:
    """Every row of every records CSV, in file order, reduced to COLUMNS."""
    files = sorted(glob.glob(str(data_dir / "*.csv")))
    if not files:
        raise SystemExit(f"no CSV files in {data_dir} (use --data)")
    rows: list[dict[str, str]] = []
    for name in files:
        with open(name, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({c: (row.get(c) or "") for c in COLUMNS})
    return rows


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Write the combined import CSV and the held-out queries; return a description."""
    rows = read_records(Path(args.data))
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    held: list[int] = []
    for i in order:
        if len(held) == args.queries:
            break
        if rows[i]["problem"].strip():
            held.append(i)
    held_set = set(held)
    rest = [i for i in order if i not in held_set]
    if args.limit:
        rest = rest[:args.limit]
    rest.sort()  # import in file order: the way a user would load these exports
    csv_path = work / "openrepair_combined.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, quoting=csv.QUOTE_ALL)
        w.writeheader()
        for i in rest:
            w.writerow(rows[i])
    queries = [{"text": rows[i]["problem"].strip(), "category": rows[i]["product_category"],
                "status": rows[i]["repair_status"]} for i in held]
    (work / "queries.json").write_text(json.dumps(queries, ensure_ascii=False), "utf-8")
    texts = [rows[i]["problem"].strip() for i in rest]
    empty = sum(1 for t in texts if not t)
    unique = len({t for t in texts if t})
    return {"source_rows": len(rows), "import_rows": len(rest),
            "import_rows_empty_problem": empty, "unique_problem_texts": unique,
            "unique_share": unique / max(len(texts) - empty, 1),
            "held_out_queries": len(held),
            "csv": str(csv_path), "csv_mb": round(csv_path.stat().st_size / 2**20, 2)}


def machine() -> dict:
    import psutil

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu_model": model,
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "indexer", "kb", "triage", "service", "settings.py"],
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- one run (child process) ----------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def one_run(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(REPO))
    import resource

    import psutil
    import torch

    from indexer.encoder import make_encoder
    from kb.importer import ColumnMapping
    from service.engine import Engine
    from settings import load_settings

    proc = psutil.Process()
    work = Path(args.work)
    queries = json.loads((work / "queries.json").read_text("utf-8"))
    data_dir = Path(tempfile.mkdtemp(prefix="kf_bench_data_", dir=args.tmp))
    out: dict = {"code": git_commit(), "torch_threads": torch.get_num_threads()}
    try:
        settings = load_settings(str(data_dir))
        out["model"] = settings.model
        out["rss_mb_start"] = proc.memory_info().rss / 2**20

        t = time.perf_counter()
        encoder = make_encoder(settings.model)
        out["model_load_s"] = time.perf_counter() - t
        warm = [q["text"] for q in queries[:64]] or ["warm up"]
        encoder.encode(warm, settings.encode_batch_size)
        out["loadavg_start"] = os.getloadavg()[0]

        # the bare-encode sample: the texts the import will index (problem, stripped),
        # encoded half before and half after the import so both see the same machine
        with open(work / "openrepair_combined.csv", encoding="utf-8", newline="") as fh:
            texts = [t for t in (r["problem"].strip() for r in csv.DictReader(fh)) if t]
        sample = random.Random(args.seed).sample(texts, min(args.encode_sample, len(texts)))
        halves = (sample[:len(sample) // 2], sample[len(sample) // 2:])
        del texts
        cpu = sum(proc.cpu_times()[:2])
        t = time.perf_counter()
        encoder.encode(halves[0], settings.encode_batch_size)
        bare_before = time.perf_counter() - t
        bare_cpu = sum(proc.cpu_times()[:2]) - cpu

        # -- import (KB write + indexing) --------------------------------------------------
        engine = Engine(settings, encoder=encoder)
        mapping = ColumnMapping(text=["problem"],
                                labels={"category": "product_category",
                                        "status": "repair_status"}, id="id")
        marks: dict[str, float] = {}

        def kb_progress(_n: int) -> None:
            marks["kb_done"] = time.perf_counter()

        cpu0 = sum(proc.cpu_times()[:2])
        t0 = time.perf_counter()
        report = engine.import_file(work / "openrepair_combined.csv", mapping,
                                    progress=kb_progress)
        total = time.perf_counter() - t0
        import_cpu = sum(proc.cpu_times()[:2]) - cpu0
        out["import_cpu_util"] = import_cpu / total
        kb_s = marks.get("kb_done", t0) - t0
        reasons = Counter(r.reason for r in report.rejected)
        out.update({
            "rows_imported": report.taken, "rows_rejected": len(report.rejected),
            "reject_reasons": dict(reasons.most_common()),
            "import_s": total, "import_rows_per_s": report.taken / total,
            "import_kb_s": kb_s, "import_index_s": total - kb_s,
            "index_count": engine.stats()["index"]["count"],
            "rss_mb_after_import": proc.memory_info().rss / 2**20,
        })

        # -- bare model on the same texts --------------------------------------------------
        cpu = sum(proc.cpu_times()[:2])
        t = time.perf_counter()
        encoder.encode(halves[1], settings.encode_batch_size)
        bare_after = time.perf_counter() - t
        bare_cpu += sum(proc.cpu_times()[:2]) - cpu
        out["bare_encode_n"] = len(sample)
        out["bare_encode_rows_per_s"] = len(sample) / (bare_before + bare_after)
        out["bare_encode_rows_per_s_before"] = len(halves[0]) / bare_before
        out["bare_encode_rows_per_s_after"] = len(halves[1]) / bare_after
        out["pipeline_over_bare"] = out["import_rows_per_s"] / out["bare_encode_rows_per_s"]
        out["import_rows_per_s_index_phase"] = report.taken / max(total - kb_s, 1e-9)
        # per CPU-second of this process: steadier than wall time on a shared machine
        out["import_rows_per_cpu_s"] = report.taken / import_cpu
        out["bare_encode_rows_per_cpu_s"] = len(sample) / bare_cpu
        out["pipeline_over_bare_cpu"] = (out["import_rows_per_cpu_s"]
                                         / out["bare_encode_rows_per_cpu_s"])
        del sample, halves

        # -- triage -------------------------------------------------------------------------
        t = time.perf_counter()
        engine.triage(queries[0]["text"])
        out["first_triage_s"] = time.perf_counter() - t
        out["rss_mb_after_training"] = proc.memory_info().rss / 2**20

        lat, enc_part, hits = [], [], Counter()
        for q in queries:
            t = time.perf_counter()
            res = engine.triage(q["text"])
            lat.append((time.perf_counter() - t) * 1e3)
            enc_part.append(res.timings_ms.get("encode", float("nan")))
            for name, key in (("category", "category"), ("status", "status")):
                pred = res.labels.get(name)
                hits[name] += bool(pred and pred.value == q[key])
        raw = []
        for q in queries:
            t = time.perf_counter()
            encoder.encode([q["text"]], settings.encode_batch_size)
            raw.append((time.perf_counter() - t) * 1e3)
        n = len(queries)
        out.update({
            "queries": n,
            "triage_p50_ms": percentile(lat, 0.5), "triage_p95_ms": percentile(lat, 0.95),
            "triage_mean_ms": statistics.fmean(lat),
            "triage_encode_part_p50_ms": percentile(enc_part, 0.5),
            "encode_p50_ms": percentile(raw, 0.5), "encode_p95_ms": percentile(raw, 0.95),
            "triage_over_encode_p50": percentile(lat, 0.5) / percentile(raw, 0.5),
            "category_accuracy": hits["category"] / n, "status_accuracy": hits["status"] / n,
            "rss_mb_after_triage": proc.memory_info().rss / 2**20,
            "rss_mb_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "index_mb": folder_mb(settings.index_dir),
            "db_mb": sum(p.stat().st_size for p in data_dir.glob("knownfix.db*")) / 2**20,
            "loadavg_end": os.getloadavg()[0],
        })
        engine.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


# -- report -------------------------------------------------------------------------------
TABLE = [  # (key, label, format)
    ("rows_imported", "rows imported", "{:.0f}"),
    ("rows_rejected", "rows rejected (empty problem)", "{:.0f}"),
    ("import_s", "import wall time (s)", "{:.1f}"),
    ("import_kb_s", "  of which KB write (s)", "{:.1f}"),
    ("import_index_s", "  of which indexing (s)", "{:.1f}"),
    ("import_rows_per_s", "import throughput (rows/s, incl. indexing)", "{:.1f}"),
    ("bare_encode_rows_per_s", "bare model encode (rows/s)", "{:.1f}"),
    ("pipeline_over_bare", "ratio import / bare encode", "{:.2f}"),
    ("pipeline_over_bare_per_encoded_text",
     "ratio import / bare, per distinct text encoded", "{:.2f}"),
    ("import_rows_per_cpu_s", "import rows per CPU-second", "{:.1f}"),
    ("bare_encode_rows_per_cpu_s", "bare encode rows per CPU-second", "{:.1f}"),
    ("pipeline_over_bare_cpu", "ratio import / bare, per CPU-second", "{:.2f}"),
    ("first_triage_s", "first triage = classifier training (s)", "{:.1f}"),
    ("triage_p50_ms", "triage p50 (ms)", "{:.1f}"),
    ("triage_p95_ms", "triage p95 (ms)", "{:.1f}"),
    ("encode_p50_ms", "raw single-query encode p50 (ms)", "{:.1f}"),
    ("triage_over_encode_p50", "ratio triage p50 / encode p50", "{:.2f}"),
    ("category_accuracy", "held-out category accuracy", "{:.3f}"),
    ("status_accuracy", "held-out status accuracy", "{:.3f}"),
    ("model_load_s", "model load (s)", "{:.1f}"),
    ("rss_mb_after_triage", "RSS after triage (MB)", "{:.0f}"),
    ("rss_mb_peak", "peak RSS (MB)", "{:.0f}"),
    ("index_mb", "index on disk (MB)", "{:.1f}"),
    ("db_mb", "database on disk (MB)", "{:.1f}"),
    ("import_cpu_util", "CPU use during import (cores)", "{:.2f}"),
    ("loadavg_start", "load average at run start", "{:.2f}"),
    ("loadavg_end", "load average at run end", "{:.2f}"),
]


def markdown(result: dict) -> str:
    runs, med = result["runs"], result["median"]
    head = "| metric | median | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " |"
    lines = [head, "|" + "---|" * (2 + len(runs))]
    for key, label, fmt in TABLE:
        if key not in med:
            continue
        cells = [fmt.format(r[key]) if key in r else "" for r in runs]
        lines.append(f"| {label} | **{fmt.format(med[key])}** | " + " | ".join(cells) + " |")
    m = result["machine"]
    lines.append("")
    codes = sorted({r.get("code", "?") for r in runs})
    if len(codes) > 1:
        lines.append(f"WARNING: the runs measured different code: {', '.join(codes)}.")
    if result.get("failed_runs"):
        lines.append(f"Failed runs (left out of the medians): {result['failed_runs']}.")
    lines.append(f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['ram_gb']} GB RAM, "
                 f"Python {m['python']}; torch threads {runs[0].get('torch_threads')}; "
                 f"model {runs[0].get('model')}; commit {result['commit']}.")
    d = result["data"]
    lines.append(f"Data: import file of {d['import_rows']} rows (of {d['source_rows']} source "
                 f"rows; {d['import_rows_empty_problem']} with an empty problem, "
                 f"{d.get('unique_problem_texts', '?')} distinct problem texts), "
                 f"{d['held_out_queries']} held-out queries never imported.")
    return "\n".join(lines)


def medians(runs: list[dict]) -> dict:
    if not runs:
        return {}
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)
            and not isinstance(v, bool)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder of ORDS records CSVs")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--limit", type=int, default=0, help="import at most N rows (0: all)")
    p.add_argument("--queries", type=int, default=200, help="held-out triage queries")
    p.add_argument("--encode-sample", type=int, default=5000,
                   help="texts for the bare-model encode measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON results file")
    p.add_argument("--tmp", default=None, help="folder for temporary files")
    p.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.one_run:  # child: one measured run, result as JSON
        Path(args.result).write_text(json.dumps(one_run(args)), "utf-8")
        return 0

    work = Path(tempfile.mkdtemp(prefix="kf_bench_", dir=args.tmp))
    try:
        t = time.perf_counter()
        data = prepare(args, work)
        print(f"prepared {data['import_rows']} rows + {data['held_out_queries']} queries "
              f"in {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
        runs: list[dict] = []
        failed: list[dict] = []
        for i in range(args.runs):
            res_path = work / f"run{i}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one-run",
                   "--work", str(work), "--result", str(res_path), "--seed", str(args.seed),
                   "--encode-sample", str(args.encode_sample)]
            if args.tmp:
                cmd += ["--tmp", args.tmp]
            t = time.perf_counter()
            rc = subprocess.run(cmd).returncode
            if rc != 0 or not res_path.is_file():  # a crashed or killed run is reported
                failed.append({"run": i + 1, "returncode": rc,
                               "seconds": time.perf_counter() - t})
                print(f"run {i + 1}/{args.runs} FAILED (exit {rc})", file=sys.stderr, flush=True)
            else:
                run = json.loads(res_path.read_text("utf-8"))
                runs.append(run)
                print(f"run {i + 1}/{args.runs} done in {time.perf_counter() - t:.0f}s: "
                      f"import {run['import_rows_per_s']:.1f} rows/s, "
                      f"triage p50 {run['triage_p50_ms']:.1f} ms",
                      file=sys.stderr, flush=True)
            write_result(args, data, runs, failed, complete=i + 1 == args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not runs:
        print("no run completed", file=sys.stderr)
        return 1
    result = json.loads(Path(args.out).read_text("utf-8"))
    print(markdown(result))
    print(f"\nJSON: {args.out}", file=sys.stderr)
    return 0 if not failed else 1


def write_result(args: argparse.Namespace, data: dict, runs: list[dict], failed: list[dict],
                 complete: bool) -> None:
    """Write the JSON after every run, so a long benchmark stopped midway keeps its runs."""
    result = {"benchmark": "import_triage", "commit": git_commit(), "complete": complete,
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": machine(),
              "config": {"runs": args.runs, "limit": args.limit, "queries": args.queries,
                         "encode_sample": args.encode_sample, "seed": args.seed,
                         "data": str(Path(args.data).resolve())},
              "data": {k: v for k, v in data.items() if k != "csv"},
              "median": medians(runs), "runs": runs, "failed_runs": failed}
    if runs:  # the index encodes each distinct description once: compare per encoded text
        result["median"]["pipeline_over_bare_per_encoded_text"] = (
            result["median"]["pipeline_over_bare"] * data["unique_share"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    sys.exit(main())
