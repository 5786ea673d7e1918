"""Benchmark: PostgreSQL next to SQLite in one run, and the HTTP API on one and on two
app servers (issue 14; `make bench-pg`).

Everything runs on this machine: a PostgreSQL cluster of the benchmark's own
(tests/postgres.py's Cluster with PostgreSQL's durable defaults: fsync, synchronous
commit, full-page writes, 128 MB shared buffers; a Unix socket), and the SQLite file the
product opens (WAL, synchronous=NORMAL).

  corpus   bench/corpus.py: the real Open Repair Alliance records, then documents
           recombined from their sentences, seeded, --docs of them; 200 held-out records
           as queries.  Each store first gets `knownfix demo` (its users, articles and
           cases), then the corpus.
  vectors  The bundled model encodes each distinct corpus description once; both stores'
           imports take the vectors from that cache (bench/results/cache/, kept between
           runs), so the import figures are the pipeline without the model and the
           database is what differs.  Queries and cases are encoded by the model.
  import   Engine.import_file of the corpus CSV (kb.importer writes the rows, then the
           index catches up from the database's change sequence and is saved): rows/s of
           the whole call, of the database write alone (the `progress` callback marks its
           end) and of the index part.
  lookups  Engine.search and Engine.triage p50/p95 over the held-out queries (3 warm-ups),
           in one process with both engines open, each query on one store and then the
           other (which goes first alternates).  The classifiers are trained once,
           on SQLite (the first triage, timed), and handed to the PostgreSQL engine: they
           are fitted on the same records and vectors.  What each store adds to a
           training, reading the labelled records, is timed on both.
  API      `knownfix api` servers on loopback, each with its own data folder and index
           (copied from the import, as a server whose index exists): one on SQLite, two
           (A, B) on the PostgreSQL database.  They start at once and train their
           classifiers in parallel; they are measured one configuration at a time:
             sqlite-1   the SQLite server alone;
             pg-1       server A alone (B stopped with SIGSTOP: it takes no CPU);
             pg-2       A and B, the load generator sending each request to the next
                        server in turn (round robin);
             *-busy     the same while another program keeps one core busy (a Python
                        busy loop at normal priority);
             cross      --closes cases opened and closed on A one at a time, each then
                        searched for on B with its description until found: ms from the
                        close's answer to B's answer that has it.
           Each of --clients threads works as an agent: open a case (POST /cases, which
           triages it), two searches (its own description, then another fault), start,
           resolve (without confirming labels: a confirmation makes every server retrain
           its classifiers in the background; that cost is given apart as the servers'
           start-up training), close; then the next case.  Chinese and English fault
           texts in turn.  A request is timed from sending to the whole answer read.
           Figures: requests/s and cases/s, p50/p95 per operation and overall, errors,
           CPU seconds used by the app servers, by PostgreSQL and by the load generator
           (which shares the 2 cores), load average at start and end.
  agents   An estimate from the cases/s measured: an agent at a busy hour works one case
           every --case-minutes minutes (default 5) with the requests above; a server is
           planned at --headroom (default 0.5) of the throughput measured at saturation,
           so p95 stays near the measured one.

auto_tune is off in every data folder (a tuning in the background would share the cores
with the measured load; docs/benchmarks.md "Tuning" has its cost).

Usage (from the repo root):
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pg.py                 # 100k, 60 s a phase
  HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pg.py --docs 2000 --seconds 10   # smoke
  .venv/bin/python bench/bench_pg.py --report        # the Markdown section from pg.json
Results: bench/results/pg.json (rewritten after each step, "complete": false until the
end); bench/report_scale.py puts its section into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
from bench_api import (  # noqa: E402
    CHANNELS,
    TIMEOUT,
    Sample,
    Texts,
    fault_texts,
    ok,
    op_figures,
)
from bench_import_triage import folder_mb, git_commit, machine, percentile  # noqa: E402
from corpus import DEFAULT_DATA, Corpus  # noqa: E402

from tests.browser.conftest import _env, _free_port, _stop  # noqa: E402
from tests.postgres import Cluster  # noqa: E402

RESULTS = REPO / "bench" / "results"
CACHE = RESULTS / "cache"
PHASES = ("sqlite-1", "pg-1", "pg-2", "pg-1-busy", "pg-2-busy", "cross")
BARE_MODEL_ROWS_S = 225  # the bundled model alone on 2 cores (docs/benchmarks.md)
CROSS_WAIT = 10.0  # seconds a case closed on A may take to be found on B
AGENT_OPS = ("open", "search", "start", "resolve", "close")
MAPPING = {"text": ["problem"], "labels": {"category": "product_category",
                                          "status": "repair_status"}, "id": "id"}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {text}",
          file=sys.stderr, flush=True)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


# -- the corpus's vectors, encoded once ------------------------------------------------------
def cached_vectors(model, texts: list[str], batch: int, path: Path) -> tuple[dict, object]:
    """Each distinct text's vector by the model, from `path` when it holds them all (else
    encoded now and saved there); {digest: row} and the float32 matrix."""
    import numpy as np

    distinct = list(dict.fromkeys(texts))
    keys = [digest(t) for t in distinct]
    if path.is_file():
        got = np.load(path)
        # the raw 12 bytes of each key (numpy's "S" strings drop trailing zero bytes)
        raw = got["keys"].view(np.uint8).reshape(-1, 12)
        rows = {k.tobytes(): n for n, k in enumerate(raw)}
        if all(k in rows for k in keys):
            return rows, got["vectors"]
    t = time.perf_counter()
    vectors = model.encode(distinct, batch).astype(np.float32)
    say(f"encoded {len(distinct)} distinct texts in {time.perf_counter() - t:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, keys=np.array(keys, dtype="S12"), vectors=vectors)
    return {k: n for n, k in enumerate(keys)}, vectors


class CachedText:
    """The benchmark's encoder: corpus texts from the cache, anything else (queries, new
    cases) from the model; counts both."""

    def __init__(self, model, rows: dict, vectors) -> None:
        self.model, self.rows, self.vectors = model, rows, vectors
        self.name, self.dim = model.name, model.dim
        self.hits = self.misses = 0

    def expect_dim(self, dim: int) -> None:
        self.model.expect_dim(dim)

    def encode(self, texts, batch_size=64, progress=False):
        import numpy as np

        found = [self.rows.get(digest(t)) for t in texts]
        miss = [i for i, row in enumerate(found) if row is None]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        hit = [i for i, row in enumerate(found) if row is not None]
        if hit:
            out[hit] = self.vectors[[found[i] for i in hit]]
        if miss:
            out[miss] = self.model.encode([texts[i] for i in miss], batch_size)
        self.hits += len(hit)
        self.misses += len(miss)
        return out


# -- the stores in one process (child) -------------------------------------------------------
def stores_child(args: argparse.Namespace) -> dict:
    """Import, search and triage on each store of the plan, one after the other."""
    from indexer.encoder import make_encoder
    from settings import load_settings
    from triage.learner import labelled

    work = Path(args.work)
    plan = json.loads((work / "plan.json").read_text("utf-8"))
    queries = [q["text"] for q in json.loads((work / "queries.json").read_text("utf-8"))]
    with open(plan["corpus"], encoding="utf-8", newline="") as fh:
        texts = [r["problem"] for r in csv.DictReader(fh)]
    first = load_settings(plan["stores"][0]["data_dir"])
    model = make_encoder(first.model)
    model.encode(queries[:64], first.encode_batch_size)
    rows, vectors = cached_vectors(model, texts, first.encode_batch_size, Path(plan["cache"]))
    if args.vectors_only:
        return {"distinct_texts": len(vectors)}
    out: dict = {"model": first.model, "distinct_texts": len(vectors), "stores": {}}
    engines = {}
    for store in plan["stores"]:  # the imports, one after the other
        name = store["name"]
        settings = load_settings(store["data_dir"], database_url=store["url"])
        encoder = CachedText(model, rows, vectors)
        res: dict = {"loadavg_start": os.getloadavg()}
        engine = engines[name] = _engine(settings, encoder)
        before = engine.stats()
        report, total, kb_s = timed_import(engine, plan["corpus"])
        res.update({"rows": report.taken, "rejected": len(report.rejected),
                    "import_s": total, "import_rows_per_s": report.taken / total,
                    "import_kb_s": kb_s, "import_kb_rows_per_s": report.taken / kb_s,
                    "import_index_s": total - kb_s, "cache_hits": encoder.hits,
                    "model_encoded": encoder.misses, "records_before": before,
                    "records": engine.stats(), "loadavg_after_import": os.getloadavg()})
        say(f"{name}: imported {report.taken} rows in {total:.1f} s (database write "
            f"{kb_s:.1f} s)")
        out["stores"][name] = res
    # lookups on both stores in turn, query by query, so a busy spell hits both alike
    for name, engine in engines.items():
        for q in queries[:3]:
            engine.search(q)
        t = time.perf_counter()
        labelled(engine.kb, engine._index)
        out["stores"][name]["read_labelled_s"] = time.perf_counter() - t
    out["lookups_loadavg_start"] = os.getloadavg()
    out["stores"] = {n: {**out["stores"][n], **r} for n, r in
                     interleaved("search", engines, queries).items()}
    models = None
    for name, engine in engines.items():
        learner = engine._triage_with().learner
        if models is None:
            t = time.perf_counter()
            engine.triage(queries[0])
            out["stores"][name]["first_triage_s"] = time.perf_counter() - t
            models = learner.models
        else:  # the same records and vectors: the same classifiers, not trained again
            learner.models = copy.copy(models)
            learner.models.version = engine.kb.label_version
            engine.triage(queries[0])
    out["stores"] = {n: {**out["stores"][n], **r} for n, r in
                     interleaved("triage", engines, queries).items()}
    out["lookups_loadavg_end"] = os.getloadavg()
    for name, engine in engines.items():
        res = out["stores"][name]
        say(f"{name}: search p50 {res['search_p50_ms']:.0f} ms, triage p50 "
            f"{res['triage_p50_ms']:.0f} ms")
        res["vector_index"] = engine._index.vectors.describe()
        engine.close()
        res["index_mb"] = folder_mb(engine.settings.index_dir)
        res["db_mb"] = _db_mb(engine.settings)
    return out


def interleaved(what: str, engines: dict, queries: list[str]) -> dict[str, dict]:
    """`what` (search or triage) of every query on each engine in turn (which goes
    first alternates): p50/p95 ms per engine."""
    ms: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for n, q in enumerate(queries):
        for name in names[n % 2:] + names[:n % 2]:
            call = getattr(engines[name], what)
            t = time.perf_counter()
            call(q)
            ms[name].append((time.perf_counter() - t) * 1e3)
    return {name: {f"{what}_p50_ms": percentile(v, .5), f"{what}_p95_ms": percentile(v, .95),
                   f"{what}_n": len(v)} for name, v in ms.items()}


def timed_import(engine, path: str) -> tuple:
    """Engine.import_file: its report, the whole call's seconds and the seconds until the
    database write ended (the last `progress` call)."""
    from kb.importer import ColumnMapping

    marks: dict[str, float] = {}
    t0 = time.perf_counter()
    report = engine.import_file(path, ColumnMapping(**MAPPING),
                                progress=lambda n: marks.__setitem__("kb", time.perf_counter()))
    total = time.perf_counter() - t0
    return report, total, marks.get("kb", t0) - t0


def _engine(settings, encoder):
    from service.engine import Engine

    return Engine(settings, encoder=encoder, background=False)


def _db_mb(settings) -> float:
    if not settings.database_url:
        return sum(p.stat().st_size for p in Path(settings.data_dir).glob("knownfix.db*")) \
            / 2**20
    import psycopg

    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] \
            / 2**20


# -- servers -----------------------------------------------------------------------------------
def env_for(data_dir: Path, url: str) -> dict[str, str]:
    env = _env(data_dir)
    env["KNOWNFIX_AUTO_TUNE"] = "false"
    if url:
        env["KNOWNFIX_DATABASE_URL"] = url
    return env


def knownfix(data_dir: Path, url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args, "--data-dir", str(data_dir)],
                          cwd=REPO, env=env_for(data_dir, url), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"knownfix {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def tokens(data_dir: Path, url: str, n: int) -> list[str]:
    return [json.loads(knownfix(data_dir, url, "token", "create", "agent", "--name",
                                f"bench-{i}", "--json"))["token"] for i in range(n)]


class Server:
    """`knownfix api` for one data folder (and database) on a free loopback port."""

    def __init__(self, name: str, data_dir: Path, url: str, log: Path) -> None:
        self.name, self.log = name, log
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.started = time.perf_counter()
        with log.open("w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--data-dir",
                 str(data_dir)], cwd=REPO, env=env_for(data_dir, url), stdout=fh,
                stderr=subprocess.STDOUT, start_new_session=True)
        self.ready_s: float | None = None

    def wait(self, timeout: float) -> float:
        """Seconds from start until /api/v1/health answered (the API answers once the
        model, the index and the classifiers are loaded)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/api/v1/health", timeout=5) as r:
                    if r.status == 200:
                        self.ready_s = time.perf_counter() - self.started
                        return self.ready_s
            except OSError:
                pass
            time.sleep(1)
        raise SystemExit(f"{self.name} not ready in {timeout:.0f} s")

    def cpu_s(self) -> float:
        return cpu_seconds([self.proc.pid])

    def pause(self, paused: bool) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def log_faults(self) -> list[str]:
        lines = self.log.read_text("utf-8", errors="replace").splitlines()
        return [ln for ln in lines if "Traceback" in ln or "ERROR" in ln][:20]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.pause(False)
            _stop(self.proc)


