"""Outbound webhooks: one POST of JSON per notification, in one of six formats.

* generic — {event_id, kind, lang, subject, text, link, target, facts, sent_at}; with a
  secret, headers X-KnownFix-Timestamp (Unix seconds) and X-KnownFix-Signature:
  sha256=hex(HMAC-SHA256(secret, "TIMESTAMP." + body)).
* wecom (企业微信群机器人) — {"msgtype": "markdown", "markdown": {"content"}}; the key is
  in the URL.
* dingtalk (钉钉机器人) — {"msgtype": "markdown", "markdown": {"title", "text"}}; with a
  secret (加签) the URL gets timestamp (ms) and sign = urlencode(base64(HMAC-SHA256 keyed
  by the secret over "TIMESTAMP\nsecret")).
* feishu (飞书机器人) — {"msg_type": "post", "content": {"post": {zh_cn|en_us: …}}}; with
  a secret (签名校验) the body gets timestamp (s) and sign = base64(HMAC-SHA256 keyed by
  "TIMESTAMP\nsecret" over nothing).
* slack (incoming webhook) — {"text", "blocks": [section (mrkdwn), context (link)]}.
* teams (incoming webhook or Workflows) — {"type": "message", "attachments": [an
  Adaptive Card with the facts and an Open action]}.

Every request carries `X-KnownFix-Event-Id`.  A 2xx answer is success, except that the
Chinese robots answer 200 with an error code in the body (`errcode` / `code` not 0),
which is a failure.  408, 429 and 5xx answers and network errors are retried; other 4xx
answers are permanent (the URL or payload is wrong, trying again will not help).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote_plus, urlsplit

from errors import DeliveryFailed
from service.notify.channels import EVENT_ID_HEADER, Delivery

RETRY_STATUS = frozenset({408, 425, 429})
WECOM_LIMIT = 4096  # bytes of markdown content the 企业微信 robot takes
MAX_ANSWER = 65536
Request = tuple[str, dict, dict[str, str]]  # url, JSON body, extra headers


def hmac_sha256(key: str | bytes, data: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, data,
                    hashlib.sha256).digest()


def generic_signature(secret: str, timestamp: str, body: bytes) -> str:
    """'sha256=' + hex HMAC-SHA256 over 'TIMESTAMP.' + body (X-KnownFix-Signature)."""
    return "sha256=" + hmac_sha256(secret, timestamp.encode() + b"." + body).hex()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """钉钉 加签: base64 HMAC-SHA256 of 'timestamp\\nsecret' keyed by the secret (before
    URL encoding)."""
    return base64.b64encode(hmac_sha256(secret, f"{timestamp_ms}\n{secret}".encode())).decode()


def feishu_sign(secret: str, timestamp_s: str) -> str:
    """飞书 签名校验: base64 HMAC-SHA256 keyed by 'timestamp\\nsecret' over nothing."""
    return base64.b64encode(hmac_sha256(f"{timestamp_s}\n{secret}", b"")).decode()


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


# -- the formats: (delivery, now) -> (url, body, headers) -----------------------------------
def _generic(d: Delivery, now: float) -> Request:
    m = d.message
    body = {"event_id": d.event_id, "kind": m.kind, "lang": m.lang, "subject": m.subject,
            "text": m.text(), "link": m.link, "target": m.target,
            "facts": {label: value for label, value in m.facts},
            "sent_at": int(now)}
    return d.address, body, {}


def _wecom(d: Delivery, now: float) -> Request:
    content = _cut_bytes(d.message.markdown(), WECOM_LIMIT)
    return d.address, {"msgtype": "markdown", "markdown": {"content": content}}, {}


def _dingtalk(d: Delivery, now: float) -> Request:
    url = d.address
    if d.secret:
        ts = str(int(now * 1000))
        url += ("&" if "?" in url else "?") + \
            f"timestamp={ts}&sign={quote_plus(dingtalk_sign(d.secret, ts))}"
    m = d.message
    return url, {"msgtype": "markdown", "markdown": {"title": m.subject,
                                                      "text": m.markdown()}}, {}


def _feishu(d: Delivery, now: float) -> Request:
    m = d.message
    rows = [[{"tag": "text", "text": line}] for line in m.lines]
    rows += [[{"tag": "text", "text": f"{label}: {value}"}] for label, value in m.facts]
    if m.link:
        rows.append([{"tag": "a", "text": m.link_text, "href": m.link}])
    lang = "zh_cn" if m.lang == "zh" else "en_us"
    body: dict = {"msg_type": "post",
                  "content": {"post": {lang: {"title": m.subject, "content": rows}}}}
    if d.secret:
        ts = str(int(now))
        body = {"timestamp": ts, "sign": feishu_sign(d.secret, ts), **body}
    return d.address, body, {}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(d: Delivery, now: float) -> Request:
    m = d.message
    text = "\n".join([f"*{_slack_escape(m.subject)}*", *map(_slack_escape, m.lines)]
                     + [f"*{_slack_escape(k)}:* {_slack_escape(v)}" for k, v in m.facts])
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    if m.link:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{m.link}|{_slack_escape(m.link_text)}>"}]})
    return d.address, {"text": m.subject, "blocks": blocks}, {}


def _teams(d: Delivery, now: float) -> Request:
    m = d.message
    card: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": m.subject, "weight": "Bolder", "size": "Medium",
                  "wrap": True},
                 *({"type": "TextBlock", "text": line, "wrap": True} for line in m.lines),
                 {"type": "FactSet",
                  "facts": [{"title": k, "value": v} for k, v in m.facts]}],
    }
    if m.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": m.link_text, "url": m.link}]
    return d.address, {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}, {}


FORMATS: dict[str, Callable[[Delivery, float], Request]] = {
    "generic": _generic, "wecom": _wecom, "dingtalk": _dingtalk, "feishu": _feishu,
    "slack": _slack, "teams": _teams,
}


def request_for(fmt: str, delivery: Delivery, now: float) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body bytes and headers of one webhook call (signed where the format
    signs and a secret is given)."""
    url, body, extra = FORMATS[fmt](delivery, now)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "KnownFix-notify", EVENT_ID_HEADER: delivery.event_id, **extra}
    if fmt == "generic" and delivery.secret:
        ts = str(int(now))
        headers["X-KnownFix-Timestamp"] = ts
        headers["X-KnownFix-Signature"] = generic_signature(delivery.secret, ts, data)
    return url, data, headers


