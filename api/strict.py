"""Query parameters a route does not take are refused (422), not ignored: a misspelt
filter (?stat=closed) would otherwise list everything and look like an answer.

The parameters each route takes are read from the app's own OpenAPI document, so this
list can never disagree with what the document says."""

from __future__ import annotations

from fastapi import Request

from api.metrics import Routes
from errors import BadInput


class QueryParams:
    """(method, route template) -> the query parameters the route declares."""

    def __init__(self, openapi: dict) -> None:
        self.declared: dict[tuple[str, str], set[str]] = {}
        for path, ops in openapi.get("paths", {}).items():
            for method, op in ops.items():
                self.declared[(method.upper(), path)] = {
                    p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        self.routes = Routes(sorted({path for _m, path in self.declared}))

    def unknown(self, method: str, path: str, given: set[str]) -> list[str]:
        allowed = self.declared.get((method, self.routes.template(path)))
        return sorted(given - allowed) if allowed is not None else []


def known_query(request: Request) -> None:
    """A router dependency: BadInput for a query parameter the route does not declare."""
    state = request.app.state
    if getattr(state, "query_params", None) is None:
        state.query_params = QueryParams(request.app.openapi())
    unknown = state.query_params.unknown(request.method, request.url.path,
                                         set(request.query_params))
    if unknown:
        names = ", ".join(unknown)[:200]
        raise BadInput(f"unknown query parameter(s): {names}", "unknown_query", names=names)
