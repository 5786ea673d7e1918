"""One real KnownFix for the browser tests: `knownfix demo` into a temporary data folder
(the real bundled model), `knownfix serve` (what `make run` starts) on a free loopback
port, and headless Debian Chromium driven by Playwright.  Only 127.0.0.1 is ever
contacted: the server binds to it (which also stops Streamlit looking up an external IP)
and the browser aborts every request to anywhere else.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser.driver import CHROMIUM, NO_CHROMIUM, TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_SECONDS = 180


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path
    blocked: list[str] = field(default_factory=list)  # requests the browser refused
    api: str = ""  # the HTTP API and the customer pages (/portal) beside the app

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNOWNFIX_")}
    env.update(KNOWNFIX_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONUNBUFFERED="1")
    return env


def _knownfix() -> list[str]:
    script = Path(sys.executable).with_name("knownfix")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path,
                  probe: str = "/_stcore/health", name: str = "streamlit") -> None:
    """Poll `url + probe` every 0.5 s until it answers 200 (Streamlit's health check
    answers 200 "ok" only when it is ready; KnownFix's /api/v1/health likewise); a
    RuntimeError with the end of `log` when `proc` exits or START_SECONDS pass."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url + probe, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{name} not healthy after {START_SECONDS}s:\n"
                       f"{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Terminate a server started here, and kill it if it has not gone in 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@contextmanager
def served_app(data_dir: Path, log: Path, *options: str) -> Iterator[str]:
    """`knownfix serve` (what `make run` starts) for `data_dir` on a free loopback port,
    its output in `log`; yields its URL once it answers, and stops it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*_knownfix(), "serve", "--port", str(port), "--address", "127.0.0.1", *options],
            cwd=ROOT, env=_env(data_dir), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def kf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo KB in a fresh data folder, served by the real app on 127.0.0.1."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    base = tmp_path_factory.mktemp("browser")
    data_dir = base / "data"
    env = _env(data_dir)
    demo = subprocess.run([*_knownfix(), "demo", "--data-dir", str(data_dir)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-4000:]
    assert "demo sign-ins" in demo.stdout, demo.stdout
    log = base / "streamlit.log"
    api = f"http://127.0.0.1:{_free_port()}"  # the customer pages are served with the API
    with served_app(data_dir, log, "--api-port", api.rsplit(":", 1)[1],
                    "--client.toolbarMode", "viewer") as url:
        yield Server(url, data_dir, log, api=api)


@pytest.fixture(scope="session")
def chromium(kf_server: Server):
    """Headless Debian Chromium (Playwright's own browser download does not work here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() runs Chromium on a fresh, empty user-data-dir of its own; each test
        # opens its own contexts (and so its own Streamlit sessions) in it.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium, kf_server: Server):
    """Factory: a page in a fresh browser context (a fresh Streamlit session), which may
    only talk to the server on 127.0.0.1."""
    contexts = []

    def make():
        ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                   timezone_id="UTC")
        ctx.set_default_timeout(TIMEOUT_MS)
        allowed = kf_server.url + "/"

        def guard(route) -> None:
            url = route.request.url
            if url.startswith((allowed, kf_server.api + "/", "data:", "blob:")):
                route.continue_()
            else:
                kf_server.blocked.append(url)
                route.abort()

        ctx.route("**/*", guard)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(kf_server.url + "/", wait_until="domcontentloaded")
        return page

    yield make
    for ctx in contexts:
        ctx.close()
