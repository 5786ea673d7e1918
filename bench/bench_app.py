"""Benchmark: how quickly the app answers its users, in a real browser, idle and busy.

The data folder is made once: `knownfix demo`, then `--records` real repair records
(Open Repair Alliance, ../shared/data/openrepair/records, CC BY-SA 4.0; a seeded sample
read as bench/bench_tune.py's `sample()` does) imported with `knownfix import` and the
real bundled model, as a team would import its history.  Each run then does what
`make run` does — `knownfix serve` on that folder on a free loopback port, waits until
the server answers its health check (start-up finished) — and drives headless Chromium
(Debian's /usr/bin/chromium):

  start-up     from starting `knownfix serve` to the health check answering.
  ready        from starting `knownfix serve` to a first sign-in drawn (the model, index
               and classifiers load behind the sign-in page; that first sign-in waits
               for them).  Every figure below is taken after it: a server in service.
  first page   from opening http://127.0.0.1:PORT/ to the sign-in form drawn and idle.
  sign in      from clicking "sign in" (the first-line agent) to the intake page drawn.
  triage       from clicking "submit" on the intake form to the new case's triage (labels,
               severity, known fixes) drawn and idle; new descriptions in Chinese and
               English, one case each; a run's figure is the median of its cases.
  case page    from following the sidebar link to the case page (the case just taken
               in) to its facts and timeline drawn and idle.
  coverage     signed in as the manager: from following the link to the coverage page
               to its last section drawn and idle.
  reports      the same for the reports page (its downloads drawn last).

"Drawn and idle": the headings are drawn and Streamlit has run nothing for 100 ms.  The
figure is the moment that state began, timed by the page's own clock from the navigation
or the click (a watcher script checks every frame): neither the 100 ms of quiet that
confirm it nor Playwright's polling is in it.  "first page" is a browser's first visit
(nothing cached); "first page, cached" is the same page opened again in a new tab of that
browser with the session cookie gone, as an agent's browser opens it every morning.
Each load of `--load` (idle, busy) gets one unmeasured run first that warms the machine
and then `--runs` runs; medians over the runs.  "busy": a second process runs triage in
a loop on the same data folder (the Engine, as a second server would) for the whole of
the load's runs.  Every sample is in the JSON (bench/results/app.json); a table of the
medians, idle and busy side by side with the ratio busy/idle, is printed.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_app.py [--runs 10] [--records 10000]
       [--load idle,busy] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_import_triage import git_commit, machine, percentile  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS, _env, _knownfix, served_app  # noqa: E402
from tests.browser.driver import _BUSY, CHROMIUM, DEMO_PASSWORD, TIMEOUT_MS, msg, sign_in  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

RESULTS = REPO / "bench" / "results"
FAULTS = [
    "NVR提示硬盘错误，查不到录像",
    "门禁读卡器刷卡没反应，指示灯不亮",
    "Printer shows paper jam but there is no paper inside",
    "摄像机夜间画面全黑，红外灯不亮",
    "Laptop will not power on after a BIOS update",
    "考勤机联网后数据上传失败，提示E-1043",
]
# the figures of a run, in the table's order, with the target for each (s)
MEASURES = {"first_page_s": ("first page", 1.5),
            "first_page_cached_s": ("first page, cached", None), "sign_in_s": ("sign in", 1.5),
            "triage_s": ("triage drawn", 1.0), "case_page_s": ("case page", 1.5),
            "coverage_s": ("coverage page", 2.0), "reports_s": ("reports page", 2.0)}


# Timing happens inside the page, on its own clock, so that the figures do not include
# Playwright's polling: `expect(...)` re-checks at growing intervals (0.1, 0.25, 0.5, 1 s),
# which added up to half a second to a figure.  WATCH runs in every page of the benchmark
# before the app's scripts: it notes each frame in which Streamlit is busy, and the time
# of every click (the start of a sign-in, a submit or a page change).
WATCH = """(() => {
  const w = window;
  w.__kf = {start: 0, busy: 0};
  const tick = () => {
    if (document.querySelector(BUSY) || !document.querySelector('[data-testid="stApp"]'))
      w.__kf.busy = performance.now();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  document.addEventListener('click', e => { w.__kf = {start: e.timeStamp, busy: e.timeStamp}; },
                            true);
})();""".replace("BUSY", json.dumps(_BUSY))
# True once every heading wanted is drawn and Streamlit has been idle for `quiet` ms: then
# the figure is the moment both held (the later of heading drawn and last busy frame),
# less the start (navigation start, or the click), with the first wanted heading's text.
DRAWN = """([wanted, old, quiet]) => {
  const now = performance.now(), s = window.__kf;
  const shown = [...document.querySelectorAll('h1, h2, h3, h4')]
    .filter(h => h.offsetParent !== null && !h.closest('[data-stale="true"]'))
    .map(h => h.innerText.trim());
  const found = wanted.map(w => shown.find(x => x.startsWith(w) && x !== old));
  if (found.some(x => x === undefined)) { s.shown = undefined; return false; }
  if (s.shown === undefined) s.shown = now;
  const at = Math.max(s.shown, s.busy);
  return now - at >= quiet ? {took: (at - s.start) / 1000, heading: found[0]} : false;
}"""


def new_page(browser: Browser) -> Page:
    """A page in a browser context of its own (a browser with nothing cached yet)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.add_init_script(WATCH)
    return context.new_page()


def drawn(page: Page, *wanted: str, old: str = "") -> tuple[float, str]:
    """Seconds from the start (navigation, or the last click) until headings starting with
    each of `wanted` (other than `old`) are drawn and the app is idle; and the first one."""
    done = page.wait_for_function(DRAWN, arg=[list(wanted), old, 100], polling="raf",
                                  timeout=TIMEOUT_MS).json_value()
    return done["took"], done["heading"]


def first_page(page: Page, url: str) -> float:
    """Seconds from opening `url` to the sign-in form drawn and idle."""
    page.goto(url + "/", wait_until="commit")
    return drawn(page, msg("signin.header"))[0]


def signed_in(page: Page, username: str = "agent") -> float:
    """Seconds from clicking "sign in" as `username` to the intake page drawn and idle."""
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("signin.user"), exact=True).fill(username)
    form.get_by_label(msg("signin.password"), exact=True).fill(DEMO_PASSWORD)
    form.get_by_role("button", name=msg("signin.submit"), exact=True).click()
    return drawn(page, msg("intake.header"))[0]


