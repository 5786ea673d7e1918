"""Real servers on loopback for the notification tests: a webhook receiver
(http.server in a thread) and an SMTP server (aiosmtpd, optionally with STARTTLS and
AUTH, its certificate from a test CA made by trustme).  Both record what arrives."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))

    @property
    def event_id(self) -> str:
        return self.headers.get("x-knownfix-event-id", "")


@dataclass
class Receiver:
    """A webhook receiver.  `answers[path]` is a list of statuses (or (status, body))
    given in turn to the requests on that path, the last one repeated; default 200
    with body `{"errcode": 0}` (what the chat robots answer)."""

    answers: dict[str, list] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                got = Received(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                               {k.lower(): v for k, v in self.headers.items()}, body)
                status, answer = receiver._answer(got)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, got: Received) -> tuple[int, bytes]:
        with self._lock:
            self.received.append(got)
            n = self._served.get(got.path, 0)
            self._served[got.path] = n + 1
        script = self.answers.get(got.path) or [200]
        answer = script[min(n, len(script) - 1)]
        status, body = answer if isinstance(answer, tuple) else (answer, b'{"errcode": 0}')
        return status, body

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class SmtpServer:
    """aiosmtpd on loopback.  With `tls_dir`, STARTTLS is required (a certificate for
    127.0.0.1 from a fresh test CA, whose PEM is `cafile`); with `users`, AUTH is
    required (and, with TLS, only after STARTTLS)."""

    def __init__(self, tls_dir: Path | None = None, users: dict[str, str] | None = None,
                 answer: Callable[[], str] | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mails: list[Mail] = []
        self.cafile: Path | None = None
        self.answer = answer or (lambda: "250 OK")
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                reply = server.answer()
                if reply.startswith("250"):
                    login = session.auth_data.login.decode() if session.authenticated \
                        and session.auth_data else None
                    server.mails.append(Mail(
                        envelope.mail_from, list(envelope.rcpt_tos),
                        message_from_bytes(envelope.original_content, policy=policy.default),
                        session.ssl is not None, login))
                return reply

        def authenticator(smtp, session, envelope, mechanism, auth_data):
            ok = users is not None and users.get(auth_data.login.decode()) == \
                auth_data.password.decode()
            # handled=False: aiosmtpd answers 535 itself
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs: dict = {}
        if tls_dir is not None:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            self.cafile = tls_dir / "test-ca.pem"
            ca.cert_pem.write_to_path(str(self.cafile))
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=tls_dir is not None)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     **kwargs)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
