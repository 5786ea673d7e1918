"""Personal API tokens (service/tokens.py) and the commands: `knownfix token
create/list/revoke`, and `knownfix api` started as a real process on a free loopback
port and answering over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from errors import BadToken, NotFound, PermissionDenied
from service.auth import SYSTEM
from service.desk import Desk
from service.tokens import TOKEN_CHARS, digest

ROOT = Path(__file__).resolve().parents[2]
FAST = {"KNOWNFIX_MODEL": "hash:256", "KNOWNFIX_VECTOR_BACKEND": "numpy"}


@pytest.fixture
def desk(settings):
    d = Desk.open(settings)
    d.users.add(SYSTEM, "li", "long-enough", "first_line")
    d.users.add(SYSTEM, "zhao", "long-enough", "engineer")
    yield d
    d.close()


def test_a_token_is_shown_once_and_stored_only_as_its_hash(desk):
    info, token = desk.tokens.create(SYSTEM, "li", "phone system")
    assert token.startswith("kf_") and len(token) == TOKEN_CHARS
    assert desk.tokens.authenticate(token).username == "li"
    rows = desk.engine.kb.db.execute("SELECT * FROM api_tokens").fetchall()
    assert not any(token in str(v) for row in rows for v in row)
    assert any(digest(token) in row for row in rows)
    assert info.prefix == token[:8] and info.created_by == "system"
    assert [e["action"] for e in desk.engine.kb.events("user:li")] == ["user:add",
                                                                       "token:create"]


def test_revoked_unknown_malformed_and_inactive_tokens_are_refused(desk):
    info, token = desk.tokens.create(SYSTEM, "li")
    other = desk.tokens.create(SYSTEM, "zhao")[1]
    desk.tokens.revoke(desk.users.get("li"), info.id)  # one's own: no admin needed
    with pytest.raises(BadToken) as revoked:
        desk.tokens.authenticate(token)
    assert revoked.value.key == "token_invalid"
    for bad in (None, "", "kf_short", "Bearer " + other, other + "x", "kf_" + "A" * 43):
        with pytest.raises(BadToken):
            desk.tokens.authenticate(bad)
    desk.admin.update_user(SYSTEM, "zhao", active=False)
    with pytest.raises(BadToken) as inactive:
        desk.tokens.authenticate(other)
    assert inactive.value.key == "token_user_inactive"


def test_only_an_admin_handles_another_users_tokens(desk):
    li, zhao = desk.users.get("li"), desk.users.get("zhao")
    mine = desk.tokens.create(li, "li", "mine")[0]
    with pytest.raises(PermissionDenied):
        desk.tokens.create(li, "zhao")
    with pytest.raises(PermissionDenied):
        desk.tokens.revoke(zhao, mine.id)
    with pytest.raises(PermissionDenied):
        desk.tokens.list(li, "*")
    assert [t.id for t in desk.tokens.list(li)] == [mine.id]
    with pytest.raises(NotFound):
        desk.tokens.create(SYSTEM, "nobody")


def run(*args, stdin: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=FAST, input=stdin)


def test_token_commands(tmp_path):
    data = tmp_path / "data"
    refused = run("user", "add", "li", "--role", "first_line", "--password-stdin",
                  "--data-dir", data, stdin="long-enough\n")
    assert refused.exit_code == 1 and "no knowledge base" in refused.stderr
    assert not data.exists()  # a mistyped folder is not created
    assert run("demo", "--data-dir", data).exit_code == 0
    made = run("user", "add", "li", "--role", "first_line", "--password-stdin",
               "--data-dir", data, stdin="long-enough\n")
    assert made.exit_code == 0, made.output
    created = run("token", "create", "li", "--name", "zammad webhook", "--data-dir", data)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("kf_") and len(token) == TOKEN_CHARS
    assert "not shown again" in created.stderr
    listed = run("token", "list", "--data-dir", data)
    assert "zammad webhook" in listed.stdout and token[:8] in listed.stdout
    assert token not in listed.stdout
    refused = run("token", "create", "li", "--as", "li", "--data-dir", data)
    assert refused.exit_code == 0  # one's own token
    other = run("token", "list", "--as", "li", "--data-dir", data)
    assert other.exit_code == 1 and other.stderr.startswith("error: ")
    revoked = run("token", "revoke", "1", "--data-dir", data)
    assert revoked.exit_code == 0 and "revoked token 1 of li" in revoked.stdout
    shown = run("token", "list", "li", "--revoked", "--json", "--data-dir", data)
    assert '"active": false' in shown.stdout
    missing = run("token", "revoke", "99", "--data-dir", data)
    assert missing.exit_code == 1 and "no API token 99" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_knownfix_api_serves_over_http(tmp_path):
    data = tmp_path / "data"
    assert run("demo", "--data-dir", data).exit_code == 0
    token = run("token", "create", "agent", "--data-dir", data).stdout.strip()
    port = _free_port()
    env = {**os.environ, **FAST, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "api", "--port", str(port),
                             "--data-dir", str(data)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "knownfix api did not start"
                time.sleep(0.2)
        assert health.json()["ok"] is True
        triage = httpx.post(f"{url}/api/v1/triage", timeout=30,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"text": "NVR提示硬盘错误，录像回放查不到"})
        assert triage.status_code == 200 and triage.json()["matches"]
        assert httpx.get(f"{url}/api/v1/docs").status_code == 200
        assert httpx.get(f"{url}/api/v1/openapi.json").json()["info"]["title"] == "KnownFix API"
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "ready in" in err


def test_serve_runs_the_api_beside_the_app(tmp_path):
    """`knownfix serve --api-port`: one process, one Desk, the app and the API both
    answering."""
    data = tmp_path / "data"
    assert run("demo", "--data-dir", data).exit_code == 0
    token = run("token", "create", "engineer", "--data-dir", data).stdout.strip()
    app_port, api_port = _free_port(), _free_port()
    env = {**os.environ, **FAST, "PYTHONPATH": str(ROOT), "KNOWNFIX_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port",
                             str(app_port), "--address", "127.0.0.1", "--api-port",
                             str(api_port)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                app_health = httpx.get(f"http://127.0.0.1:{app_port}/_stcore/health",
                                       timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "knownfix serve did not start"
                time.sleep(0.3)
        assert app_health.status_code == 200
        me = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/me", timeout=10,
                       headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "engineer"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