def triage_drawn(page: Page, text: str, seen: str = "") -> tuple[float, str]:
    """Submit `text` on the intake form: seconds until the new case's triage (a case
    heading other than `seen`, and its known fixes) is drawn and idle, and that heading."""
    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("intake.description"), exact=True).fill(text)
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    return drawn(page, msg("case.number") + " ", msg("triage.fixes"), old=seen)


def page_drawn(page: Page, name: str, last: str) -> float:
    """Seconds from following the sidebar link to page `name` until the heading `last`
    (its last section) is drawn and the app idle."""
    page.get_by_test_id("stSidebarNav").get_by_role(
        "link", name=re.compile(rf"{re.escape(msg(f'nav.{name}'))}$")).click()
    return drawn(page, last)[0]


def ready(browser: Browser, url: str) -> float:
    """Seconds until a first sign-in is drawn: the server answers its health check while
    the model, index and classifiers still load behind the sign-in page, and the first
    sign-in waits for them.  The pages are measured after it, on a server in service."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    t = time.perf_counter()
    page.goto(url + "/", wait_until="domcontentloaded")
    sign_in(page, "agent")
    page.close()
    return time.perf_counter() - t


def agent_session(browser: Browser, url: str) -> dict:
    """First page, sign-in, one triage per fault and the case page, as the agent."""
    page = new_page(browser)
    out: dict = {"first_page_s": first_page(page, url), "sign_in_s": signed_in(page)}
    cases, seen = [], ""
    for text in FAULTS:
        took, seen = triage_drawn(page, text, seen)
        cases.append(took)
    out["triage_cases_s"] = cases
    out["triage_s"] = statistics.median(cases)
    out["case_page_s"] = page_drawn(page, "case", msg("case.timeline"))
    page.context.clear_cookies()  # signed out; the browser's cache stays
    out["first_page_cached_s"] = first_page(page.context.new_page(), url)
    page.context.close()
    return out


def manager_session(browser: Browser, url: str) -> dict:
    """Coverage and reports, as the manager (signing in is not measured here)."""
    page = new_page(browser)
    page.goto(url + "/", wait_until="domcontentloaded")
    sign_in(page, "manager")
    out = {"coverage_s": page_drawn(page, "coverage", msg("cov.never_used")),
           "reports_s": page_drawn(page, "reports", msg("rep.download"))}
    page.context.close()
    return out


def one_run(data_dir: Path, load: str, measured: bool) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"load": load, "loadavg_start": os.getloadavg()[0]}
    t = time.perf_counter()
    with served_app(data_dir, data_dir.parent / "serve.log") as url:
        out["server_start_s"] = time.perf_counter() - t
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            out["ready_s"] = ready(browser, url) + out["server_start_s"]
            out.update(agent_session(browser, url))
            out.update(manager_session(browser, url))
            browser.close()
    out["loadavg_end"] = os.getloadavg()[0]
    if measured:
        print(f"{load}: " + ", ".join(f"{title} {out[k]:.2f}s"
                                      for k, (title, _) in MEASURES.items()),
              file=sys.stderr, flush=True)
    return out


# -- the data folder ------------------------------------------------------------------------
def prepare(data_dir: Path, records: int, seed: int = 0) -> dict:
    """The demo KB in `data_dir`, plus `records` sampled repair records imported with the
    real model (`knownfix import`, which tunes triage after it when due, as a team's
    import would).  Returns what it took."""
    env = _env(data_dir)
    t = time.perf_counter()
    subprocess.run([*_knownfix(), "demo", "--data-dir", str(data_dir)], cwd=REPO, env=env,
                   check=True, capture_output=True)
    out = {"records": records, "demo_s": round(time.perf_counter() - t, 1)}
    if records:
        from bench_tune import sample

        csv = sample(records, seed, data_dir.parent / "records.csv")
        t = time.perf_counter()
        done = subprocess.run(
            [*_knownfix(), "import", str(csv), "--text", "problem",
             "--label", "category=product_category", "--data-dir", str(data_dir)],
            cwd=REPO, env=env, check=True, capture_output=True, text=True)
        out.update(import_s=round(time.perf_counter() - t, 1),
                   imported=done.stdout.strip().splitlines()[0])
    return out


# -- the second process ---------------------------------------------------------------------
def triage_loop(data_dir: str) -> None:
    """Triage the faults over and over on the data folder's KB until killed (the second
    process of `--load busy`): the Engine, as another server of the team would run it."""
    from service.engine import Engine
    from settings import load_settings

    engine = Engine(load_settings(data_dir), background=False)
    n = 0
    while True:
        engine.triage(FAULTS[n % len(FAULTS)] + f" #{n}")
        n += 1


@contextmanager
def busy(data_dir: Path, load: str) -> Iterator[None]:
    """For `load` "busy", a second process triaging in a loop while the block runs."""
    if load == "idle":
        yield
        return
    proc = subprocess.Popen([sys.executable, __file__, "--triage-loop", str(data_dir)],
                            cwd=REPO, env=_env(data_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(20)  # its model loaded and triaging before the first run
        if proc.poll() is not None:
            raise RuntimeError(f"the triage loop exited with {proc.returncode}")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- results --------------------------------------------------------------------------------
def summarise(runs: list[dict]) -> dict:
    """Medians (and worst) of each measure over a load's runs."""
    out: dict = {"runs": len(runs),
                 "server_start_s_median": statistics.median(r["server_start_s"] for r in runs),
                 "ready_s_median": statistics.median(r["ready_s"] for r in runs)}
    for key in MEASURES:
        values = [r[key] for r in runs]
        out[f"{key}_median"] = statistics.median(values)
        out[f"{key}_max"] = max(values)
    cases_ms = [x * 1e3 for r in runs for x in r["triage_cases_s"]]
    out.update(triage_ms_p50=percentile(cases_ms, .5), triage_ms_p95=percentile(cases_ms, .95),
               triage_samples=len(cases_ms))
    return out


