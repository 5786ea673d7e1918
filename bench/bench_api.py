"""Benchmark: the HTTP API under load — many clients triaging and working cases at once.

What it does, the way a user would:

  data     `knownfix demo` into a temporary data folder (the demo KB, the real bundled
           model), then `knownfix import` of --records real repair records (Open Repair
           Alliance, CC BY-SA 4.0, read from --data; --queries more are held out as fault
           texts and never imported), and one token per client
           (`knownfix token create agent|engineer`, alternating).  Each run works on a
           fresh copy of that folder.
  server   `python -m cli.main api --port P --data-dir D` (uvicorn, one worker) on a free
           loopback port; the run waits for GET /api/v1/health.
  baseline one client, --baseline triage requests one after another: the API's triage
           latency with nothing else asking.
  load     --clients threads for --seconds, each with its own keep-alive httpx client and
           token, alternating a triage (POST /api/v1/triage; Chinese and English in turn:
           the demo cases' descriptions, bench_app's faults and the held-out repair
           records) with the next step of its current case: POST /cases (Idempotency-Key;
           every RETRY_EVERY-th open is sent twice with the same key and must be replayed),
           then, each with If-Match of the ETag it holds, an agent's PATCH (contact),
           start, delay, escalate, link, resolve, confirm, close, or an engineer's start,
           dispatch, service-record, link, resolve, confirm, close.  A request counts when
           it was sent before the end; it is timed from send to the whole answer read.
  verify   every case a client opened and did not give up on is read back: its version
           and state must be what the client's last answer said (a lost or unexplained
           write shows here).
  encode   in this process, the bundled model encoding each fault text alone, as the
           index encodes a query (`make_encoder(model).encode([text], batch_size)`), in a
           worker thread as the API's handlers run: median ms per text, next to triage p50
           through the API (and a sample in the main thread, which differs on a busy
           machine).

With --with-app, each run of the idle phase is followed by a run of the same load while
the Streamlit app is in use: `knownfix serve` on the same data folder, and headless
Chromium opening app sessions one after another (sign in as agent, submit a case, wait
for its triage drawn; bench_app.py's steps) for the whole load.  The app's own figures
count the sessions whose triage was submitted inside the load window.

Reported per operation and overall: requests, req/s, p50/p95/p99 ms and errors by status
(medians over --runs runs; errors summed), with the machine's size and the load average
at the start and end.  Raw results: bench/results/api_load.json (rewritten after every
run, "complete": false until the last).

Usage (from the repo root):
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_api.py --seconds 10 --runs 1
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_api.py                 # 20 clients, 60 s, 3 runs
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_api.py --with-app
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_app import FAULTS, WATCH, first_page, signed_in, triage_drawn  # noqa: E402
from bench_import_triage import (  # noqa: E402
    DEFAULT_DATA,
    git_commit,
    machine,
    percentile,
    prepare,
)

from service.demo import DEMO_DIR  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM_ARGS,
    _env,
    _free_port,
    _stop,
    _wait_healthy,
    served_app,
)
from tests.browser.driver import CHROMIUM  # noqa: E402

RESULTS = REPO / "bench" / "results"
TIMEOUT = 120.0  # seconds an HTTP request may take before it counts as an error
SLOW_MS = 1000.0  # a triage the server spent longer on than this is counted apart
RETRY_EVERY = 10  # every n-th case a client opens is sent twice with one Idempotency-Key
CJK = re.compile(r"[\u3400-\u9fff]")
CHANNELS = ("phone", "email", "web", "onsite")
# One case's steps after it is opened, by the role of the client's token.
FLOWS = {
    "agent": ("update", "start", "delay", "escalate", "link", "resolve", "confirm", "close"),
    "engineer": ("start", "dispatch", "service-record", "link", "resolve", "confirm",
                 "close"),
}
STEPS: dict[str, tuple[str, str, dict[str, Any]]] = {  # method, path under the case, body
    "update": ("PATCH", "", {"contact": "王先生 138-0000-0000"}),
    "start": ("POST", "/start", {}),
    "delay": ("POST", "/delay", {"code": "B", "note": "等备件 waiting for a part"}),
    "escalate": ("POST", "/escalate", {"to": "engineer", "reason": "需要现场 on-site visit"}),
    "dispatch": ("POST", "/dispatch", {"assignee": "engineer", "place": "B座机房",
                                       "parts": ["4TB 监控硬盘"]}),
    "service-record": ("POST", "/service-record", {"cause": "硬盘坏道 bad sectors",
                                                   "steps": "更换3号硬盘并初始化"}),
    "link": ("POST", "/links", {"helpful": True}),
    "resolve": ("POST", "/resolve", {"fix": "按建议处理后恢复 fixed as suggested",
                                     "confirm": True}),
    "confirm": ("POST", "/confirm", {"satisfaction": 5, "comment": "很及时"}),
    "close": ("POST", "/close", {}),
}
OP_ORDER = ["triage", "open", "open (retry)", *STEPS, "all"]


# -- the data folder ----------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    username: str
    token: str


@dataclass(frozen=True)
class Texts:
    """Real fault descriptions, Chinese and English (and the other European languages of
    the repair records), drawn in turn."""

    zh: list[str]
    en: list[str]

    def pick(self, k: int, rng: random.Random) -> tuple[str, str]:
        lang = "zh" if k % 2 == 0 else "en"
        return lang, rng.choice(self.zh if lang == "zh" else self.en)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def knownfix(data_dir: Path, *args: str) -> str:
    """Run `python -m cli.main ARGS --data-dir DATA_DIR` as a user would; its stdout."""
    done = subprocess.run([sys.executable, "-m", "cli.main", *args, "--data-dir", str(data_dir)],
                          cwd=REPO, env=_env(data_dir), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"knownfix {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def build_data(args: argparse.Namespace, work: Path) -> tuple[Path, dict]:
    """The data folder every run copies: the demo KB, the repair records, no tokens yet."""
    data = work / "pristine"
    say("knownfix demo …")
    knownfix(data, "demo")
    info = prepare(argparse.Namespace(data=args.data, seed=args.seed, queries=args.queries,
                                      limit=args.records), work)
    info["import_s"] = 0.0
    if args.records:
        say(f"knownfix import of {info['import_rows']} repair records …")
        t = time.perf_counter()
        out = knownfix(data, "import", info["csv"], "--text", "problem", "--id", "id",
                       "--label", "device=product_category", "--label", "status=repair_status")
        info["import_s"] = time.perf_counter() - t
        info["import_summary"] = out.splitlines()[0] if out else ""
    info["settings"] = pin_settings(data, args.setting)
    return data, info


def pin_settings(data: Path, pairs: list[str]) -> dict[str, str]:
    """Save NAME=VALUE settings in the data folder's settings.json, as the Admin page
    does (a bad name or value stops the benchmark here)."""
    from settings import load_settings, save_settings

    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--setting {pair!r}: give NAME=VALUE, e.g. sync_retrain_max=0")
        values[name.strip()] = value.strip()
    if values:
        from errors import SettingsError

        try:
            save_settings(load_settings(str(data), **values))
        except SettingsError as exc:
            raise SystemExit(f"--setting: {exc}") from None
    return values


def make_tokens(data: Path, clients: int) -> list[Token]:
    """One token per client: agents and engineers in turn."""
    tokens = []
    for i in range(clients):
        user = "agent" if i % 2 == 0 else "engineer"
        made = json.loads(knownfix(data, "token", "create", user, "--name", f"bench-{i}",
                                   "--json"))
        tokens.append(Token(user, made["token"]))
    return tokens


def fault_texts(work: Path) -> Texts:
    demo = [json.loads(line)["description"] for line in
            (DEMO_DIR / "cases.jsonl").read_text("utf-8").splitlines() if line.strip()]
    held = [q["text"] for q in json.loads((work / "queries.json").read_text("utf-8"))]
    texts = [*FAULTS, *demo, *held]
    return Texts([t for t in texts if CJK.search(t)], [t for t in texts if not CJK.search(t)])


# -- the server ---------------------------------------------------------------------------
@contextmanager
def served_api(data_dir: Path, log: Path) -> Iterator[tuple[str, int]]:
    """`python -m cli.main api` for `data_dir` on a free loopback port, its output in
    `log`; yields its base URL and pid once /api/v1/health answers, stops it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--data-dir",
             str(data_dir)], cwd=REPO, env=_env(data_dir), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, proc, log, "/api/v1/health", "knownfix api")
        yield url, proc.pid
    finally:
        _stop(proc)