def check_answer(fmt: str, answer: bytes) -> None:
    """The Chinese robots say 200 and put their error in the body: raise it."""
    if fmt not in ("wecom", "dingtalk", "feishu"):
        return
    try:
        found = json.loads(answer.decode("utf-8", "replace") or "{}")
    except ValueError:
        return  # not JSON: a proxy or an older server; the 2xx stands
    if not isinstance(found, dict):
        return
    code = found.get("errcode", found.get("code", found.get("StatusCode", 0)))
    if code not in (0, "0", None):
        message = found.get("errmsg") or found.get("msg") or found.get("StatusMessage") or ""
        raise DeliveryFailed(f"{fmt} answered error {code}: {str(message)[:200]}")


class WebhookChannel:
    """POSTs one notification to a webhook in one format (see the table above)."""

    def __init__(self, fmt: str, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.fmt, self.timeout, self.clock = fmt, timeout, clock

    def send(self, delivery: Delivery) -> None:
        url, data, headers = request_for(self.fmt, delivery, self.clock())
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = resp.read(MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
            permanent = 400 <= status < 500 and status not in RETRY_STATUS
            raise DeliveryFailed(f"webhook answered {status} {exc.reason}: {detail}".strip(),
                                 permanent=permanent) from exc
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise DeliveryFailed(f"webhook {_host(url)}: {exc.__class__.__name__}: "
                                 f"{getattr(exc, 'reason', exc)}") from exc
        check_answer(self.fmt, answer)


def _host(url: str) -> str:
    """The URL without its path and query (which may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
