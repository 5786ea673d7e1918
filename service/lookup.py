"""Lookup: triage a text and search the known fixes, as a signed-in user.

The Engine does the work; this is the door to it with the role check that an edge
holding the Desk goes through (triage: `case.open`, since it is intake's first step and
writes nothing; search: `article.view`).  Neither writes to the knowledge base, so
neither logs an event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from errors import UnknownLabel
from service.auth import User, require
from service.engine import Engine, SearchResult
from triage.result import TriageResult

# names a label cannot have here: the context fields and the triage call's own arguments
RESERVED = frozenset({"text", "exclude", "title", "product", "model", "asset"})


@dataclass(frozen=True)
class Timed:
    """A triage result and how long the whole call took (queueing for the index lock
    included), in seconds."""

    result: TriageResult
    seconds: float


class Lookup:
    """Triage and search with role checks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def triage(self, actor: User, text: str, title: str = "", product: str = "",
               model: str = "", labels: dict[str, str] | None = None) -> Timed:
        """Classify, rate and match a fault description.  `title`, `product` and
        `model` are context (weighed below the description); `labels` fix a label's
        value (UnknownLabel for a field the knowledge base does not have)."""
        require(actor, "case.open")
        start = time.perf_counter()
        labels = {k: v for k, v in (labels or {}).items() if v and v.strip()}
        self._check_fields(labels)
        context = {k: v for k, v in (("title", title), ("product", product),
                                     ("model", model)) if v and v.strip()}
        result = self.engine.triage(text, **context, **labels)
        return Timed(result, time.perf_counter() - start)

    def search(self, actor: User, query: str, k: int | None = None, kind: str | None = None,
               labels: dict[str, str] | None = None) -> list[SearchResult]:
        """Known fixes (validated articles and resolved cases) for a query."""
        require(actor, "article.view")
        if labels:
            self._check_fields(labels)
        return self.engine.search(query, k, kind, labels)

    def _check_fields(self, labels: dict[str, str]) -> None:
        """Only the knowledge base's label fields (never a context field or a name of
        the triage call's own parameters)."""
        known = set(self.engine.kb.label_fields()) - RESERVED
        bad = sorted(set(labels) - known)
        if bad:
            raise UnknownLabel(f"unknown label field(s): {', '.join(bad)} "
                               f"(known: {', '.join(sorted(known)) or 'none'})",
                               "unknown_label", fields=", ".join(bad),
                               known=", ".join(sorted(known)) or "—")

    def label_fields(self, actor: User) -> dict[str, list[str]]:
        """Each label field of the knowledge base with its known values, and the
        severity scale (as "severity")."""
        require(actor, "article.view")
        kb = self.engine.kb
        return {**{f: kb.label_values(f) for f in kb.label_fields()},
                "severity": list(self.engine.settings.levels)}
