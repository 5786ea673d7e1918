"""docs/examples/zammad_relay.py, the worked example of docs/api.md, run for real: a
Zammad-shaped webhook (signed with HMAC-SHA1 as Zammad signs it) reaches the relay,
which triages through the running API and writes an internal note to a loopback stand-in
for Zammad's REST API."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

RELAY = Path(__file__).resolve().parents[2] / "docs" / "examples" / "zammad_relay.py"
PAYLOAD = {  # the parts of Zammad's default webhook payload the relay reads
    "ticket": {"id": 81, "number": "10081", "title": "录像回放查不到", "state": "open"},
    "article": {"id": 104, "ticket_id": 81, "type": "phone", "content_type": "text/html",
                "body": "NVR提示硬盘错误，<div>录像回放查不到&nbsp;</div>"},
}


def load_relay():
    spec = importlib.util.spec_from_file_location("zammad_relay", RELAY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


def serve(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_zammad_webhook_gets_its_triage_written_back(api_server):
    received: list[tuple[str, dict, dict]] = []

    class Zammad(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": 105}')

        def log_message(self, *_args: object) -> None:
            return

    zammad = ThreadingHTTPServer(("127.0.0.1", 0), Zammad)
    relay_module = load_relay()
    config = relay_module.Config(api_server.url, api_server.tokens["first_line"],
                                 serve(zammad), "zammad-secret-token", "hmac-secret")
    relay = relay_module.make_server(config, port=0)
    url = serve(relay)
    try:
        raw = json.dumps(PAYLOAD, ensure_ascii=False).encode()
        signature = "sha1=" + hmac.new(b"hmac-secret", raw, hashlib.sha1).hexdigest()
        forged = httpx.post(url, content=raw, headers={"X-Hub-Signature": "sha1=00"})
        sent = httpx.post(url, content=raw, timeout=30, headers={
            "X-Hub-Signature": signature, "X-Zammad-Trigger": "KnownFix triage",
            "Content-Type": "application/json"})
    finally:
        relay.shutdown()
        zammad.shutdown()
    assert forged.status_code == 401
    assert sent.status_code == 204, sent.text
    assert len(received) == 1
    path, headers, note = received[0]
    assert path == "/api/v1/ticket_articles"
    assert headers["Authorization"] == "Token token=zammad-secret-token"
    assert note["ticket_id"] == 81 and note["internal"] is True and note["type"] == "note"
    assert "category: storage" in note["body"] and "<li>" in note["body"]
