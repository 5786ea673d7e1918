"""How long tuning takes (`knownfix tune`, triage/tuning.py) as the labelled history
grows, idle and with the machine busy.

Data: real Open Repair Alliance records (../shared/data/openrepair/records, CC BY-SA
4.0, (c) Open Repair Alliance): `problem` as the description, `product_category` as the
label field, `repair_status` (Fixed < Repairable < End of life) as the severity; a
seeded sample of N records in the order of their event date.  They are imported once per
size with the real bundled model (its time is reported apart), then `Engine.tune` runs
`--runs` times; medians are printed.  `--load busy` runs a second process that keeps one
core busy with triage-like work (numpy) during the timed runs.

Usage:  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_tune.py --sizes 2000,10000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "openrepair" / "records"
LEVELS = "Fixed,Repairable,End of life"


def sample(n: int, seed: int, out: Path) -> Path:
    import pandas as pd

    frames = [pd.read_csv(f, low_memory=False) for f in sorted(DATA.glob("*.csv"))]
    d = pd.concat(frames, ignore_index=True)
    d = d[d.problem.notna() & (d.problem.str.strip().str.len() > 15)
          & d.repair_status.isin(LEVELS.split(","))]
    d = d.sample(n=n, random_state=seed).sort_values("event_date", kind="stable")
    d[["problem", "product_category", "repair_status"]].to_csv(out, index=False)
    return out


def burn(stop) -> None:
    """Keep one core busy until told to stop."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((300, 300))
    while not stop.is_set():
        a = np.tanh(a @ a.T / 300)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="2000,10000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--load", default="idle,busy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "tune.json"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.importer import ColumnMapping
    from service.engine import Engine
    from settings import load_settings

    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
               "sizes": {}}
    mapping = ColumnMapping(text=["problem"], labels={"category": "product_category"},
                            severity="repair_status")
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="knownfix-bench-tune-") as tmp:
            data = sample(n, args.seed, Path(tmp) / "records.csv")
            s = load_settings(str(Path(tmp) / "kb"), severity_levels=LEVELS, auto_tune=False)
            engine = Engine(s, background=False)
            t = time.perf_counter()
            report = engine.import_file(data, mapping)
            row = {"imported": report.taken, "import_s": round(time.perf_counter() - t, 1)}
            for load in args.load.split(","):
                stop = mp.Event()
                burner = mp.Process(target=burn, args=(stop,)) if load == "busy" else None
                if burner:
                    burner.start()
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    result = engine.tune(dry_run=True)
                    times.append(time.perf_counter() - t)
                if burner:
                    stop.set()
                    burner.join()
                row[load] = {"median_s": round(statistics.median(times), 1),
                             "runs_s": [round(x, 1) for x in times],
                             "status": result.status, "chosen": result.chosen,
                             "before": result.before, "after": result.after}
                print(f"{n} labelled records, {load}: tuning median "
                      f"{row[load]['median_s']} s over {args.runs} runs "
                      f"({', '.join(f'{x:.1f}' for x in times)})", flush=True)
            engine.close()
        results["sizes"][n] = row
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"machine: {os.cpu_count()} cores; results in {args.out}")


if __name__ == "__main__":
    main()
