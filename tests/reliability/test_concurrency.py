"""Several writers at once against one knowledge base: separate processes (SQLite WAL,
BEGIN IMMEDIATE, busy timeout; on PostgreSQL the one advisory write lock) and threads
sharing one Engine (one connection per thread, the Engine's lock around the in-memory
index).  Nothing is lost, no case number is handed out twice, nobody sees `database is
locked`.  Each test runs on both stores.  Throughput and p95 latency are printed, never
asserted."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from kb.importer import BATCH
from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine
from tests.reliability.checks import case_counts, check_database, check_index, reading
from tests.reliability.conftest import PYTHON, WORKERS, Seeded, child_env, pct
from tests.reliability.workers import CATEGORIES, _text, do_case

FILES_PER_PROCESS = 3
ROWS_PER_FILE = 2 * BATCH
CASES_PER_PROCESS = 12


def _write_file(path: Path, prefix: str, rows: int, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "fix", "batch"])
        for n in range(rows):
            cat = rng.choice(CATEGORIES)
            w.writerow([f"{prefix}-{n:05d}", _text(rng, cat), f"fix {n}",
                        f"{prefix}-{n // BATCH}"])


def _numbers_are_contiguous(location: str) -> list[str]:
    """Case numbers PROJECT-YYYYMMDD-N: per prefix, N runs 1..count with no gap or repeat."""
    with reading(location) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM cases WHERE project IS NOT NULL")]
    by_prefix: dict[str, list[int]] = defaultdict(list)
    for cid in ids:
        prefix, _, n = cid.rpartition("-")
        by_prefix[prefix].append(int(n))
    return [f"{p}: numbers {sorted(ns)}" for p, ns in by_prefix.items()
            if sorted(ns) != list(range(1, len(ns) + 1))]


@pytest.mark.reliability
def test_two_processes_import_and_close_cases_at_once(seeded_kb: Seeded, report) -> None:
    work = seeded_kb.work
    rng = random.Random(5)
    go = work / "go"
    procs, results = [], []
    for p in range(2):
        files = []
        for f in range(FILES_PER_PROCESS):
            path = work / f"p{p}-f{f}.csv"
            _write_file(path, f"p{p}f{f}", ROWS_PER_FILE, rng)
            files += ["--file", str(path)]
        result = work / f"result-{p}.json"
        results.append(result)
        procs.append(subprocess.Popen(
            [PYTHON, str(WORKERS), "run", "import-and-cases", str(seeded_kb.data), "--seed",
             str(p), "--cases", str(CASES_PER_PROCESS), "--result", str(result), "--go",
             str(go), "--database-url", seeded_kb.url, *files], env=child_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 180
    while not all(Path(f"{r}.ready").exists() for r in results):
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    start = time.perf_counter()
    go.write_text("go", encoding="utf-8")
    outs = [p.communicate(timeout=600) for p in procs]
    wall = time.perf_counter() - start
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert "database is locked" not in err, err
        assert proc.returncode == 0, err[-3000:]
    data = [json.loads(r.read_text(encoding="utf-8")) for r in results]
    assert all(not d["errors"] for d in data), [d["errors"] for d in data]

    db = seeded_kb.database
    assert check_database(db) == []
    counts = case_counts(db)
    opened = [c for d in data for c in d["cases"]]
    assert len(opened) == len(set(opened)) == 2 * CASES_PER_PROCESS  # no number twice
    assert counts["opened"] == len(opened)
    assert counts["imported"] == sum(d["imported"] for d in data) == \
        2 * FILES_PER_PROCESS * ROWS_PER_FILE
    assert _numbers_are_contiguous(db) == []
    engine = Engine(seeded_kb.settings)
    try:
        assert engine.integrity is None
        assert check_index(engine) == []
        states = {r[0] for r in engine.kb.db.execute(
            "SELECT DISTINCT state FROM cases WHERE project IS NOT NULL")}
        assert states == {"closed"}
    finally:
        engine.close()
    lat = defaultdict(list)
    for d in data:
        for kind, values in d["latency_ms"].items():
            lat[kind] += values
    rows = counts["imported"]
    report(f"{seeded_kb.store}: two processes, {FILES_PER_PROCESS} files of {ROWS_PER_FILE} "
           f"rows and {CASES_PER_PROCESS} cases each, in {wall:.1f} s: {rows / wall:.0f} rows/s "
           f"and {len(opened) / wall:.2f} cases/s together; import p50 "
           f"{pct(lat['import'], 50):.0f} ms p95 {pct(lat['import'], 95):.0f} ms; "
           f"case (open..close) p50 {pct(lat['case'], 50):.0f} ms "
           f"p95 {pct(lat['case'], 95):.0f} ms; nothing lost, no number twice")


@pytest.mark.reliability
def test_threads_share_one_engine(seeded_kb: Seeded, report) -> None:
    desk = Desk(Engine(seeded_kb.settings))
    triage_each, cases_each = 30, 6
    lat: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    opened: list[str] = []
    guard = threading.Lock()

    def triager(n: int) -> None:
        rng = random.Random(n)
        for _ in range(triage_each):
            t = time.perf_counter()
            try:
                desk.engine.triage(_text(rng, rng.choice(CATEGORIES)))
            except Exception as exc:  # collected and reported by the test
                with guard:
                    errors.append(f"triage: {exc!r}")
            with guard:
                lat["triage"].append((time.perf_counter() - t) * 1e3)

    def worker(n: int) -> None:
        rng = random.Random(100 + n)
        for _ in range(cases_each):
            t = time.perf_counter()
            try:
                cid = do_case(desk, rng)
                with guard:
                    opened.append(cid)
            except Exception as exc:  # collected and reported by the test
                with guard:
                    errors.append(f"case: {exc!r}")
            with guard:
                lat["case"].append((time.perf_counter() - t) * 1e3)

    def updater(n: int) -> None:
        rng = random.Random(200 + n)
        for _ in range(cases_each):
            t = time.perf_counter()
            try:
                case = desk.cases.open(SYSTEM, _text(rng, "network"), title="update me")
                for i in range(3):
                    desk.cases.update(SYSTEM, case.id, contact=f"contact {i}",
                                      description=_text(rng, "network"))
                with guard:
                    opened.append(case.id)
            except Exception as exc:  # collected and reported by the test
                with guard:
                    errors.append(f"update: {exc!r}")
            with guard:
                lat["update"].append((time.perf_counter() - t) * 1e3)

    threads = [threading.Thread(target=f, args=(n,)) for n, f in
               enumerate([triager, triager, worker, worker, updater])]
    start = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        wall = time.perf_counter() - start
        assert errors == []
        assert len(opened) == len(set(opened)) == 3 * cases_each
        assert check_index(desk.engine) == []
        for cid in opened:
            events = [e["action"] for e in desk.engine.kb.events(f"case:{cid}")]
            assert events.count("created") == 1, (cid, events)
    finally:
        desk.close()
    assert check_database(seeded_kb.database) == []
    assert case_counts(seeded_kb.database)["opened"] == 3 * cases_each
    done = sum(len(v) for v in lat.values())
    report(f"{seeded_kb.store}: five threads on one Engine ({done} operations in {wall:.1f} s, "
           f"{done / wall:.1f} ops/s): " + "; ".join(
               f"{k} x{len(v)} p50 {pct(v, 50):.0f} ms p95 {pct(v, 95):.0f} ms"
               for k, v in sorted(lat.items())))


def test_threads_do_not_see_each_others_open_transaction(seeded_kb: Seeded) -> None:
    """One connection per thread: a transaction open in one thread is invisible to
    another until it commits, and a rollback in one thread does not touch the other's."""
    engine = Engine(seeded_kb.settings)
    kb = engine.kb
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def writer() -> None:
        with kb.transaction():
            kb.db.execute("UPDATE meta SET value = '12345' WHERE key = 'label_version'")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    try:
        before = kb.label_version
        t.start()
        assert inside.wait(10)
        seen.append(kb.label_version)  # another thread: the committed value
        release.set()
        t.join(10)
        assert seen == [before]
        assert kb.label_version == 12345
    finally:
        release.set()
        engine.close()
