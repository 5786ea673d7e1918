"""Idempotency-Key on creating requests: the HTTP side of service/idempotency.py.

`once(...)` runs a creating handler at most once per user and key: the first request
claims the key, runs, and its response (status, body, ETag and Location) is kept; a
repeat — even one that arrives while the first is still running — gets that response
again, marked `Idempotent-Replayed: true`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi.responses import Response
from pydantic import BaseModel

from service.auth import User
from service.desk import Desk
from service.idempotency import Stored

KEPT_HEADERS = ("content-type", "etag", "location")


def fingerprint(method: str, path: str, body: BaseModel) -> str:
    """What makes two requests 'the same request': method, path and the parsed body."""
    text = f"{method} {path}\n{body.model_dump_json()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def once(desk: Desk, user: User, key: str | None, print_: str,
         run: Callable[[], Response]) -> Response:
    """`run()`'s response, or the stored first response for this user and key."""
    if key is None:
        return run()
    claim = desk.idempotency.begin(user.username, key, print_)
    if isinstance(claim, Stored):
        headers = {**claim.headers, "Idempotent-Replayed": "true"}
        return Response(claim.body, status_code=claim.status, headers=headers)
    try:
        response = run()
    except BaseException:
        desk.idempotency.release(claim)
        raise
    if 200 <= response.status_code < 300:
        kept = {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
        desk.idempotency.finish(claim, response.status_code, bytes(response.body), kept)
    else:
        desk.idempotency.release(claim)
    return response
