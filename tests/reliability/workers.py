"""Child processes for the reliability tests: they work on one data folder while the
tests kill them, race them against each other, or back the folder up under them.

    python tests/reliability/workers.py serve
        A fork server.  It imports KnownFix once and then reads commands on stdin:
          fork OP SEED DATA_DIR [DATABASE_URL]
                                  fork a child doing OP in a loop until killed, on the
                                  knowledge base at DATABASE_URL (default: the SQLite
                                  file in DATA_DIR); answers "pid N"
          wait PID                reap that child; answers "status S" (os.waitpid)
        Starting Python with NumPy, FAISS and scikit-learn takes seconds on a busy
        machine; forking a warm process takes milliseconds, so hundreds of kills fit in
        the test's time budget.  Every child is its own process with its own Engine,
        database connections and index, exactly as a second `knownfix` would be.

    python tests/reliability/workers.py run OP DATA_DIR --result FILE [options]
        One process doing OP (count or seconds bounded) and writing a JSON result: the
        work done, each operation's latency, the case numbers it got, its errors.
        --database-url: the knowledge base on PostgreSQL.

    python tests/reliability/workers.py hold DATA_DIR
        Open the knowledge base, print "holding", and wait to be killed.

OP: import (one file of IMPORT_ROWS rows, BATCH rows a transaction), cases (open, start,
resolve, close — closing drafts an article), validate (submit and validate an article),
reindex, mixed (a random one of those each time), or import-and-cases (run only: the
files given with --file, with --cases cases closed between them).

The model and backend come from the environment: KNOWNFIX_MODEL=hash:256
KNOWNFIX_VECTOR_BACKEND=faiss (FAISS, so the real index files are written and read).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from errors import InvalidTransition, NotFound  # noqa: E402
from kb.importer import BATCH, ColumnMapping  # noqa: E402
from service.auth import SYSTEM, User  # noqa: E402
from service.desk import Desk  # noqa: E402
from service.engine import Engine  # noqa: E402
from settings import load_settings  # noqa: E402

IMPORT_ROWS = 2 * BATCH  # two transactions per file: a kill can land between them
IMPORT_SLOTS = 2  # imports reuse these id ranges, so the KB stays small
ENGINEER = User("rel-engineer", "engineer", "Reliability engineer")
CATEGORIES = ("storage", "network", "licence", "software", "power")
WORDS = {
    "storage": ["NVR", "硬盘", "disk", "HDD", "录像", "playback", "RAID", "error"],
    "network": ["camera", "摄像机", "offline", "掉线", "IP", "conflict", "switch", "PoE"],
    "licence": ["licence", "授权", "expired", "到期", "E-1043", "VMS", "activation"],
    "software": ["client", "客户端", "installer", "0x8007045D", "crash", "update"],
    "power": ["UPS", "冒烟", "battery", "电池", "power", "断电", "fan"],
}
MAPPING = ColumnMapping(text=["text"], fix="fix", id="id", kind="case")
OPS = ("import", "cases", "validate", "reindex")


def _text(rng: random.Random, category: str, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS[category]) for _ in range(n))


# -- one unit of each kind of work ------------------------------------------------------------
def do_import(desk: Desk, rng: random.Random, work: Path, rows: int = IMPORT_ROWS,
              prefix: str | None = None) -> str:
    """Import one CSV file; every row of a BATCH carries the same marker in `batch`.
    Returns the rows' id prefix (ids PREFIX-00000 …)."""
    prefix = prefix or f"imp{rng.randrange(IMPORT_SLOTS)}"
    marker = f"{os.getpid()}-{rng.getrandbits(40):010x}"
    path = work / f"import-{os.getpid()}-{rng.getrandbits(32):08x}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "fix", "batch"])
        for n in range(rows):
            row = random.Random(f"{prefix}-{n}")  # the same text each time a slot is
            cat = row.choice(CATEGORIES)  # imported again: only the batch marker changes
            w.writerow([f"{prefix}-{n:05d}", _text(row, cat), f"fix {cat} {n}",
                        f"{marker}-{n // BATCH}"])
    try:
        report = desk.engine.import_file(path, MAPPING)
    finally:
        path.unlink(missing_ok=True)
    assert report.taken == rows and not report.rejected, report
    return prefix


def do_case(desk: Desk, rng: random.Random) -> str:
    """Open a case, take it, resolve it with a label, close it (which drafts an article)."""
    cat = rng.choice(CATEGORIES)
    case = desk.cases.open(SYSTEM, _text(rng, cat), title=f"{cat} fault",
                           channel=rng.choice(["phone", "email", "web"]))
    desk.cases.start(SYSTEM, case.id)
    desk.cases.resolve(SYSTEM, case.id, f"fixed the {cat} fault: {_text(rng, cat, 4)}",
                       labels={"category": cat})
    desk.cases.close(SYSTEM, case.id)
    return case.id


def do_validate(desk: Desk, rng: random.Random) -> str:
    """Submit and validate a drafted article (or a new one when there is no draft)."""
    k = desk.knowledge
    drafts = [a.id for a in k.list("wip")]
    if drafts:
        aid = rng.choice(drafts)
    elif rng.random() < 0.5 and (live := k.list("validated")):
        aid = rng.choice(live).id  # a new version of a validated article
        cat = rng.choice(CATEGORIES)
        k.edit(ENGINEER, aid, resolution=f"do {cat} steps: {_text(rng, cat, 4)}")
        return aid
    else:
        cat = rng.choice(CATEGORIES)
        aid, _ = k.create(ENGINEER, f"{cat} known fix", _text(rng, cat), f"do {cat} steps",
                          labels={"category": cat})
    try:
        k.submit(ENGINEER, aid)
        k.validate(ENGINEER, aid)
    except (InvalidTransition, NotFound):
        pass  # another worker moved the same draft first: a refusal, not a fault
    return aid


