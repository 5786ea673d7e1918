"""Learning loop, measured (issue 3): start from 10 % of the laptop repairs, feed the
rest as cases worked through the service layer (open → triage → resolve, the resolver
confirming or correcting the predicted fault type → close) in time order, and
re-measure fault-type accuracy and hit@5 on a fixed held-out set at 10/25/50/100 %.
Tuning runs whenever it is due (as the app does in the background; here in the
foreground, so the figures do not depend on timing).  The last point is compared with a
one-shot import of the whole training set followed by the tuning an import triggers.

    .venv/bin/python bench/learning_curve.py [--data PATH] [--out docs/]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kb.importer import ColumnMapping  # noqa: E402
from service.auth import SYSTEM, Users  # noqa: E402
from service.cases import Cases  # noqa: E402
from service.engine import Engine  # noqa: E402
from settings import load_settings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared/data/openrepair/quests/compcat_laptops.csv"
CHECKPOINTS = (0.10, 0.25, 0.50, 1.00)


def split(path: Path) -> tuple[list[dict], list[dict]]:
    """80/20 random split (seed 0) of rows with text and label; train in time order."""
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    order = np.random.RandomState(0).permutation(len(rows))
    cut = int(len(rows) * 0.8)
    train = [rows[i] for i in order[:cut] if rows[i]["problem"].strip()
             and rows[i]["fault_type"].strip()]
    test = [rows[i] for i in order[cut:] if rows[i]["problem"].strip()
            and rows[i]["fault_type"].strip()]
    train.sort(key=lambda r: (r["event_date"], r["id_ords"]))
    return train, test


def measure(engine: Engine, test: list[dict]) -> dict:
    engine.refresh()
    if engine.tuning_due():
        engine.tune()
    engine.train()
    acc = hit5 = 0
    for row in test:
        result = engine.triage(row["problem"])
        pred = result.labels.get("fault")
        acc += bool(pred) and pred.value == row["fault_type"]
        records = engine.kb.get_many(m.key for m in result.matches[:5])
        hit5 += any(r.labels.get("fault") == row["fault_type"] for r in records.values())
    return {"accuracy": acc / len(test), "hit@5": hit5 / len(test)}


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "problem", "fault_type"])
        w.writeheader()
        for r in rows:
            w.writerow({"id": r["id_ords"], "problem": r["problem"], "fault_type": r["fault_type"]})


def run(data: Path, out: Path) -> dict:
    train, test = split(data)
    mapping = ColumnMapping(text=["problem"], labels={"fault": "fault_type"}, id="id")
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(tmp, top_k=10, sync_retrain_max=0)  # retrain in background
        engine = Engine(settings, background=False)
        first = int(len(train) * CHECKPOINTS[0])
        write_csv(train[:first], Path(tmp) / "start.csv")
        engine.import_file(Path(tmp) / "start.csv", mapping)
        points.append({"share": CHECKPOINTS[0], "records": first, **measure(engine, test)})
        print(points[-1], flush=True)
        cases, agent = Cases(engine), Users(engine.kb).add(SYSTEM, "agent", "password1",
                                                            "first_line")
        fed, start = first, time.perf_counter()
        for share in CHECKPOINTS[1:]:
            upto = int(len(train) * share)
            for row in train[fed:upto]:
                case = cases.open(agent, row["problem"], channel="web",
                                  received_at=row["event_date"] + "T12:00:00Z")
                cases.resolve(agent, case.id, row["repair_status"] or "repaired",
                              labels={"fault": row["fault_type"]}, confirm=True)
                cases.close(agent, case.id)
            fed = upto
            points.append({"share": share, "records": upto, **measure(engine, test)})
            print(points[-1], flush=True)
        per_case_ms = (time.perf_counter() - start) / max(fed - first, 1) * 1000
        engine.close()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(load_settings(tmp, top_k=10), background=False)
        write_csv(train, Path(tmp) / "all.csv")
        engine.import_file(Path(tmp) / "all.csv", mapping)
        one_shot = measure(engine, test)
        engine.close()
    result = {"points": points, "one_shot": one_shot, "test_rows": len(test),
              "tuned": engine.tuning.chosen if engine.tuning else None,
              "train_rows": len(train), "ms_per_case_open_resolve_close": per_case_ms}
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_curve.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "learning_curve.png")
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p["share"] * 100 for p in result["points"]]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, style in (("accuracy", "o-"), ("hit@5", "s-")):
        ax.plot(xs, [p[key] for p in result["points"]], style, label=f"{key} (fed as cases)")
        ax.axhline(result["one_shot"][key], linestyle=":", color="grey")
    ax.set_xlabel("share of training history in the KB (%)")
    ax.set_ylabel("on the fixed held-out set")
    ax.set_title("Learning as cases close (laptop repairs; dotted: one-shot import)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    print(json.dumps(run(args.data, args.out), indent=2))
