"""Triage a fault description; search the known fixes; the label fields and values."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import Caller, DeskDep, needs
from api.schemas import LabelFieldsOut, SearchOut, Short, TriageIn, TriageOut
from api.shape import hit_out, triage_out
from errors import BadInput

router = APIRouter(tags=["triage and search"])


@router.post("/triage", response_model=TriageOut, openapi_extra=needs("case.open"),
             summary="Triage a fault description (writes nothing)")
def triage(body: TriageIn, user: Caller, desk: DeskDep, request: Request) -> TriageOut:
    """Labels with confidence and alternatives, severity with its reason, the known
    fixes ranked with the words that matched, and whether to escalate.  Nothing is
    stored: open a case (POST /cases) to keep it."""
    timed = desk.lookup.triage(user, body.text, body.title, body.product, body.model,
                               body.labels)
    request.app.state.metrics.observe_triage(timed.seconds)
    return triage_out(timed.result)


def parse_labels(items: list[str]) -> dict[str, str]:
    """Repeated `label=NAME=VALUE` query values as {NAME: VALUE}; a bare name is refused."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise BadInput(f"label {item!r}: give NAME=VALUE, e.g. category=storage",
                           "label_form", label=item)
        out[name.strip()] = value.strip()
    return out


@router.get("/search", response_model=SearchOut, openapi_extra=needs("article.view"),
            summary="Search the known fixes")
def search(user: Caller, desk: DeskDep,
           q: Annotated[Short, Query(min_length=1, description="Words, a fault "
                                     "description or an error code")],
           kind: Annotated[Literal["case", "article"] | None, Query()] = None,
           k: Annotated[int, Query(ge=1, le=50, description="How many results")] = 5,
           label: Annotated[list[Short] | None, Query(
               description="Only records with this label value: NAME=VALUE "
               "(repeatable)")] = None) -> SearchOut:
    """Validated articles and resolved cases, best first, each with its score and the
    words that matched."""
    results = desk.lookup.search(user, q, k, kind, parse_labels(label or []))
    return SearchOut(query=q, results=[hit_out(r) for r in results])


@router.get("/labels", response_model=LabelFieldsOut, openapi_extra=needs("article.view"),
            summary="Label fields, their values, and the severity scale")
def labels(user: Caller, desk: DeskDep) -> LabelFieldsOut:
    return LabelFieldsOut(fields=desk.lookup.label_fields(user))