def do_reindex(desk: Desk, rng: random.Random) -> int:
    return desk.engine.reindex()


def one(op: str, desk: Desk, rng: random.Random, work: Path):
    if op == "mixed":
        op = rng.choices(OPS, weights=(2, 4, 3, 1))[0]
    return op, {"import": lambda: do_import(desk, rng, work),
                "cases": lambda: do_case(desk, rng),
                "validate": lambda: do_validate(desk, rng),
                "reindex": lambda: do_reindex(desk, rng)}[op]()


def open_desk(data_dir: str, database_url: str = "") -> Desk:
    return Desk(Engine(load_settings(data_dir, database_url=database_url or None)))


# -- fork server ------------------------------------------------------------------------------
def warm_up() -> None:
    """Do each kind of work once in a scratch folder, so the first use of every module
    (scikit-learn, FAISS, the importer...) is paid here, not in each forked child."""
    import shutil
    import tempfile
    import threading

    import kb.pg  # noqa: F401 - loaded once here for the children on PostgreSQL
    from tests.helpers import small_kb_records

    tmp = Path(tempfile.mkdtemp(prefix="knownfix-warm-"))
    try:
        (tmp / "work").mkdir()
        desk = open_desk(str(tmp / "data"))
        desk.engine.upsert(small_kb_records())
        rng = random.Random(0)
        for op in (*OPS, "cases", "validate"):
            one(op, desk, rng, tmp / "work")
        desk.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert threading.active_count() == 1, "no thread may run when the server forks"


def serve() -> None:
    warm_up()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "fork":
            op, seed, data_dir, *url = args
            pid = os.fork()
            if pid == 0:
                _child(op, int(seed), data_dir, *url)  # never returns
            print(f"pid {pid}", flush=True)
        elif cmd == "wait":
            _, status = os.waitpid(int(args[0]), 0)
            print(f"status {status}", flush=True)
        elif cmd == "quit":
            break


def _child(op: str, seed: int, data_dir: str, database_url: str = "") -> None:
    """Work until killed.  Each piece of work done goes to work/progress.log as 'OP WHAT'
    (the ledger of acknowledged work, see checks.check_ledger); an unexpected error to
    work/errors.log, and the child exits 3 (the test fails on it)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the server's stdout is its answer channel
    work = Path(data_dir).parent / "work"
    rng = random.Random(seed)
    try:
        desk = open_desk(data_dir, database_url)
        while True:
            done, what = one(op, desk, rng, work)
            with open(work / "progress.log", "a", encoding="utf-8") as fh:
                fh.write(f"{done} {what}\n")
    except BaseException:
        with open(work / "errors.log", "a", encoding="utf-8") as fh:
            fh.write(f"--- pid {os.getpid()} op {op}\n{traceback.format_exc()}\n")
        os._exit(3)
    os._exit(0)


# -- one bounded run --------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work = Path(args.data_dir).parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"pid": os.getpid(), "ops": {}, "latency_ms": {}, "cases": [],
                    "imported": 0, "errors": []}

    def timed(kind: str, fn):
        t = time.perf_counter()
        out = fn()
        result["latency_ms"].setdefault(kind, []).append((time.perf_counter() - t) * 1e3)
        result["ops"][kind] = result["ops"].get(kind, 0) + 1
        return out

    desk = open_desk(args.data_dir, args.database_url)
    if args.go:  # start together with the other workers
        Path(args.result + ".ready").write_text("ready", encoding="utf-8")
        deadline = time.monotonic() + 120
        while not Path(args.go).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    start = time.perf_counter()
    try:
        if args.op == "import-and-cases":
            files = args.file or []
            per = max(1, args.cases // max(1, len(files)))
            opened = 0
            for path in files:
                result["imported"] += timed("import", lambda p=path: desk.engine.import_file(
                    p, MAPPING).taken)
                for _ in range(per if path != files[-1] else args.cases - opened):
                    result["cases"].append(timed("case", lambda: do_case(desk, rng)))
                    opened += 1
        else:
            n = 0
            stop = Path(args.stop) if args.stop else None
            while (args.count is None or n < args.count) and \
                    time.perf_counter() - start < args.seconds and \
                    not (stop and stop.exists()):
                kind, out = timed(args.op, lambda: one(args.op, desk, rng, work))
                if kind == "cases":
                    result["cases"].append(out)
                elif kind == "import":
                    result["imported"] += IMPORT_ROWS  # do_import checked all were taken
                n += 1
    except Exception:
        result["errors"].append(traceback.format_exc())
    result["seconds"] = time.perf_counter() - start
    desk.close()
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 1 if result["errors"] else 0


def hold(data_dir: str) -> None:
    desk = open_desk(data_dir)
    desk.engine.kb.counts()
    print("holding", flush=True)
    time.sleep(3600)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve")
    h = sub.add_parser("hold")
    h.add_argument("data_dir")
    r = sub.add_parser("run")
    r.add_argument("op", choices=[*OPS, "mixed", "import-and-cases"])
    r.add_argument("data_dir")
    r.add_argument("--result", required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--count", type=int)
    r.add_argument("--seconds", type=float, default=3600)
    r.add_argument("--cases", type=int, default=0)
    r.add_argument("--file", action="append")
    r.add_argument("--go", help="wait for this file to exist before starting")
    r.add_argument("--stop", help="stop when this file exists")
    r.add_argument("--database-url", default="", help="the knowledge base on PostgreSQL")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve()
    elif args.mode == "hold":
        hold(args.data_dir)
    else:
        return run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
