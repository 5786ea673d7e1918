"""The API under test: real uvicorn serving `create_app(desk)` on a free loopback port,
in a thread of the test process, over a fast Desk (hash encoder, NumPy index) holding the
demo knowledge base; one user and one token per role, plus a revoked token, a token of a
disabled user and a token of a removed user.  Tests talk to it over HTTP with httpx.

Each test module gets its own server and data folder (`api_server`), so a module that
changes much (the fuzzing) cannot disturb another.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from api.app import create_app
from service.auth import ROLES, SYSTEM
from service.demo import load_demo
from service.desk import Desk
from settings import load_settings

PASSWORD = "api-test-password"


@dataclass
class ApiServer:
    """A running API: its URL, its Desk, and tokens by who holds them."""

    url: str
    desk: Desk
    tokens: dict[str, str] = field(default_factory=dict)  # role or case -> token

    def client(self, who: str | None = None, lang: str | None = None) -> httpx.Client:
        """An HTTP client with `who`'s token (None: no token) and Accept-Language."""
        headers = {}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        if lang:
            headers["Accept-Language"] = lang
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _serve(desk: Desk) -> tuple[uvicorn.Server, threading.Thread, str]:
    """uvicorn on a socket bound to a free loopback port before the server starts (no
    race for the port); returns once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(desk), log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=5,
                            proxy_headers=False)  # as `knownfix api`: portal/guard.py decides
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="api-under-test")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def _people(desk: Desk) -> dict[str, str]:
    """A user and a token per role, and the tokens that must not work."""
    tokens = {}
    for role in ROLES:
        desk.users.add(SYSTEM, f"api_{role}", PASSWORD, role, f"API {role}", lang="en")
        tokens[role] = desk.tokens.create(SYSTEM, f"api_{role}", "tests")[1]
    info, tokens["revoked"] = desk.tokens.create(SYSTEM, "api_engineer", "to revoke")
    desk.tokens.revoke(SYSTEM, info.id)
    desk.users.add(SYSTEM, "api_leaver", PASSWORD, "engineer")
    tokens["disabled"] = desk.tokens.create(SYSTEM, "api_leaver", "left")[1]
    desk.admin.update_user(SYSTEM, "api_leaver", active=False)
    desk.users.add(SYSTEM, "api_removed", PASSWORD, "manager")
    tokens["removed"] = desk.tokens.create(SYSTEM, "api_removed", "gone")[1]
    with desk.engine.kb.transaction():  # no service removes a user: as an old DB may hold
        desk.engine.kb.db.execute("DELETE FROM users WHERE username = 'api_removed'")
    return tokens


@pytest.fixture(scope="module")
def api_server(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The server of one test module; settings the module names in API_SETTINGS (a dict)
    are used beside the fast encoder's."""
    extra = getattr(request.module, "API_SETTINGS", {})
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("KNOWNFIX_"):
                mp.delenv(name)
        folder = tmp_path_factory.mktemp("api")
        desk = Desk.open(load_settings(str(folder / "data"), model="hash:256",
                                       vector_backend="numpy", **extra))
    load_demo(desk.engine)
    api = ApiServer("", desk, _people(desk))
    server, thread, api.url = _serve(desk)
    yield api
    server.should_exit = True
    thread.join(timeout=15)
    desk.close()