def table(loads: dict[str, dict]) -> str:
    """The medians per load side by side, the ratio busy/idle and the target."""
    names = list(loads)
    ratio = "idle" in loads and "busy" in loads
    head = ["measure", *[f"{n} (s)" for n in names], *(["busy/idle"] if ratio else []),
            "target (s)"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for key, (title, target) in MEASURES.items():
        cells = [title, *[f"{loads[n][f'{key}_median']:.2f}" for n in names]]
        if ratio:
            cells.append(f"{loads['busy'][f'{key}_median'] / loads['idle'][f'{key}_median']:.2f}")
        lines.append(" | ".join([*cells, f"≤ {target}" if target else "—"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--records", type=int, default=10_000,
                   help="repair records imported beside the demo KB (0: the demo alone)")
    p.add_argument("--load", default="idle,busy", help="idle, busy or both (idle,busy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="keep the data folder here and use it again when it is there "
                        "(prepared by an earlier run with the same --records and --seed)")
    p.add_argument("--triage-loop", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.triage_loop:
        triage_loop(args.triage_loop)
        return 0
    loads = args.load.split(",")
    if not set(loads) <= {"idle", "busy"}:
        raise SystemExit(f"--load takes idle and/or busy, not {args.load!r}")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is not installed (`make test` installs it)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result: dict = {"machine": machine(), "commit": git_commit(), "loads": {}, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="kf_app_") as tmp:
        data_dir = (args.data or Path(tmp)) / "data"
        if args.data and data_dir.exists():
            result["data"] = {"records": args.records, "reused": str(data_dir)}
        else:
            result["data"] = prepare(data_dir, args.records, args.seed)
        print(f"data folder ready: {result['data']}", file=sys.stderr, flush=True)
        for load in loads:
            with busy(data_dir, load):
                one_run(data_dir, load, measured=False)  # warm the machine's file cache
                runs = [one_run(data_dir, load, measured=True) for _ in range(args.runs)]
            result["runs"][load] = runs
            result["loads"][load] = summarise(runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    print(table(result["loads"]))
    print(f"{args.runs} runs per load on the demo KB + {args.records} repair records; "
          f"{machine()['cpu_count']} cores; results in {RESULTS / 'app.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
