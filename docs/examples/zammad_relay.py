"""A relay from a Zammad webhook to KnownFix's triage, and back (docs/api.md).

Zammad's trigger posts its default webhook payload (the ticket and its newest article) to
this relay; the relay sends the article's text to KnownFix `POST /api/v1/triage` and
writes the answer back on the ticket as an internal note, through Zammad's REST API
(`POST /api/v1/ticket_articles`, type note, internal).  Zammad does not read a webhook's
response, hence the relay.  Standard library only; run it beside KnownFix:

    KNOWNFIX_URL=http://127.0.0.1:8600 KNOWNFIX_TOKEN=kf_… \\
    ZAMMAD_URL=https://zammad.example.com ZAMMAD_TOKEN=… ZAMMAD_HMAC_SECRET=… \\
    python docs/examples/zammad_relay.py --port 8700

With ZAMMAD_HMAC_SECRET set (the webhook's "HMAC SHA1 Signature Token"), a request whose
X-Hub-Signature does not match is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Config:
    knownfix_url: str
    knownfix_token: str
    zammad_url: str
    zammad_token: str
    hmac_secret: str = ""

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(env["KNOWNFIX_URL"], env["KNOWNFIX_TOKEN"], env["ZAMMAD_URL"],
                   env["ZAMMAD_TOKEN"], env.get("ZAMMAD_HMAC_SECRET", ""))


def plain(text: str) -> str:
    """An article body (HTML in Zammad's web UI) as plain text."""
    text = re.sub(r"<br\s*/?>|</(p|div|li)>", "\n", text or "", flags=re.IGNORECASE)
    return re.sub(r"\n{3,}", "\n\n", html.unescape(TAG.sub("", text))).strip()


def post_json(url: str, body: dict, headers: dict[str, str]) -> dict:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "Accept-Language": "zh", **headers})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def note(triage: dict) -> str:
    """The triage as a short HTML note for the agents."""
    e = html.escape
    labels = ", ".join(f"{name}: {e(p['value'] or '?')} ({p['confidence']:.0%})"
                       for name, p in triage["labels"].items())
    sev = triage["severity"]
    lines = [f"<p><b>KnownFix</b> — {labels}; severity {e(sev['level'] or '?')} "
             f"({e(sev['reason'])})</p>"]
    esc = triage["escalation"]
    lines.append("<p>Escalate: " + ("yes — " + e("; ".join(esc["reasons"]))
                                    if esc["escalate"] else "no") + "</p><ol>")
    for m in triage["matches"][:3]:
        lines.append(f"<li>[{m['score']:.2f}] {e(m['key'])} {e(m['title'])}<br>"
                     f"{e(m['fix'][:300])}</li>")
    return "\n".join([*lines, "</ol>"])


def relay(config: Config, payload: dict) -> dict:
    """Triage the ticket's newest article and put the answer on the ticket; returns the
    triage."""
    ticket, article = payload["ticket"], payload.get("article") or {}
    text = plain(article.get("body", "")) or ticket.get("title", "")
    triage = post_json(f"{config.knownfix_url}/api/v1/triage",
                       {"text": text, "title": ticket.get("title", "")},
                       {"Authorization": f"Bearer {config.knownfix_token}"})
    post_json(f"{config.zammad_url}/api/v1/ticket_articles",
              {"ticket_id": ticket["id"], "subject": "KnownFix triage", "body": note(triage),
               "content_type": "text/html", "type": "note", "internal": True},
              {"Authorization": f"Token token={config.zammad_token}"})
    return triage


def make_server(config: Config, host: str = "127.0.0.1", port: int = 8700
                ) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if config.hmac_secret:
                want = "sha1=" + hmac.new(config.hmac_secret.encode(), raw,
                                          hashlib.sha1).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-Hub-Signature", "")):
                    self.send_error(401, "bad signature")
                    return
            try:
                relay(config, json.loads(raw))
            except (ValueError, KeyError, OSError) as exc:  # Zammad retries a failure
                self.send_error(502, str(exc)[:200])
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args()
    make_server(Config.from_env(), args.host, args.port).serve_forever()
