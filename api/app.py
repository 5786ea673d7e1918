"""The FastAPI application: `create_app(desk)`.

The Desk is opened by the caller (`knownfix api`, or `knownfix serve` beside the app), so
one process holds one model, index and database connection set, whatever serves it.
Everything lives under /api/v1 — the OpenAPI document at /api/v1/openapi.json and the
interactive docs at /api/v1/docs — except /metrics, where Prometheus looks.

`serve_in_thread(desk, host, port)` runs the API beside the Streamlit app in one process,
sharing the app's Desk (`knownfix serve --api-port 8600` does this)::

    from api.app import serve_in_thread
    from ui.resources import wait_loaded

    serve_in_thread(wait_loaded(), "127.0.0.1", 8600)  # the model is loaded once
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse

from api import problems
from api.metrics import Metrics, MetricsMiddleware
from api.routes import admin, articles, cases, lookup, reports, system
from api.schemas import Problem
from api.strict import known_query
from portal import answers
from service.desk import Desk

PREFIX = "/api/v1"
VERSION = "1.0.0"
ERROR_STATUSES = {
    400: "Malformed request (e.g. the body is not JSON)",
    401: "No token, or a token that is unknown, revoked, or whose user is disabled",
    403: "The token's user has no role for this",
    404: "No such record",
    409: "Not possible in the record's state, or the same Idempotency-Key is still "
         "being served",
    412: "If-Match names a version the record has moved past",
    422: "The request's fields cannot be used",
    500: "A fault inside the server (logged there; no details here)",
    503: "The database is busy, or the index cannot be used; retry",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {problems.PROBLEM: {
        "schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, text in ERROR_STATUSES.items()}
DESCRIPTION = """KnownFix's REST API: triage a fault, search the known fixes, run cases
through the service loop, write and review articles, read reports.

Authenticate with a personal API token: `Authorization: Bearer kf_…` (made with
`knownfix token create USER`).  A request acts with that user's role, with the same
checks and audit events as the app.  Errors are `application/problem+json` (RFC 9457)
with a stable `code`, in the caller's `Accept-Language` (zh or en).  Every case and
article carries an `ETag`; send it back in `If-Match` to change the record only if
nobody changed it since (412 otherwise).  `Idempotency-Key` on POST /cases and
POST /articles makes a retry return the first answer.  See docs/api.md."""


def create_app(desk: Desk) -> FastAPI:
    """The API over an open Desk (not closed here: whoever opened it closes it)."""
    app = FastAPI(title="KnownFix API", version=VERSION, description=DESCRIPTION,
                  openapi_url=f"{PREFIX}/openapi.json", docs_url=f"{PREFIX}/docs",
                  redoc_url=None)
    app.state.desk = desk
    app.state.metrics = Metrics()
    v1 = APIRouter(prefix=PREFIX, responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(known_query)])
    for module in (lookup, cases, articles, reports, admin, system):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(answers.router)  # the customer's answer pages (/portal/answer)
    app.add_api_route("/metrics", _metrics_endpoint(app), methods=["GET"],
                      response_class=PlainTextResponse, include_in_schema=False)
    problems.install(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics,
                       templates=lambda: [*app.openapi()["paths"], "/metrics"])
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _metrics_endpoint(app: FastAPI):
    def metrics() -> PlainTextResponse:
        text = app.state.metrics.render(app.state.desk.status.gauges())
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
    return metrics


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, with the Problem schema the error responses refer to."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        app.openapi_schema = doc
    return app.openapi_schema


def serve_in_thread(desk: Desk, host: str, port: int, timeout: float = 30.0) -> uvicorn.Server:
    """Serve the API over `desk` from a daemon thread of this process (beside the
    Streamlit app); returns the running server once it listens (`should_exit = True`
    stops it).  OSError when the port cannot be had."""
    server = uvicorn.Server(uvicorn.Config(create_app(desk), host=host, port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True, name="knownfix-api")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise OSError(f"the API could not listen on {host}:{port}")
        time.sleep(0.05)
    return server