# -- the clients --------------------------------------------------------------------------
@dataclass
class Sample:
    op: str
    status: int | str  # the HTTP status, or the class of the transport error
    ms: float
    at: float  # seconds from the start of the load to sending the request
    lang: str = ""
    server_ms: float | None = None  # a triage's own timings_ms: the whole, and encoding
    encode_ms: float | None = None


def ok(status: int | str) -> bool:
    return isinstance(status, int) and 200 <= status < 300


@dataclass
class OpenCase:
    id: str
    etag: str
    state: str
    steps: list[str]
    fix: str | None  # the best suggested fix, to mark as used
    given_up: bool = False


class Worker:
    """One client: its own keep-alive connection and token; triage and case steps in turn."""

    def __init__(self, url: str, token: Token, texts: Texts, t0: float, seed: int) -> None:
        self.http = httpx.Client(base_url=f"{url}/api/v1", timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {token.token}"})
        self.role = token.username
        self.texts, self.t0 = texts, t0
        self.rng = random.Random(seed)
        self.k = 0
        self.samples: list[Sample] = []
        self.problems: list[dict] = []  # the first answers of failed requests
        self.cases: list[OpenCase] = []
        self.case: OpenCase | None = None

    def run(self, until: float) -> None:
        while time.perf_counter() < until:
            self.triage()
            if time.perf_counter() < until:
                self.case_step()
        self.http.close()

    def request(self, op: str, method: str, path: str, lang: str = "",
                **kw: Any) -> httpx.Response | None:
        """Send one request and keep its sample; the response when one came."""
        start = time.perf_counter()
        try:
            r = self.http.request(method, path, **kw)
            status: int | str = r.status_code
        except httpx.HTTPError as exc:
            r, status = None, type(exc).__name__
        self.samples.append(Sample(op, status, (time.perf_counter() - start) * 1e3,
                                   start - self.t0, lang))
        if not ok(status) and len(self.problems) < 5:
            self.problems.append({"op": op, "path": path, "status": status,
                                  "body": r.text[:400] if r is not None else ""})
        return r

    def triage(self) -> None:
        lang, text = self.texts.pick(self.k, self.rng)
        self.k += 1
        r = self.request("triage", "POST", "/triage", lang, json={"text": text})
        if r is not None and r.status_code == 200:
            timings = r.json().get("timings_ms") or {}
            self.samples[-1].server_ms = sum(timings.values())
            self.samples[-1].encode_ms = timings.get("encode")

    def case_step(self) -> None:
        case = self.case
        if case is None or not case.steps:
            self.open_case()
            return
        op = case.steps.pop(0)
        method, suffix, body = step(op, case)
        r = self.request(op, method, f"/cases/{quote(case.id, safe='')}{suffix}", json=body,
                         headers={"If-Match": case.etag})
        if r is None or not ok(r.status_code):
            case.steps.clear()
            case.given_up = True
        elif op != "link":  # a link leaves the case (and its ETag) as it was
            case.etag, case.state = r.headers["etag"], r.json()["state"]

    def open_case(self) -> None:
        lang, text = self.texts.pick(self.k, self.rng)
        self.k += 1
        body = {"description": text, "channel": self.rng.choice(CHANNELS),
                "customer": "压测客户 load test"}
        key = str(uuid.uuid4())
        r = self.request("open", "POST", "/cases", lang, json=body,
                         headers={"Idempotency-Key": key})
        if r is None or r.status_code != 201:
            self.case = None
            return
        got = r.json()
        matches = (got.get("triage") or {}).get("matches") or []
        fix = matches[0]["key"] if matches else None
        steps = [s for s in FLOWS[self.role] if s != "link" or fix]
        self.case = OpenCase(got["id"], r.headers["etag"], got["state"], steps, fix)
        self.cases.append(self.case)
        if len(self.cases) % RETRY_EVERY == 1:
            self.retry_open(key, body, got["id"])

    def retry_open(self, key: str, body: dict, case_id: str) -> None:
        """The same open again, as a client whose answer was lost: it must be replayed."""
        r = self.request("open (retry)", "POST", "/cases", json=body,
                         headers={"Idempotency-Key": key})
        if r is not None and ok(r.status_code) and (
                r.headers.get("idempotent-replayed") != "true" or r.json()["id"] != case_id):
            self.samples[-1].status = "not replayed"


def step(op: str, case: OpenCase) -> tuple[str, str, dict[str, Any]]:
    """Method, path under the case and body of one step of its flow."""
    method, suffix, body = STEPS[op]
    if op == "link":
        body = {**body, "target": case.fix}
    elif op == "dispatch":
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        body = {**body, "planned_at": tomorrow.isoformat(timespec="seconds")}
    return method, suffix, body


def run_load(url: str, tokens: list[Token], texts: Texts, seconds: float,
             seed: int) -> tuple[list[Worker], float]:
    """Every client for `seconds`; the workers and the seconds until the last finished."""
    t0 = time.perf_counter()
    workers = [Worker(url, tok, texts, t0, seed * 1000 + i) for i, tok in enumerate(tokens)]
    threads = [threading.Thread(target=w.run, args=(t0 + seconds,), name=f"client-{i}")
               for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return workers, time.perf_counter() - t0


def baseline(url: str, token: Token, texts: Texts, n: int) -> list[Sample]:
    """One client alone: n triage requests one after another."""
    w = Worker(url, token, texts, time.perf_counter(), 7)
    for _ in range(n):
        w.triage()
    w.http.close()
    return w.samples


def verify(url: str, token: Token, workers: list[Worker]) -> dict:
    """Read every case back: its version and state are what the client last saw."""
    checked, wrong = 0, []
    with httpx.Client(base_url=f"{url}/api/v1", timeout=TIMEOUT,
                      headers={"Authorization": f"Bearer {token.token}"}) as http:
        for case in (c for w in workers for c in w.cases if not c.given_up):
            r = http.get(f"/cases/{quote(case.id, safe='')}")
            checked += 1
            if r.status_code != 200 or (r.headers["etag"], r.json()["state"]) != (
                    case.etag, case.state):
                wrong.append({"id": case.id, "expected": [case.etag, case.state],
                              "status": r.status_code, "found": r.text[:300]})
    return {"cases_checked": checked, "mismatched": wrong}


# -- the app in use -----------------------------------------------------------------------
class AppUser(threading.Thread):
    """Headless Chromium using the app: session after session (sign in as agent, submit a
    case, its triage drawn) until stopped.  The first session only warms up; `ready` is
    set once it is done."""

    def __init__(self, url: str) -> None:
        super().__init__(name="app-user", daemon=True)
        self.url = url
        self.ready, self.halt = threading.Event(), threading.Event()
        self.sessions: list[dict] = []
        self.error = ""

    def run(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                n = 0
                while not self.halt.is_set():
                    found = self.session(browser, FAULTS[n % len(FAULTS)])
                    if n:
                        self.sessions.append(found)
                    n += 1
                    self.ready.set()
                browser.close()
        except Exception as exc:  # report it; the API figures still stand
            self.error = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            self.ready.set()

    def session(self, browser: Any, text: str) -> dict:
        from playwright.sync_api import Error as PlaywrightError

        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        try:
            page = ctx.new_page()
            page.add_init_script(WATCH)  # the in-page timing of bench_app.py
            out = {"first_page_s": first_page(page, self.url), "sign_in_s": signed_in(page)}
            took, _ = triage_drawn(page, text)
            return {**out, "triage_s": took, "triage_at": time.perf_counter() - took}
        except PlaywrightError as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            ctx.close()


@contextmanager
def app_in_use(data_dir: Path, log: Path) -> Iterator[AppUser]:
    """`knownfix serve` on `data_dir` and a browser using it; yields once warmed up."""
    with served_app(data_dir, log) as url:
        user = AppUser(url)
        user.start()
        user.ready.wait()
        try:
            yield user
        finally:
            user.halt.set()
            user.join(timeout=300)


def app_figures(user: AppUser, t0: float, seconds: float) -> dict:
    """The app's sessions whose triage was submitted inside the load window, which
    began at perf_counter `t0` (session times in the JSON are relative to it)."""
    sessions = [{**s, "triage_at": s["triage_at"] - t0} if "triage_at" in s else s
                for s in user.sessions]
    inside = [s for s in sessions if 0 <= s.get("triage_at", -1) <= seconds]
    triage = [s["triage_s"] * 1e3 for s in inside]
    return {"sessions": sessions, "error": user.error,
            "sessions_in_window": len(inside),
            "failed_sessions": sum("error" in s for s in user.sessions),
            "sign_in_s_median": median([s["sign_in_s"] for s in inside]),
            "triage_ms_p50": percentile(triage, .5), "triage_ms_p95": percentile(triage, .95),
            "triage_ms_max": max(triage, default=float("nan"))}


# -- the model alone ----------------------------------------------------------------------
MAIN_THREAD_SAMPLE = 20  # texts per language also encoded in the main thread


def encode_ms(data_dir: Path, texts: Texts) -> dict:
    """The bundled model encoding each text alone, as the index encodes a query
    (`encode([text], batch_size)`), in a worker thread as the API does (FastAPI runs its
    handlers in a thread pool); ms per text by language.  For comparison, a sample in
    this process's main thread, where torch's threads behave differently on a busy
    machine (see docs/benchmarks.md)."""
    from indexer.encoder import make_encoder
    from settings import load_settings

    settings = load_settings(str(data_dir))
    encoder = make_encoder(settings.model)
    encoder.encode(FAULTS, settings.encode_batch_size)  # warm

    def timed(pool: list[str]) -> list[float]:
        times = []
        for text in pool:
            t = time.perf_counter()
            encoder.encode([text], settings.encode_batch_size)
            times.append((time.perf_counter() - t) * 1e3)
        return times

    out: dict = {"model": settings.model}
    worker = threading.Thread(target=lambda: out.update(zh=timed(texts.zh), en=timed(texts.en)))
    worker.start()
    worker.join()
    out["p50_ms"] = percentile(out["zh"] + out["en"], .5)
    out["main_thread"] = timed(texts.zh[:MAIN_THREAD_SAMPLE] + texts.en[:MAIN_THREAD_SAMPLE])
    out["main_thread_p50_ms"] = percentile(out["main_thread"], .5)
    return out


# -- figures ------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def op_figures(samples: list[Sample], seconds: float) -> dict:
    ms = [s.ms for s in samples]
    errors = Counter(str(s.status) for s in samples if not ok(s.status))
    return {"requests": len(samples), "rps": len(samples) / seconds,
            "p50_ms": percentile(ms, .5), "p95_ms": percentile(ms, .95),
            "p99_ms": percentile(ms, .99), "errors": dict(errors)}


def load_figures(workers: list[Worker], seconds: float) -> dict:
    """Per operation and overall; triage by language and as the server timed it."""
    sent = [s for w in workers for s in w.samples]
    by_op: dict[str, list[Sample]] = defaultdict(list)
    for s in sent:
        by_op[s.op].append(s)
    triage = [s for s in by_op["triage"] if ok(s.status)]
    return {
        "elapsed_s": seconds,
        "ops": {**{op: op_figures(ss, seconds) for op, ss in sorted(by_op.items())},
                "all": op_figures(sent, seconds)},
        "triage_p50_ms_by_lang": {lang: percentile([s.ms for s in triage if s.lang == lang],
                                                   .5) for lang in ("zh", "en")},
        "triage_server_p50_ms": percentile([s.server_ms for s in triage
                                            if s.server_ms is not None], .5),
        "triage_server_encode_p50_ms": percentile([s.encode_ms for s in triage
                                                   if s.encode_ms is not None], .5),
        # triages the server itself spent over a second on: the classifiers retrained
        # inside the request (prepare), with every other request waiting for the lock
        "triage_server_slow_ms": sorted(round(s.server_ms) for s in triage
                                        if s.server_ms is not None and s.server_ms > SLOW_MS),
        "problems": [p for w in workers for p in w.problems][:20],
        "samples": [[s.op, s.status, round(s.ms, 2), round(s.at, 3), s.lang] for s in sent],
    }


def log_errors(log: Path, most: int = 20) -> list[str]:
    """Lines of a server's log that tell of a fault (a traceback, an ERROR line)."""
    if not log.exists():
        return []
    lines = log.read_text("utf-8", errors="replace").splitlines()
    return [ln for ln in lines if "Traceback" in ln or "ERROR" in ln][:most]


def api_rss_mb(pid: int) -> float:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")


def one_run(phase: str, pristine: Path, work: Path, tokens: list[Token], texts: Texts,
            args: argparse.Namespace, n: int) -> dict:
    """A fresh copy of the data folder, the API (and with phase 'app' the app in use),
    the one-client baseline, the load, the read-back, then the model alone."""
    run_dir = work / f"{phase}-{n}"
    data = run_dir / "data"
    shutil.copytree(pristine, data)
    out: dict = {"phase": phase, "run": n, "loadavg_start": os.getloadavg()}
    with ExitStack() as stack:
        url, pid = stack.enter_context(served_api(data, run_dir / "api.log"))
        user = stack.enter_context(app_in_use(data, run_dir / "serve.log")) \
            if phase == "app" else None
        one = baseline(url, tokens[0], texts, args.baseline)
        out["baseline_triage_p50_ms"] = percentile([s.ms for s in one if ok(s.status)], .5)
        out["baseline_errors"] = dict(Counter(str(s.status) for s in one if not ok(s.status)))
        t0 = time.perf_counter()
        workers, elapsed = run_load(url, tokens, texts, args.seconds, args.seed + n)
        out["load"] = load_figures(workers, elapsed)
        if user:
            user.halt.set()
            user.join(timeout=300)
            out["app"] = app_figures(user, t0, args.seconds)
        out["verify"] = verify(url, tokens[0], workers)
        out["api_rss_mb"] = api_rss_mb(pid)
    out["server_log_errors"] = {name: log_errors(run_dir / name)
                                for name in ("api.log", "serve.log")}
    out["encode"] = encode_ms(data, texts)
    out["loadavg_end"] = os.getloadavg()
    shutil.rmtree(run_dir, ignore_errors=True)
    return out


def phase_medians(runs: list[dict]) -> dict:
    """Medians over the runs of a phase (errors summed)."""
    ops = sorted({op for r in runs for op in r["load"]["ops"]}, key=lambda o: (
        OP_ORDER.index(o) if o in OP_ORDER else len(OP_ORDER), o))
    med: dict = {"ops": {}}
    for op in ops:
        got = [r["load"]["ops"][op] for r in runs if op in r["load"]["ops"]]
        med["ops"][op] = {k: median([g[k] for g in got])
                          for k in ("requests", "rps", "p50_ms", "p95_ms", "p99_ms")}
        errors: Counter = Counter()
        for g in got:
            errors.update(g["errors"])
        med["ops"][op]["errors"] = dict(errors)
    for key in ("triage_server_p50_ms", "triage_server_encode_p50_ms"):
        med[key] = median([r["load"][key] for r in runs])
    for lang in ("zh", "en"):
        med[f"triage_p50_ms_{lang}"] = median([r["load"]["triage_p50_ms_by_lang"][lang]
                                               for r in runs])
    med["baseline_triage_p50_ms"] = median([r["baseline_triage_p50_ms"] for r in runs])
    if all("triage_server_slow_ms" in r["load"] for r in runs):
        slow = [r["load"]["triage_server_slow_ms"] for r in runs]
        med["triage_server_slow"] = median([len(x) for x in slow])
        med["triage_server_slow_median_ms"] = median([ms for x in slow for ms in x])
    med["encode_p50_ms"] = median([r["encode"]["p50_ms"] for r in runs])
    med["encode_main_thread_p50_ms"] = median([r["encode"]["main_thread_p50_ms"]
                                               for r in runs])
    med["api_rss_mb"] = median([r["api_rss_mb"] for r in runs])
    med["mismatched_cases"] = sum(len(r["verify"]["mismatched"]) for r in runs)
    med["cases_checked"] = sum(r["verify"]["cases_checked"] for r in runs)
    med["server_log_errors"] = sum(len(v) for r in runs for v in r["server_log_errors"].values())
    if all("app" in r for r in runs):
        med["app"] = {k: median([r["app"][k] for r in runs]) for k in (
            "sessions_in_window", "sign_in_s_median", "triage_ms_p50", "triage_ms_p95",
            "triage_ms_max")}
    return med


# -- report -------------------------------------------------------------------------------
def table(med: dict) -> str:
    lines = ["| operation | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|"]
    for op, f in med["ops"].items():
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(f["errors"].items())) or "none"
        name = f"**{op}**" if op == "all" else op
        lines.append(f"| {name} | {f['requests']:.0f} | {f['rps']:.1f} | {f['p50_ms']:.0f} | "
                     f"{f['p95_ms']:.0f} | {f['p99_ms']:.0f} | {errors} |")
    return "\n".join(lines)


def notes(med: dict, clients: int) -> str:
    triage = med["ops"]["triage"]["p50_ms"]
    enc = med["encode_p50_ms"]
    lines = [
        f"triage p50 through the API, {clients} clients: {triage:.0f} ms (zh "
        f"{med['triage_p50_ms_zh']:.0f}, en {med['triage_p50_ms_en']:.0f}); as the server "
        f"timed it {med['triage_server_p50_ms']:.0f} ms, of which encoding "
        f"{med['triage_server_encode_p50_ms']:.0f} ms",
        f"triages the server itself took over {SLOW_MS / 1e3:.0f} s for (the classifiers "
        f"retrained inside the request): {slow_note(med)}",
        f"triage p50 through the API, one client alone: {med['baseline_triage_p50_ms']:.0f} ms",
        f"bundled model alone, one text, in-process (worker thread): p50 {enc:.1f} ms -> "
        f"ratio triage p50 / encode p50: {triage / enc:.1f} with {clients} clients, "
        f"{med['baseline_triage_p50_ms'] / enc:.1f} alone (main thread: p50 "
        f"{med['encode_main_thread_p50_ms']:.1f} ms)",
        f"read back: {med['cases_checked']} cases, {med['mismatched_cases']} not as their "
        f"client last saw them; API process RSS {med['api_rss_mb']:.0f} MB; "
        f"{med['server_log_errors']} fault lines in the servers' logs",
    ]
    if "app" in med:
        a = med["app"]
        lines.append(f"app in use meanwhile: {a['sessions_in_window']:.0f} sessions a run; "
                     f"sign in {a['sign_in_s_median']:.2f} s; triage drawn p50 "
                     f"{a['triage_ms_p50']:.0f} ms, p95 {a['triage_ms_p95']:.0f} ms, worst "
                     f"{a['triage_ms_max']:.0f} ms")
    return "\n".join(f"- {line}" for line in lines)


def answered_per(samples: list[list], step: float = 10.0) -> list[int]:
    """Requests answered in each `step` seconds of the load (samples as in the JSON:
    op, status, ms, sent at s)."""
    ends = [s[3] + s[2] / 1e3 for s in samples]
    counts = [0] * (int(max(ends, default=0.0) // step) + 1)
    for end in ends:
        counts[int(end // step)] += 1
    return counts


def slow_note(med: dict) -> str:
    if "triage_server_slow" not in med:
        return "not recorded"
    if not med["triage_server_slow"]:
        return "none"
    return (f"{med['triage_server_slow']:.0f} a run, median "
            f"{med['triage_server_slow_median_ms'] / 1e3:.1f} s")


def loads(triple: tuple[float, ...] | list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in triple)


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")


def print_report(result: dict) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['ram_gb']} GB RAM; "
          f"commit {result['commit']}")
    print(f"load average (1/5/15 min): {loads(result['loadavg_start'])} at the start, "
          f"{loads(result['loadavg_end'])} at the end")
    d = result["data"]
    pinned = "".join(f", {k}={v}" for k, v in d.get("settings", {}).items())
    print(f"data: demo KB + {d['import_rows']} repair records (import {d['import_s']:.0f} s)"
          f"{pinned}; {result['args']['clients']} clients for "
          f"{result['args']['seconds']:.0f} s, medians of {result['args']['runs']} runs")
    for phase, body in result["phases"].items():
        print(f"\n## {PHASE_TITLES[phase]}\n")
        for r in body["runs"]:
            print(f"run {r['run']}: load average {loads(r['loadavg_start'])} -> "
                  f"{loads(r['loadavg_end'])}; answered per 10 s: "
                  f"{', '.join(map(str, answered_per(r['load']['samples'])))}")
        print()
        print(table(body["median"]))
        print()
        print(notes(body["median"], result["args"]["clients"]))


PHASE_TITLES = {"idle": "The API alone", "app": "The API while the app is in use"}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--records", type=int, default=3000,
                   help="repair records imported beside the demo (0: the demo alone)")
    p.add_argument("--queries", type=int, default=200,
                   help="repair records held out as fault texts (never imported)")
    p.add_argument("--baseline", type=int, default=40,
                   help="triage requests of the one-client baseline")
    p.add_argument("--with-app", action="store_true",
                   help="after each idle run, the same load with the app in use")
    p.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting saved in the data folder before the runs (repeatable), "
                   "e.g. sync_retrain_max=0")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "api_load.json"))
    p.add_argument("--tmp", default=None, help="folder for the temporary data folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.with_app and not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is not installed (`make test` installs it)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # the servers run this checkout's code, whatever the virtualenv was installed from
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    phases = ["idle", "app"] if args.with_app else ["idle"]
    result: dict = {"machine": machine(), "commit": git_commit(), "args": vars(args),
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "loadavg_start": os.getloadavg(), "complete": False,
                    "phases": {ph: {"runs": []} for ph in phases}}
    with tempfile.TemporaryDirectory(prefix="kf_api_", dir=args.tmp) as tmp:
        work = Path(tmp)
        pristine, result["data"] = build_data(args, work)
        tokens = make_tokens(pristine, args.clients)
        texts = fault_texts(work)
        result["data"].update(zh_texts=len(texts.zh), en_texts=len(texts.en))
        for n in range(1, args.runs + 1):
            for ph in phases:  # interleaved, so a busy spell on the machine hits both
                say(f"{ph} run {n} …")
                run = one_run(ph, pristine, work, tokens, texts, args, n)
                result["phases"][ph]["runs"].append(run)
                result["phases"][ph]["median"] = phase_medians(result["phases"][ph]["runs"])
                result["loadavg_end"] = os.getloadavg()
                write(Path(args.out), result)
    result["complete"] = True
    write(Path(args.out), result)
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