def cpu_seconds(pids: list[int], children: bool = False) -> float:
    """User + system CPU seconds of these processes (and their live children)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            procs = [psutil.Process(pid)]
            if children:
                procs += procs[0].children(recursive=True)
            for p in procs:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def settle(servers: list[Server], most: float = 120.0) -> float:
    """Wait until the servers use under a tenth of a core for 2 s (a follower catching
    up, a background retrain); the seconds waited."""
    t0 = time.perf_counter()
    last = sum(s.cpu_s() for s in servers)
    while time.perf_counter() - t0 < most:
        time.sleep(2)
        now = sum(s.cpu_s() for s in servers)
        if now - last < 0.2:
            break
        last = now
    return time.perf_counter() - t0


@contextmanager
def busy(on: bool) -> Iterator[None]:
    """Another program keeping one core busy (a Python busy loop) while the block runs."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


# -- the load: agents working cases ---------------------------------------------------------
class Agent:
    """One agent's client: its own keep-alive connection to every server, each request
    to the next server in turn; case after case (see the module's docstring)."""

    def __init__(self, bases: list[str], token: str, texts: Texts, t0: float,
                 seed: int) -> None:
        self.http = [httpx.Client(base_url=f"{b}/api/v1", timeout=TIMEOUT,
                                  headers={"Authorization": f"Bearer {token}"}) for b in bases]
        self.texts, self.t0 = texts, t0
        self.rng = random.Random(seed)
        self.k = seed  # spreads the first requests over the servers and languages
        self.samples: list[Sample] = []
        self.problems: list[dict] = []
        self.cases_done = 0

    def request(self, op: str, method: str, path: str, lang: str = "",
                **kw) -> httpx.Response | None:
        http = self.http[self.k % len(self.http)]
        self.k += 1
        start = time.perf_counter()
        try:
            r = http.request(method, path, **kw)
            status: int | str = r.status_code
        except httpx.HTTPError as exc:
            r, status = None, type(exc).__name__
        self.samples.append(Sample(op, status, (time.perf_counter() - start) * 1e3,
                                   start - self.t0, lang))
        if not ok(status) and len(self.problems) < 5:
            self.problems.append({"op": op, "path": path, "status": status,
                                  "body": r.text[:400] if r is not None else ""})
        return r

    def run(self, until: float) -> None:
        while time.perf_counter() < until:
            self.case(until)
        for http in self.http:
            http.close()

    def case(self, until: float) -> None:
        lang, text = self.texts.pick(self.k, self.rng)
        r = self.request("open", "POST", "/cases", lang, json={
            "description": text, "channel": self.rng.choice(CHANNELS),
            "customer": "压测客户 load test"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        if r is None or r.status_code != 201:
            return
        case_id, etag = r.json()["id"], r.headers["etag"]
        other = self.texts.pick(self.k + 1, self.rng)[1]
        for q in (text, other):
            if time.perf_counter() >= until:
                return
            self.request("search", "GET", "/search", lang, params={"q": q[:500]})
        steps = (("start", {}), ("resolve", {"fix": "按建议处理后恢复 fixed as suggested"}),
                 ("close", {}))
        for op, body in steps:
            if time.perf_counter() >= until:
                return
            r = self.request(op, "POST", f"/cases/{case_id}/{op}", lang, json=body,
                             headers={"If-Match": etag})
            if r is None or not ok(r.status_code):
                return
            etag = r.headers["etag"]
        self.cases_done += 1


def run_phase(name: str, servers: list[Server], all_servers: list[Server],
              keys: list[str], texts: Texts, args: argparse.Namespace,
              pg_pid: int | None) -> dict:
    """One configuration under the agents' load for --seconds."""
    for s in all_servers:  # only this phase's servers run
        s.pause(s not in servers)
    waited = settle(servers)
    with busy(name.endswith("-busy")):
        out: dict = {"servers": [s.name for s in servers], "settled_s": waited,
                     "loadavg_start": os.getloadavg()}
        cpu0 = [s.cpu_s() for s in servers]
        pg0 = cpu_seconds([pg_pid], children=True) if pg_pid else 0.0
        me0 = cpu_seconds([os.getpid()])
        t0 = time.perf_counter()
        agents = [Agent([s.base for s in servers], tok, texts, t0, args.seed * 1000 + i)
                  for i, tok in enumerate(keys)]
        threads = [threading.Thread(target=a.run, args=(t0 + args.seconds,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        out["loadavg_end"] = os.getloadavg()
    samples = [x for a in agents for x in a.samples]
    by_op = {op: op_figures([x for x in samples if x.op == op], elapsed) for op in AGENT_OPS}
    cases = sum(a.cases_done for a in agents)
    out.update({
        "elapsed_s": elapsed, "ops": {**by_op, "all": op_figures(samples, elapsed)},
        "cases_done": cases, "cases_per_s": cases / elapsed,
        "server_cpu_s": [s.cpu_s() - c for s, c in zip(servers, cpu0, strict=True)],
        "postgres_cpu_s": (cpu_seconds([pg_pid], children=True) - pg0) if pg_pid else None,
        "generator_cpu_s": cpu_seconds([os.getpid()]) - me0,
        "problems": [p for a in agents for p in a.problems][:10],
    })
    cpu = sum(out["server_cpu_s"])
    out["server_cpu_ms_per_case"] = cpu * 1e3 / cases if cases else None
    if pg_pid:
        out["postgres_cpu_ms_per_case"] = out["postgres_cpu_s"] * 1e3 / cases if cases else None
    return out


def close_to_found(a: Server, b: Server, token: str, texts: Texts, n: int,
                   seed: int) -> dict:
    """n cases opened and closed on A, one at a time; after each close, B is searched
    with the case's description until the case is among its results: ms from the close's
    answer to the answer of B's search that has it."""
    rng = random.Random(seed)
    ms, searches, missing = [], [], 0
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{a.base}/api/v1", timeout=TIMEOUT, headers=auth) as on_a, \
            httpx.Client(base_url=f"{b.base}/api/v1", timeout=TIMEOUT, headers=auth) as on_b:
        for i in range(n):
            text = f"{texts.pick(i, rng)[1][:400]} (跨服务器 cross {i} {uuid.uuid4().hex[:8]})"
            r = on_a.post("/cases", json={"description": text, "channel": "phone"},
                          headers={"Idempotency-Key": str(uuid.uuid4())})
            r.raise_for_status()
            case_id, etag = r.json()["id"], r.headers["etag"]
            for op, body in (("start", {}), ("resolve", {"fix": "换电源 replaced the PSU"}),
                             ("close", {})):
                r = on_a.post(f"/cases/{case_id}/{op}", json=body, headers={"If-Match": etag})
                r.raise_for_status()
                etag = r.headers["etag"]
            closed, tries = time.perf_counter(), 0
            while True:
                tries += 1
                got = on_b.get("/search", params={"q": text, "k": 10}).json()["results"]
                if any(h["key"] == f"case:{case_id}" for h in got):
                    ms.append((time.perf_counter() - closed) * 1e3)
                    searches.append(tries)
                    break
                if time.perf_counter() - closed > CROSS_WAIT:
                    missing += 1
                    break
    return {"closes": n, "found": len(ms), "not_found_in_s": missing,
            "p50_ms": percentile(ms, .5), "p95_ms": percentile(ms, .95),
            "max_ms": max(ms, default=float("nan")),
            "found_on_first_search": sum(1 for t in searches if t == 1)}


def agents_estimate(phase: dict, args: argparse.Namespace) -> dict:
    """Agents a configuration carries: cases/s measured at saturation x headroom, each
    agent one case every --case-minutes."""
    per_min = phase["cases_per_s"] * 60
    return {"cases_per_min": per_min,
            "agents": per_min * args.headroom * args.case_minutes}


# -- parent ------------------------------------------------------------------------------------
def prepare(args: argparse.Namespace, work: Path) -> dict:
    corpus = Corpus(args.data, args.seed)
    queries = [{"text": q["problem"]} for q in corpus.queries]
    (work / "queries.json").write_text(json.dumps(queries, ensure_ascii=False), "utf-8")
    corpus.write_csv(work / "corpus.csv", args.docs)
    return corpus.describe()


def cache_path(args: argparse.Namespace) -> Path:
    return CACHE / f"pg-vectors-{args.docs}-seed{args.seed}.npz"


def vectors_only(args: argparse.Namespace) -> None:
    """Encode the corpus into the vector cache and stop (--vectors-only)."""
    with tempfile.TemporaryDirectory(prefix="kf_pg_", dir=args.tmp) as tmp:
        work = Path(tmp)
        prepare(args, work)
        (work / "plan.json").write_text(json.dumps(
            {"stores": [{"name": "any", "data_dir": str(work / "none"), "url": ""}],
             "corpus": str(work / "corpus.csv"), "cache": str(cache_path(args))}), "utf-8")
        stores_child(argparse.Namespace(work=str(work), vectors_only=True))
    say(f"vector cache ready: {cache_path(args)}")


def write(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")


def postmaster_pid(cluster: Cluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().splitlines()[0])


def run(args: argparse.Namespace) -> dict:
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise SystemExit(f"--phases: unknown {', '.join(unknown)} (known: {', '.join(PHASES)})")
    reason = Cluster.missing()
    if reason:
        raise SystemExit(f"no PostgreSQL here: {reason}")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    out_path = Path(args.out)
    result: dict = {"benchmark": "pg", "commit": git_commit(), "machine": machine(),
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "args": vars(args), "loadavg_start": os.getloadavg(), "complete": False}
    started = time.perf_counter()
    servers: list[Server] = []
    cluster = Cluster(durable=True)
    try:
        with tempfile.TemporaryDirectory(prefix="kf_pg_", dir=args.tmp) as tmp:
            work = Path(tmp)
            result["corpus"] = prepare(args, work)
            say(f"corpus of {args.docs} documents ready")
            pg_url = cluster.new_database()
            stores = [{"name": "sqlite", "data_dir": str(work / "sqlite"), "url": ""},
                      {"name": "postgresql", "data_dir": str(work / "pg-a"), "url": pg_url}]
            for s in stores:
                knownfix(Path(s["data_dir"]), s["url"], "demo")
            say("demo knowledge bases made")
            (work / "plan.json").write_text(json.dumps(
                {"stores": stores, "corpus": str(work / "corpus.csv"),
                 "cache": str(cache_path(args))}), "utf-8")
            child = work / "stores.json"
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stores-child",
                            "--work", str(work), "--result", str(child)], check=True)
            result["stores"] = json.loads(child.read_text("utf-8"))
            write(result, out_path)
            if phases:
                result["api"] = api_phases(args, work, stores, phases, cluster, servers,
                                           out_path, result)
    finally:
        for s in servers:
            s.stop()
        cluster.stop()
    result["loadavg_end"] = os.getloadavg()
    result["total_s"] = time.perf_counter() - started
    result["complete"] = True
    write(result, out_path)
    return result


def api_phases(args: argparse.Namespace, work: Path, stores: list[dict], phases: list[str],
               cluster: Cluster, servers: list[Server], out_path: Path, result: dict) -> dict:
    sqlite_dir, pg_a = Path(stores[0]["data_dir"]), Path(stores[1]["data_dir"])
    pg_url = stores[1]["url"]
    pg_b = work / "pg-b"  # server B: its own data folder, a copy of A's index
    shutil.copytree(pg_a, pg_b)
    keys = {"sqlite": tokens(sqlite_dir, "", args.clients),
            "pg": tokens(pg_a, pg_url, args.clients)}
    texts = fault_texts(work)
    wanted = {"sqlite"} if any(p.startswith("sqlite") for p in phases) else set()
    wanted |= {"A"} if any(p.startswith("pg") for p in phases) else set()
    wanted |= {"A", "B"} if any(p.startswith("pg-2") or p == "cross" for p in phases) \
        else set()
    named = {"sqlite": (sqlite_dir, ""), "A": (pg_a, pg_url), "B": (pg_b, pg_url)}
    for name in ("sqlite", "A", "B"):
        if name in wanted:
            data, url = named[name]
            servers.append(Server(name, data, url, work / f"api-{name}.log"))
    say(f"starting {len(servers)} API servers at once (each loads the model and index "
        "and trains its classifiers)")
    for s in servers:
        s.wait(args.start_timeout)
    by_name = {s.name: s for s in servers}
    out: dict = {"ready_s": {s.name: s.ready_s for s in servers}, "phases": {}}
    say("ready: " + ", ".join(f"{s.name} {s.ready_s:.0f} s" for s in servers))
    pg_pid = postmaster_pid(cluster)
    for phase in phases:
        if phase == "cross":
            for s in servers:
                s.pause(s.name not in ("A", "B"))
            settle([by_name["A"], by_name["B"]])
            say(f"{args.closes} cases closed on A, each searched for on B")
            out["cross"] = {"loadavg_start": os.getloadavg(), **close_to_found(
                by_name["A"], by_name["B"], keys["pg"][0], texts, args.closes, args.seed)}
            out["cross"]["loadavg_end"] = os.getloadavg()
            c = out["cross"]
            say(f"found on B: p50 {c['p50_ms']:.0f} ms, p95 {c['p95_ms']:.0f} ms, "
                f"{c['not_found_in_s']} not found in {CROSS_WAIT:.0f} s")
            result["api"] = out
            write(result, out_path)
            continue
        base = phase.removesuffix("-busy")
        chosen = {"sqlite-1": ["sqlite"], "pg-1": ["A"], "pg-2": ["A", "B"]}[base]
        say(f"phase {phase}: {args.clients} agents for {args.seconds:.0f} s")
        got = run_phase(phase, [by_name[n] for n in chosen], servers,
                        keys["sqlite" if base.startswith("sqlite") else "pg"], texts, args,
                        None if base.startswith("sqlite") else pg_pid)
        got["agents_estimate"] = agents_estimate(got, args)
        out["phases"][phase] = got
        a = got["ops"]["all"]
        say(f"phase {phase}: {a['rps']:.1f} req/s, {got['cases_per_s']:.2f} cases/s, p50 "
            f"{a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms, errors {a['errors'] or 'none'}")
        result["api"] = out
        write(result, out_path)
    for s in servers:
        s.pause(False)
    out["log_faults"] = {s.name: s.log_faults() for s in servers}
    return out


# -- report ------------------------------------------------------------------------------------
def loads(triple) -> str:
    return " / ".join(f"{x:.2f}" for x in triple)


def section(r: dict) -> list[str]:
    """The Markdown section of docs/benchmarks.md for one result (pg.json)."""
    st = r["stores"]["stores"]
    sq, pg = st["sqlite"], st["postgresql"]
    args, m = r["args"], r["machine"]
    api = r.get("api", {})
    lines = [
        "## PostgreSQL next to SQLite (`make bench-pg`)",
        "",
        f"`bench/bench_pg.py` (commit {r['commit']}, {r['at'][:16].replace('T', ' ')} UTC, "
        f"{m['cpu_count']} cores ({m['cpu_model']}), {m['ram_gb']} GB RAM; load average "
        f"{loads(r['loadavg_start'])} at the start"
        + (f", {loads(r['loadavg_end'])} at the end" if "loadavg_end" in r else "")
        + f"). {sq['rows']:,} corpus documents (bench/corpus.py) imported into each "
        "store after the demo knowledge base; PostgreSQL 15 on this machine with its durable "
        "defaults (every commit waits for its WAL flush), SQLite as the product opens it "
        "(WAL, synchronous=NORMAL: a commit does not wait for the disk). The bundled model "
        f"encoded the {r['stores']['distinct_texts']:,} distinct descriptions once and both "
        "imports took their vectors from that cache: the import rows/s below are the "
        "pipeline without the model; the row after adds the model's time back, at the "
        f"{BARE_MODEL_ROWS_S} rows/s it encodes on these cores (bench_scale, above). "
        "Import: `Engine.import_file` (the rows written, then the "
        "index caught up and saved). Search and triage: one process with both engines "
        "open; the classifiers were trained once (on SQLite) and given to the PostgreSQL "
        "engine, since they fit the same records and vectors.",
        "",
        "| at 100k documents | SQLite | PostgreSQL |" if sq["rows"] >= 100_000 else
        f"| at {sq['rows']:,} documents | SQLite | PostgreSQL |",
        "|---|---|---|",
        f"| import, rows/s (database write + index, model vectors cached) | "
        f"{sq['import_rows_per_s']:.0f} | {pg['import_rows_per_s']:.0f} |",
        f"| import with the model, rows/s (estimated) | {with_model(sq, r):.0f} | "
        f"{with_model(pg, r):.0f} |",
        f"| database write alone, rows/s | {sq['import_kb_rows_per_s']:.0f} | "
        f"{pg['import_kb_rows_per_s']:.0f} |",
        f"| search p50 / p95, ms | {sq['search_p50_ms']:.0f} / {sq['search_p95_ms']:.0f} | "
        f"{pg['search_p50_ms']:.0f} / {pg['search_p95_ms']:.0f} |",
        f"| triage p50 / p95, ms | {sq['triage_p50_ms']:.0f} / {sq['triage_p95_ms']:.0f} | "
        f"{pg['triage_p50_ms']:.0f} / {pg['triage_p95_ms']:.0f} |",
        f"| reading the labelled records for a training, s | {sq['read_labelled_s']:.1f} | "
        f"{pg['read_labelled_s']:.1f} |",
        f"| database size, MB | {sq['db_mb']:.0f} | {pg['db_mb']:.0f} |",
        f"| load average at the import's start → end | {sq['loadavg_start'][0]:.2f} → "
        f"{sq['loadavg_after_import'][0]:.2f} | {pg['loadavg_start'][0]:.2f} → "
        f"{pg['loadavg_after_import'][0]:.2f} |",
        "",
        f"Searches and triages went to the two stores in turn, query by query ("
        f"{sq['search_n']} queries each; load average {r['stores']['lookups_loadavg_start'][0]:.2f}"
        f" → {r['stores']['lookups_loadavg_end'][0]:.2f}). The first triage on SQLite, which "
        f"trains the classifiers on the labelled records, took {sq['first_triage_s']:.0f} s.",
        "",
    ]
    if api.get("phases"):
        lines += api_section(api, args)
    return lines


def with_model(store: dict, r: dict) -> float:
    """Import rows/s with the model's time added back: each distinct description encoded
    at BARE_MODEL_ROWS_S."""
    per_row = 1 / store["import_rows_per_s"] + (
        r["stores"]["distinct_texts"] / store["rows"]) / BARE_MODEL_ROWS_S
    return 1 / per_row


PHASE_NAMES = {"sqlite-1": "SQLite, one server", "pg-1": "PostgreSQL, one server",
               "pg-2": "PostgreSQL, two servers", "pg-1-busy": "PostgreSQL, one server, "
               "one core busy elsewhere", "pg-2-busy": "PostgreSQL, two servers, one core "
               "busy elsewhere"}


def api_section(api: dict, args: dict) -> list[str]:
    ready = ", ".join(f"{n} {s:.0f} s" for n, s in api["ready_s"].items())
    lines = [
        "### The API on one and on two app servers",
        "",
        f"`knownfix api` servers on this machine ({served(api['ready_s'])}), each with its "
        f"own data folder and index. {args['clients']} agents "
        f"(threads of the load generator, on the same 2 cores) work cases for "
        f"{args['seconds']:.0f} s a configuration: open a case (which triages it), two "
        "searches, start, resolve (labels not confirmed), close; with two servers each "
        "request goes to the next server in turn. The servers started together, each "
        "loading the model and index and training its classifiers before it answers: "
        f"ready after {ready}.",
        "",
        "| configuration | req/s | cases/s | p50 ms | p95 ms | open p50 / p95 | "
        "search p50 / p95 | errors | CPU s: servers / PostgreSQL / generator | "
        "load avg start → end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ph in api["phases"].items():
        a, o, s = ph["ops"]["all"], ph["ops"]["open"], ph["ops"]["search"]
        errors = sum(a["errors"].values())
        pg = f"{ph['postgres_cpu_s']:.0f}" if ph.get("postgres_cpu_s") is not None else "—"
        lines.append(
            f"| {PHASE_NAMES[name]} | {a['rps']:.1f} | {ph['cases_per_s']:.2f} | "
            f"{a['p50_ms']:.0f} | {a['p95_ms']:.0f} | {o['p50_ms']:.0f} / {o['p95_ms']:.0f} | "
            f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f} | {errors} | "
            f"{' + '.join(f'{c:.0f}' for c in ph['server_cpu_s'])} / {pg} / "
            f"{ph['generator_cpu_s']:.0f} | {ph['loadavg_start'][0]:.2f} → "
            f"{ph['loadavg_end'][0]:.2f} |")
    lines += ["", "CPU per case worked (open, two searches, start, resolve, close), from the "
              "CPU seconds above:", ""]
    for name, ph in api["phases"].items():
        pg = ph.get("postgres_cpu_ms_per_case")
        lines.append(f"- {PHASE_NAMES[name]}: {ph['server_cpu_ms_per_case']:.0f} ms on the app "
                     "server(s)" + (f", {pg:.0f} ms in PostgreSQL" if pg is not None else ""))
    lines += ["", "Agents one configuration carries, if an agent at a busy hour works one "
              f"case every {args['case_minutes']:g} minutes and a server is planned at "
              f"{args['headroom']:.0%} of the throughput measured here:", ""]
    lines += [f"- {PHASE_NAMES[n]}: {ph['agents_estimate']['cases_per_min']:.0f} cases a "
              f"minute at saturation → about {ph['agents_estimate']['agents']:.0f} agents"
              for n, ph in api["phases"].items()]
    if "cross" in api:
        c = api["cross"]
        lines += ["", f"A case closed on server A, searched for on B with its own "
                  f"description until found ({c['closes']} closes one after another, "
                  f"load average {c['loadavg_start'][0]:.2f} → {c['loadavg_end'][0]:.2f}): "
                  f"p50 {c['p50_ms']:.0f} ms, p95 {c['p95_ms']:.0f} ms, worst "
                  f"{c['max_ms']:.0f} ms from the close's answer to B's answer that had it; "
                  f"{c['found_on_first_search']} found by the first search, "
                  f"{c['not_found_in_s']} not within {CROSS_WAIT:.0f} s."]
    return [*lines, "", *findings(api["phases"]), ""]


def served(ready: dict) -> str:
    names = {"sqlite": "one on SQLite", "A": "A", "B": "B"}
    pg = [names[n] for n in ("A", "B") if n in ready]
    parts = [names["sqlite"]] if "sqlite" in ready else []
    if pg:
        parts.append(f"{' and '.join(pg)} on the PostgreSQL database")
    return "; ".join(parts)


def deploy_rows(r: dict) -> list[str]:
    """The figures of docs/deploy.md's capacity table (SQLite one server, PostgreSQL one
    server, PostgreSQL two servers)."""
    st = r["stores"]["stores"]
    sq, pg = st["sqlite"], st["postgresql"]
    ph = r.get("api", {}).get("phases", {})
    c = r.get("api", {}).get("cross")

    def rps(name: str) -> str:
        if name not in ph:
            return "—"
        a = ph[name]["ops"]["all"]
        return f"{a['rps']:.1f} (p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms)"

    return [
        f"| import, rows/s at {sq['rows']:,} documents (model vectors cached) | "
        f"{sq['import_rows_per_s']:.0f} | {pg['import_rows_per_s']:.0f} | — |",
        f"| triage p50 / p95, ms | {sq['triage_p50_ms']:.0f} / {sq['triage_p95_ms']:.0f} | "
        f"{pg['triage_p50_ms']:.0f} / {pg['triage_p95_ms']:.0f} | — |",
        f"| search p50 / p95, ms | {sq['search_p50_ms']:.0f} / {sq['search_p95_ms']:.0f} | "
        f"{pg['search_p50_ms']:.0f} / {pg['search_p95_ms']:.0f} | — |",
        f"| API requests/s ({r['args']['clients']} clients) | {rps('sqlite-1')} | "
        f"{rps('pg-1')} | {rps('pg-2')} |",
        *([f"| closed case found on the other server, p50 / p95 ms ({c['closes']} closes) | "
           f"— | — | {c['p50_ms']:.0f} / {c['p95_ms']:.0f} |"] if c else []),
    ]


def findings(phases: dict) -> list[str]:
    """What one and two servers on these 2 cores show, in figures from the phases run."""
    one, two = phases.get("pg-1"), phases.get("pg-2")
    if not one or not two:
        return []
    cores = [sum(ph["server_cpu_s"]) / ph["elapsed_s"] for ph in (one, two)]
    gain = two["cases_per_s"] / one["cases_per_s"]
    extra = two["server_cpu_ms_per_case"] / one["server_cpu_ms_per_case"]
    pg = one.get("postgres_cpu_ms_per_case") or float("nan")
    machine = (sum(one["server_cpu_s"]) + (one["postgres_cpu_s"] or 0)
               + one["generator_cpu_s"]) / one["elapsed_s"]
    return [
        "What one and two servers on these 2 cores show, and what they cannot:",
        "",
        f"- One server used {cores[0]:.2f} cores of the 2 (app server, PostgreSQL and load "
        f"generator together {machine:.2f}); two servers {cores[1]:.2f}. Two servers worked "
        f"{gain:.2f}x the cases of one. Both run on the same 2 cores as PostgreSQL and the "
        "load generator, so the pair cannot show what a second machine adds; it shows what "
        "a second process costs and that the servers agree (each request of a case went to "
        "the other server than the one before, with the If-Match of the previous answer).",
        f"- App-server CPU per case with two servers: {extra:.2f}x that with one. Each "
        "server keeps its own index and catches up with every change the other commits "
        "(woken by NOTIFY), so a change's index work is done once per server.",
        f"- PostgreSQL spent {pg:.0f} ms of CPU per case with one server: a core of it keeps "
        f"up with about {1000 / pg:.0f} cases/s before it is the limit; writes take turns on "
        "one lock, so the database, not the app servers, sets the ceiling once enough "
        "servers share it.",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=100_000, help="corpus documents per store")
    p.add_argument("--clients", type=int, default=20, help="agents of the API load")
    p.add_argument("--seconds", type=float, default=60.0, help="load per configuration")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"API configurations, in order (empty: none): {', '.join(PHASES)}")
    p.add_argument("--closes", type=int, default=100,
                   help="cases closed on server A and searched for on B (phase cross)")
    p.add_argument("--case-minutes", type=float, default=5.0,
                   help="an agent's minutes per case at a busy hour (the estimate)")
    p.add_argument("--headroom", type=float, default=0.5,
                   help="share of the measured throughput a server is planned at")
    p.add_argument("--start-timeout", type=float, default=1800.0,
                   help="seconds an API server may take to be ready")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "pg.json"))
    p.add_argument("--tmp", default=None, help="folder for the temporary data folders")
    p.add_argument("--report", action="store_true",
                   help="print the Markdown section from --out and stop")
    p.add_argument("--vectors-only", action="store_true",
                   help="only encode the corpus into the vector cache (the slow part, once)")
    p.add_argument("--stores-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stores_child:
        Path(args.result).write_text(json.dumps(stores_child(args)), "utf-8")
        return 0
    if args.vectors_only:
        vectors_only(args)
        return 0
    if args.report:
        result = json.loads(Path(args.out).read_text("utf-8"))
        print("\n".join([*section(result), "", "docs/deploy.md:", *deploy_rows(result)]))
        return 0
    result = run(args)
    print("\n".join(section(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
