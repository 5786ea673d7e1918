"""Benchmark: how quickly the app answers a first-line agent, in a real browser.

Each run does what `make run` does — `knownfix serve` on the demo KB (prepared once by
`knownfix demo`), which loads the model, database and index and then starts Streamlit —
on a free loopback port, waits until the server answers its health check (start-up
finished), then drives headless Chromium (Debian's /usr/bin/chromium):

  start-up     from starting `knownfix serve` to the health check answering.
  first page   from opening http://127.0.0.1:PORT/ to the sign-in form drawn and idle.
  sign in      from clicking "sign in" to the intake page drawn and idle.
  triage       from clicking "submit" on the intake form to the new case's triage (labels,
               severity, known fixes) drawn and idle; the descriptions are new, in Chinese
               and English, one case each.

One unmeasured run first warms the machine (files in the page cache), as the target is
"on a warm machine".  Medians over --runs runs; every sample is in the JSON.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_app.py [--runs 5]
Writes bench/results/app.json.
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
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_import_triage import git_commit, machine, percentile  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS, _env, _knownfix, served_app  # noqa: E402
from tests.browser.driver import CHROMIUM, msg, settle, sign_in  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

RESULTS = REPO / "bench" / "results"
FAULTS = [
    "NVR提示硬盘错误，查不到录像",
    "门禁读卡器刷卡没反应，指示灯不亮",
    "Printer shows paper jam but there is no paper inside",
    "摄像机夜间画面全黑，红外灯不亮",
    "Laptop will not power on after a BIOS update",
    "考勤机联网后数据上传失败，提示E-1043",
]


def first_page(page: Page, url: str) -> float:
    """Seconds from opening `url` to the sign-in form drawn and idle."""
    from playwright.sync_api import expect

    t = time.perf_counter()
    page.goto(url + "/", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=msg("signin.header"))).to_be_visible()
    settle(page, quiet_ms=100)
    return time.perf_counter() - t


def signed_in(page: Page, username: str = "agent") -> float:
    """Seconds from signing in as `username` to the intake page drawn and idle."""
    from playwright.sync_api import expect

    t = time.perf_counter()
    sign_in(page, username)
    expect(page.get_by_role("heading", name=msg("intake.header"))).to_be_visible()
    settle(page, quiet_ms=100)
    return time.perf_counter() - t


def triage_drawn(page: Page, text: str, seen: str = "") -> tuple[float, str]:
    """Submit `text` on the intake form: seconds until the new case's triage (a case
    heading other than `seen`, and its known fixes) is drawn and idle, and that heading."""
    from playwright.sync_api import expect

    form = page.get_by_test_id("stForm")
    form.get_by_label(msg("intake.description"), exact=True).fill(text)
    t = time.perf_counter()
    form.get_by_role("button", name=msg("intake.submit"), exact=True).click()
    page.wait_for_function(
        "([sel, old]) => { const h = [...document.querySelectorAll('h3')]"
        ".map(e => e.innerText).find(s => s.startsWith(sel)); "
        "return h && h !== old; }", arg=[msg("case.number") + " ", seen])
    expect(page.get_by_role("heading", name=msg("triage.fixes"))).to_be_visible()
    settle(page, quiet_ms=100)
    took = time.perf_counter() - t
    heading = page.get_by_role("heading", name=re.compile(rf"^{msg('case.number')} \S+ · "))
    return took, heading.first.inner_text()


def one_run(data_dir: Path, measured: bool) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"loadavg_start": os.getloadavg()[0]}
    t = time.perf_counter()
    with served_app(data_dir, data_dir.parent / "serve.log") as url:
        out["server_start_s"] = time.perf_counter() - t
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            out["first_page_s"] = first_page(page, url)
            out["sign_in_s"] = signed_in(page)
            triage = []
            seen = ""
            for text in FAULTS:
                took, seen = triage_drawn(page, text, seen)
                triage.append(took)
            out["triage_s"] = triage
            browser.close()
    out["loadavg_end"] = os.getloadavg()[0]
    if measured:
        print(f"first page {out['first_page_s']:.2f}s, sign in {out['sign_in_s']:.2f}s, "
              f"triage {', '.join(f'{x:.2f}' for x in triage)}s", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is not installed (`make test` installs it)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="kf_app_") as tmp:
        data_dir = Path(tmp) / "data"
        subprocess.run([*_knownfix(), "demo", "--data-dir", str(data_dir)], cwd=REPO,
                       env=_env(data_dir), check=True, capture_output=True)
        one_run(data_dir, measured=False)  # warm the machine's file cache
        runs = [one_run(data_dir, measured=True) for _ in range(args.runs)]
    triage_ms = [x * 1e3 for r in runs for x in r["triage_s"]]
    result = {
        "machine": machine(), "commit": git_commit(), "runs": runs,
        "server_start_s_median": statistics.median(r["server_start_s"] for r in runs),
        "first_page_s_median": statistics.median(r["first_page_s"] for r in runs),
        "first_page_s_max": max(r["first_page_s"] for r in runs),
        "sign_in_s_median": statistics.median(r["sign_in_s"] for r in runs),
        "triage_ms_p50": percentile(triage_ms, .5), "triage_ms_p95": percentile(triage_ms, .95),
        "triage_ms_max": max(triage_ms), "triage_samples": len(triage_ms),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app.json").write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "machine")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
