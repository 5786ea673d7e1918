"""Errors as RFC 9457 problem details (application/problem+json): the one place where
an exception becomes an HTTP response.

Each answer has `status`, a stable `code` (the service error's key where it has one,
else its class: a client can branch on it), and `title` and `detail` in the caller's
language — Accept-Language (zh or en), else the token user's own language, else
English — taken from the app's catalogue (ui/i18n.py err.*).  Bad input never gives a
500, and no answer ever carries a traceback: an unexpected error is logged on the server
and answered with a plain 500 problem.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from errors import (
    BadInput,
    BadToken,
    IndexCorrupt,
    InvalidTransition,
    KnownFixError,
    ModelMismatch,
    NotFound,
    PermissionDenied,
    RequestInProgress,
    StaleRecord,
)
from settings import SettingsError
from ui.i18n import error_lead, error_message, message

log = logging.getLogger("knownfix.api")
PROBLEM = "application/problem+json"
LANGS = ("zh", "en")
# exception class -> HTTP status; the nearest class in the error's MRO decides
STATUS: dict[type[Exception], int] = {
    BadToken: 401,
    PermissionDenied: 403,
    NotFound: 404,
    InvalidTransition: 409,
    RequestInProgress: 409,
    StaleRecord: 412,
    BadInput: 422,
    SettingsError: 422,
    ModelMismatch: 503,
    IndexCorrupt: 503,
    KnownFixError: 400,
}
RETRY = {409: "1", 503: "2"}


def negotiate(header: str | None) -> str | None:
    """The language of an Accept-Language header we speak best ("zh" or "en"): the one
    with the highest q among those it names; None when it names neither."""
    best, best_q = None, 0.0
    for part in (header or "").split(","):
        tag, *params = part.strip().split(";")
        q = 1.0
        for p in params:
            name, _, value = p.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q
    return best


def language(request: Request) -> str:
    """The caller's language: Accept-Language, else the token user's, else English."""
    chosen = negotiate(request.headers.get("accept-language"))
    if chosen:
        return chosen
    user = getattr(request.state, "user", None)
    return user.lang if user is not None and user.lang in LANGS else "en"


def _known(exc: Exception, lang: str) -> tuple[int, str, str, str, dict]:
    """status, code, title, detail and extension members of a service error."""
    status = next(STATUS[c] for c in type(exc).__mro__ if c in STATUS)
    if isinstance(exc, KnownFixError):
        code, detail = exc.key or type(exc).__name__, error_message(exc, lang)
        title = message(error_lead(exc), lang)
    else:  # SettingsError before it joins the KnownFixError hierarchy
        code, detail, title = type(exc).__name__, str(exc), message("err.BadInput", lang)
    extra: dict = {}
    if isinstance(exc, StaleRecord):
        p = exc.params
        extra = {"current_version": p.get("current"), "changed_by": p.get("by"),
                 "changed_at": p.get("at"), "changed_with": p.get("action")}
    return status, code, title, detail, extra


def _validation(exc: RequestValidationError, lang: str) -> tuple[int, str, str, str, dict]:
    errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        why = next(e["msg"] for e in errors if e["type"] == "json_invalid")
        return 400, "json_invalid", message("err.http_400", lang), \
            message("err.json_invalid", lang, why=why), {}
    listed = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:10])
    return 422, "request_invalid", message("err.http_422", lang), \
        message("err.request_invalid", lang, errors=listed), {"errors": errors[:50]}


def _http(exc: HTTPException, request: Request, lang: str) -> tuple[int, str, str, str, dict]:
    status = exc.status_code
    path = request.url.path
    if status == 404:
        return 404, "route_not_found", message("err.http_404", lang), \
            message("err.route_not_found", lang, path=path), {}
    if status == 405:
        return 405, "method_not_allowed", message("err.http_405", lang), \
            message("err.method_not_allowed", lang, path=path, method=request.method), {}
    return status, f"http_{status}", str(exc.detail), str(exc.detail), {}


def problem(request: Request, exc: Exception) -> JSONResponse:
    """The problem+json answer for any exception raised while serving `request`."""
    lang = language(request)
    headers = {"Content-Language": lang, "Vary": "Accept-Language"}
    if isinstance(exc, KnownFixError | SettingsError):
        status, code, title, detail, extra = _known(exc, lang)
    elif isinstance(exc, RequestValidationError):
        status, code, title, detail, extra = _validation(exc, lang)
    elif isinstance(exc, HTTPException):
        status, code, title, detail, extra = _http(exc, request, lang)
        headers.update(exc.headers or {})
    elif isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        status, code, extra = 503, "db_busy", {}
        title, detail = message("err.http_503", lang), message("err.db_busy", lang)
    else:
        log.error("unexpected error serving %s %s", request.method, request.url.path,
                  exc_info=exc)
        status, code, extra = 500, "internal", {}
        title, detail = message("err.http_500", lang), message("err.internal", lang)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="knownfix", error="invalid_token"'
    if status in RETRY and code in ("idempotency_in_progress", "db_busy"):
        headers["Retry-After"] = RETRY[status]
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "code": code, "instance": request.url.path, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    """Route every error of the app through `problem`."""
    for kind in (KnownFixError, SettingsError, RequestValidationError, HTTPException,
                 sqlite3.OperationalError, Exception):
        app.add_exception_handler(kind, problem)
