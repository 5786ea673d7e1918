"""Prometheus-style metrics for /metrics, in the text exposition format (version 0.0.4).

Kept in this process: requests by route template, method and status; request latency
and triage time as histograms.  Read at each scrape from the Desk: open cases per state
and per deadline status, records per kind and records in the search index.  Routes are
their templates (/api/v1/cases/{case_id}), never raw paths, so a scan of made-up URLs
cannot grow the series without bound.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

INF = 'le="+Inf"'
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class Histogram:
    """Cumulative buckets, sum and count per label set."""

    def __init__(self) -> None:
        self.buckets: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: dict[tuple, float] = defaultdict(float)
        self.counts: dict[tuple, int] = defaultdict(int)

    def observe(self, labels: tuple, seconds: float) -> None:
        row = self.buckets[labels]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                row[i] += 1
        self.sums[labels] += seconds
        self.counts[labels] += 1

    def lines(self, name: str, label_names: tuple[str, ...]) -> list[str]:
        out = []
        for labels in sorted(self.counts):
            base = _labels(label_names, labels)
            for bound, n in zip(BUCKETS, self.buckets[labels], strict=True):
                le = f'le="{bound}"'
                out.append(f"{name}_bucket{_join(base, le)} {n}")
            out.append(f"{name}_bucket{_join(base, INF)} {self.counts[labels]}")
            out.append(f"{name}_sum{_wrap(base)} {self.sums[labels]:.6f}")
            out.append(f"{name}_count{_wrap(base)} {self.counts[labels]}")
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple) -> str:
    return ",".join(f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True))


def _join(base: str, more: str) -> str:
    return "{" + (f"{base},{more}" if base else more) + "}"


def _wrap(base: str) -> str:
    return "{" + base + "}" if base else ""


class Metrics:
    """The process's counters and histograms; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency = Histogram()
        self.triage = Histogram()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, method, status)] += 1
            self.latency.observe((route, method), seconds)

    def observe_triage(self, seconds: float) -> None:
        with self._lock:
            self.triage.observe((), seconds)

    def render(self, gauges: dict) -> str:
        """The exposition text: this process's series, then `gauges` (Status.gauges)."""
        with self._lock:
            lines = ["# HELP knownfix_http_requests_total HTTP requests by route, method "
                     "and status.", "# TYPE knownfix_http_requests_total counter"]
            lines += [f"knownfix_http_requests_total{{{_labels(('route', 'method', 'status'), k)}}}"
                      f" {n}" for k, n in sorted(self.requests.items())]
            lines += ["# HELP knownfix_http_request_duration_seconds Time to answer a "
                      "request.", "# TYPE knownfix_http_request_duration_seconds histogram"]
            lines += self.latency.lines("knownfix_http_request_duration_seconds",
                                        ("route", "method"))
            lines += ["# HELP knownfix_triage_duration_seconds Time of a triage through the "
                      "API (waiting for the index included).",
                      "# TYPE knownfix_triage_duration_seconds histogram"]
            lines += self.triage.lines("knownfix_triage_duration_seconds", ())
        lines += _gauge("knownfix_open_cases", "Open cases per state (the queues).",
                        "state", gauges["open_cases"])
        lines += _gauge("knownfix_open_cases_deadline", "Open cases overdue or at risk of "
                        "their deadline.", "status", gauges["deadlines"])
        lines += _gauge("knownfix_records", "Records in the knowledge base per kind.",
                        "kind", gauges["records"])
        lines += ["# HELP knownfix_index_records Records in the search index.",
                  "# TYPE knownfix_index_records gauge",
                  f"knownfix_index_records {gauges['index_records']}"]
        return "\n".join(lines) + "\n"


def _gauge(name: str, help_: str, label: str, values: dict) -> list[str]:
    return [f"# HELP {name} {help_}", f"# TYPE {name} gauge",
            *(f'{name}{{{label}="{_escape(str(k))}"}} {v}' for k, v in sorted(values.items()))]


class Routes:
    """Path -> route template, from the templates the app serves (its OpenAPI paths)."""

    def __init__(self, templates: list[str]) -> None:
        self.patterns = [(re.compile("^" + re.sub(r"\\\{[^}/]+\\\}", "[^/]+",
                                                  re.escape(t)) + "$"), t)
                         for t in sorted(templates, key=lambda t: (t.count("{"), t))]

    def template(self, path: str) -> str:
        return next((t for p, t in self.patterns if p.match(path)), "unmatched")


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request by its route template and status.
    `templates` is called once, on the first request (the routes are all there then)."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics,
                 templates: Callable[[], list[str]]) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates
        self.routes: Routes | None = None

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        if self.routes is None:
            self.routes = Routes(self.templates())
        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(self.routes.template(scope.get("path", "")),
                                         scope.get("method", ""), status,
                                         time.perf_counter() - start)
