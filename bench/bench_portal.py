"""Benchmark: the customer pages' rate limit under a flood from one address.

What it does:

  data     `knownfix demo` into a temporary data folder (the real bundled model; --fast:
           the hashing encoder), with `trusted_proxies` 127.0.0.1 so that clients on this
           machine can stand for many addresses (X-Forwarded-For), and a staff token
           (`knownfix token create agent`).
  server   `python -m cli.main api` (uvicorn, one worker, what `knownfix api` runs) on a
           free loopback port, the customer pages at /portal beside the API.
  baseline the staff API alone: GET /api/v1/cases?limit=20 at --staff-rate requests/s for
           --baseline seconds.
  load     for --seconds: one address sends GET /portal/ at --rate requests/s (open loop:
           each request leaves on its own schedule, whatever the answers before it);
           --others other addresses each ask every 2 s, in turn the form page and the live
           suggestions for a fault (GET /portal/suggest, a search); the staff API is asked
           as in the baseline.
  report   the flood: sent, served (200), refused (429), other answers, the request at
           which the first 429 came and how many a bucket of `portal_rate_limit` a minute
           may serve in the window (limit + seconds x limit / 60); the other addresses:
           answers by status and latency p50/p95; the staff API: p50/p95 alone and under
           the flood.  Medians over --runs (each run floods from a fresh address), the
           machine's size and the load average.  Raw: bench/results/portal_load.json.

Usage (from the repo root):
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_portal.py                # 50/s, 30 s, 3 runs
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_portal.py --fast --seconds 5 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_import_triage import git_commit, machine, percentile  # noqa: E402

from tests.browser.conftest import _env, _free_port, _stop, _wait_healthy  # noqa: E402

RESULTS = REPO / "bench" / "results"
FAULTS = ["摄像机晚上画面全黑，白天正常", "录像机提示硬盘错误，查不到录像", "门禁刷卡没有反应",
          "The NVR shows HDD error and recording stopped", "客户端登录提示401未授权"]


def knownfix(data_dir: Path, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args, "--data-dir", str(data_dir)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"knownfix {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def prepare(work: Path, fast: bool) -> tuple[Path, dict, str]:
    """The demo in a data folder with the bench's settings; (folder, env, staff token)."""
    data_dir = work / "data"
    env = _env(data_dir)
    settings = {"trusted_proxies": "127.0.0.1"}
    if fast:
        settings.update(model="hash:256", vector_backend="numpy")
    data_dir.mkdir(parents=True)
    (data_dir / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    knownfix(data_dir, env, "demo")
    token = knownfix(data_dir, env, "token", "create", "agent", "--name", "bench").strip()
    return data_dir, env, token


@contextmanager
def served(data_dir: Path, env: dict, log: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "api", "--port", str(port),
                                 "--data-dir", str(data_dir)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(url, proc, log, "/api/v1/health", "knownfix api")
        yield url
    finally:
        _stop(proc)


class Paced:
    """Requests sent on a fixed schedule from worker threads (open loop), each answer
    recorded as (seconds from the start, status, ms)."""

    def __init__(self, client: httpx.Client, rate: float, seconds: float,
                 request: Callable[[httpx.Client, int], httpx.Response], workers: int) -> None:
        self.samples: list[tuple[float, int | str, float]] = []
        self._lock = threading.Lock()
        self._next = 0
        self._client, self._rate, self._seconds = client, rate, seconds
        self._request = request
        self._threads = [threading.Thread(target=self._work, daemon=True)
                         for _ in range(workers)]

    def start(self, t0: float) -> None:
        self._t0 = t0
        for t in self._threads:
            t.start()

    def join(self) -> None:
        for t in self._threads:
            t.join()

    def _work(self) -> None:
        while True:
            with self._lock:
                n = self._next
                self._next += 1
            due = self._t0 + n / self._rate
            if due - self._t0 >= self._seconds:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            try:
                status: int | str = self._request(self._client, n).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            with self._lock:
                self.samples.append((sent - self._t0, status, (time.perf_counter() - sent) * 1e3))


def staff(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def customer(url: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-Forwarded-For": address}, timeout=60)


def latency(samples: list) -> dict:
    ms = sorted(s[2] for s in samples if s[1] == 200)
    return {"n": len(samples), "ok": len(ms),
            "p50_ms": round(percentile(ms, 0.5), 1) if ms else None,
            "p95_ms": round(percentile(ms, 0.95), 1) if ms else None}


def run_once(url: str, token: str, args: argparse.Namespace, n: int) -> dict:
    def staff_request(c: httpx.Client, _i: int) -> httpx.Response:
        return c.get("/api/v1/cases", params={"limit": 20})

    with staff(url, token) as c:
        alone = Paced(c, args.staff_rate, args.baseline, staff_request, 2)
        alone.start(time.perf_counter())
        alone.join()

    flood_address = f"203.0.113.{n + 1}"
    clients = [customer(url, flood_address)]
    others = [customer(url, f"198.51.{n}.{k + 1}") for k in range(args.others)]
    clients += others

    def form(c: httpx.Client, _i: int) -> httpx.Response:
        return c.get("/portal/")

    def browse(c: httpx.Client, i: int) -> httpx.Response:
        if i % 2:
            return c.get("/portal/suggest", params={"q": FAULTS[i // 2 % len(FAULTS)]})
        return c.get("/portal/")

    with staff(url, token) as sc:
        flood = Paced(clients[0], args.rate, args.seconds, form, 8)
        people = [Paced(c, 0.5, args.seconds, browse, 1) for c in others]
        busy = Paced(sc, args.staff_rate, args.seconds, staff_request, 2)
        t0 = time.perf_counter() + 0.2
        for p in (flood, *people, busy):
            p.start(t0)
        for p in (flood, *people, busy):
            p.join()
    for c in clients:
        c.close()
    flood.samples.sort()
    statuses = Counter(s[1] for s in flood.samples)
    first_429 = next((i for i, s in enumerate(flood.samples) if s[1] == 429), None)
    other_samples = [s for p in people for s in p.samples]
    return {
        "run": n,
        "flood": {"sent": len(flood.samples), "served": statuses.get(200, 0),
                  "refused_429": statuses.get(429, 0),
                  "other": {str(k): v for k, v in statuses.items() if k not in (200, 429)},
                  "first_429_at_request": first_429,
                  "served_after_first_429": sum(1 for s in flood.samples[first_429 or 0:]
                                                if s[1] == 200) if first_429 else 0,
                  "bucket_allows": int(args.limit + args.seconds * args.limit / 60)},
        "others": {**latency(other_samples),
                   "statuses": {str(k): v for k, v in
                                Counter(s[1] for s in other_samples).items()}},
        "staff_alone": latency(alone.samples),
        "staff_under_flood": latency(busy.samples),
    }


def median_of(runs: list[dict], *path: str) -> float | None:
    values = []
    for r in runs:
        v = r
        for p in path:
            v = v[p]
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=50.0, help="Flood requests a second.")
    ap.add_argument("--seconds", type=float, default=30.0, help="Length of the flood.")
    ap.add_argument("--baseline", type=float, default=10.0, help="Seconds of staff API alone.")
    ap.add_argument("--staff-rate", type=float, default=5.0, help="Staff requests a second.")
    ap.add_argument("--others", type=int, default=5, help="Other addresses browsing.")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fast", action="store_true", help="Hashing encoder, not the model.")
    ap.add_argument("--out", type=Path, default=RESULTS / "portal_load.json")
    args = ap.parse_args(argv)
    from settings import Settings

    args.limit = Settings().portal_rate_limit
    work = Path(tempfile.mkdtemp(prefix="kf-bench-portal-"))
    result = {"machine": machine(), "commit": git_commit(), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "loadavg_start": os.getloadavg(), "runs": []}
    try:
        data_dir, env, token = prepare(work, args.fast)
        with served(data_dir, env, work / "api.log") as url:
            for n in range(args.runs):
                result["runs"].append(run_once(url, token, args, n))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = result["runs"]
    result["loadavg_end"] = os.getloadavg()
    result["median"] = {
        "flood_served": median_of(runs, "flood", "served"),
        "flood_refused_429": median_of(runs, "flood", "refused_429"),
        "first_429_at_request": median_of(runs, "flood", "first_429_at_request"),
        "others_p50_ms": median_of(runs, "others", "p50_ms"),
        "others_p95_ms": median_of(runs, "others", "p95_ms"),
        "staff_alone_p50_ms": median_of(runs, "staff_alone", "p50_ms"),
        "staff_alone_p95_ms": median_of(runs, "staff_alone", "p95_ms"),
        "staff_under_flood_p50_ms": median_of(runs, "staff_under_flood", "p50_ms"),
        "staff_under_flood_p95_ms": median_of(runs, "staff_under_flood", "p95_ms")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    m, med = result["machine"], result["median"]
    print(f"machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['ram_gb']} GB RAM; "
          f"load average {result['loadavg_start'][0]:.2f} -> {result['loadavg_end'][0]:.2f}")
    for r in runs:
        f, o = r["flood"], r["others"]
        print(f"run {r['run']}: flood sent {f['sent']}, served {f['served']} (a bucket allows "
              f"{f['bucket_allows']}), 429 {f['refused_429']}, other {f['other']}, first 429 "
              f"at request {f['first_429_at_request']}; other addresses {o['statuses']}")
    print(f"medians of {len(runs)} run(s): flood served {med['flood_served']}, refused "
          f"{med['flood_refused_429']}; other addresses p50/p95 {med['others_p50_ms']}/"
          f"{med['others_p95_ms']} ms; staff API p50/p95 alone {med['staff_alone_p50_ms']}/"
          f"{med['staff_alone_p95_ms']} ms, under the flood "
          f"{med['staff_under_flood_p50_ms']}/{med['staff_under_flood_p95_ms']} ms")
    print(f"raw: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
