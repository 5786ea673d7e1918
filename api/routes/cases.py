"""Cases: open (Idempotency-Key), read, list page by page, and every action of the
service loop, each a POST on the case that takes If-Match and answers with the case and
its new ETag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import Caller, DeskDep, IdemKey, IfMatch, if_match, needs
from api.once import fingerprint, once
from api.schemas import (
    CaseOpen,
    CaseOut,
    CasePage,
    CaseState,
    CaseUpdate,
    Channel,
    Close,
    Confirm,
    Delay,
    Dispatch,
    Empty,
    Escalate,
    EventOut,
    FollowUp,
    LinkFix,
    LinkOut,
    Reopen,
    Resolve,
    ServiceRecord,
    Short,
)
from api.shape import case_out, with_etag
from service.cases import Case
from service.desk import Desk
from service.queries import CaseFilter

router = APIRouter(prefix="/cases", tags=["cases"])
PREFIX = "/api/v1"
CaseId = Annotated[Short, Path(description="Case number, e.g. KF-20261202-1")]


def _act(desk: Desk, case_id: str, match: str | None, do: Callable[[], Case]) -> JSONResponse:
    """Run one service action as a change of the version If-Match names; the case and
    its new ETag."""
    with desk.versions.expect("case", case_id, if_match(match)):
        case = do()
    return with_etag(case_out(desk, case), int(case.fields["seq"]))


@router.get("", response_model=CasePage, openapi_extra=needs("case.view"),
            summary="List cases, newest received first, a page at a time")
def list_cases(user: Caller, desk: DeskDep, request: Request, response: Response,
               state: Annotated[list[CaseState] | None, Query(
                   description="Any of these states (repeatable)")] = None,
               assignee: Annotated[Short | None, Query()] = None,
               channel: Annotated[Channel | None, Query()] = None,
               received_from: Annotated[Short | None, Query(
                   description="Received at or after (ISO-8601 date or time)")] = None,
               received_to: Annotated[Short | None, Query(
                   description="Received before (ISO-8601 date or time)")] = None,
               cursor: Annotated[Short | None, Query(
                   description="next_cursor of the previous page")] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> CasePage:
    filters = CaseFilter(tuple(state or ()), assignee, channel, received_from, received_to)
    page = desk.queries.case_page(user, filters, cursor, limit)
    if page.next_cursor:
        nxt = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    return CasePage(items=[case_out(desk, c) for c in page.items],
                    next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=CaseOut, openapi_extra=needs("case.open"),
             summary="Open a case: numbered, triaged, checked for recurrence and duplicates")
def open_case(body: CaseOpen, user: Caller, desk: DeskDep, key: IdemKey = None) -> Response:
    """With an Idempotency-Key, the same request sent again (a retry after a timeout)
    returns the first answer instead of opening a second case."""
    def run() -> Response:
        intake = body.model_dump(exclude={"description", "title", "labels", "project"},
                                 exclude_none=True)
        case = desk.cases.open(user, body.description, title=body.title,
                               labels=body.labels, project=body.project, **intake)
        return with_etag(case_out(desk, case), int(case.fields["seq"]), 201,
                         location=f"{PREFIX}/cases/{quote(case.id, safe='')}")
    return once(desk, user, key, fingerprint("POST", "/cases", body), run)


@router.get("/{case_id}", response_model=CaseOut, openapi_extra=needs("case.view"),
            summary="A case, with its ETag")
def get_case(case_id: CaseId, user: Caller, desk: DeskDep) -> JSONResponse:
    case = desk.queries.case(user, case_id)
    return with_etag(case_out(desk, case), int(case.fields["seq"]))


@router.patch("/{case_id}", response_model=CaseOut, openapi_extra=needs("case.update"),
              summary="Change intake fields (a changed description is triaged again)")
def update_case(case_id: CaseId, body: CaseUpdate, user: Caller, desk: DeskDep,
                match: IfMatch = None) -> JSONResponse:
    intake = body.model_dump(exclude={"description", "title", "labels"}, exclude_none=True)
    return _act(desk, case_id, match, lambda: desk.cases.update(
        user, case_id, description=body.description, title=body.title, labels=body.labels,
        **intake))


@router.get("/{case_id}/events", response_model=list[EventOut],
            openapi_extra=needs("case.view"), summary="The case's timeline (audit events)")
def case_events(case_id: CaseId, user: Caller, desk: DeskDep) -> list[EventOut]:
    return [EventOut(**e) for e in desk.queries.timeline(user, case_id)]


@router.get("/{case_id}/links", response_model=list[LinkOut],
            openapi_extra=needs("case.view"),
            summary="Fixes suggested, used or not helpful; duplicates, recurrences, drafts")
def case_links(case_id: CaseId, user: Caller, desk: DeskDep) -> list[LinkOut]:
    return [LinkOut(**lk) for lk in desk.queries.links(user, case_id)]


@router.post("/{case_id}/links", status_code=201, response_model=list[LinkOut],
             openapi_extra=needs("case.link"),
             summary="Mark a fix as used (helpful: true) or not helpful")
def link_fix(case_id: CaseId, body: LinkFix, user: Caller, desk: DeskDep,
             match: IfMatch = None) -> list[LinkOut]:
    """A link does not change the case itself (its ETag stays); If-Match is still
    checked, so a client can insist on the version it looked at."""
    desk.versions.check("case", case_id, if_match(match))
    desk.cases.link_fix(user, case_id, body.target, body.helpful)
    return [LinkOut(**lk) for lk in desk.queries.links(user, case_id)]


def _action(path: str, permission: str, summary: str):
    return router.post(f"/{{case_id}}/{path}", response_model=CaseOut, summary=summary,
                       openapi_extra=needs(permission))


@_action("start", "case.update", "Take the case: in progress, first response recorded")
def start(case_id: CaseId, user: Caller, desk: DeskDep,
          match: IfMatch = None, body: Empty | None = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.start(user, case_id))


@_action("escalate", "case.escalate", "Hand the case on with the triage packet")
def escalate(case_id: CaseId, body: Escalate, user: Caller, desk: DeskDep,
             match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match,
                lambda: desk.cases.escalate(user, case_id, body.to, body.reason))


@_action("delay", "case.delay", "Record why the case is delayed (A-D)")
def delay(case_id: CaseId, body: Delay, user: Caller, desk: DeskDep,
          match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match,
                lambda: desk.cases.set_delay(user, case_id, body.code, body.note))


@_action("dispatch", "case.dispatch", "Send someone on site (派工)")
def dispatch(case_id: CaseId, body: Dispatch, user: Caller, desk: DeskDep,
             match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.dispatch(
        user, case_id, body.assignee, body.planned_at, body.place, body.tools, body.parts))


@_action("service-record", "case.service_record", "The on-site service record")
def service_record(case_id: CaseId, body: ServiceRecord, user: Caller, desk: DeskDep,
                   match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.record_service(
        user, case_id, body.cause, body.steps, body.parts_used, body.result))


@_action("resolve", "case.resolve", "Resolve: the fix, and the confirmed labels")
def resolve(case_id: CaseId, body: Resolve, user: Caller, desk: DeskDep,
            match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.resolve(
        user, case_id, body.fix, body.cause, body.used, body.labels, body.severity,
        body.confirm))


@_action("confirm", "case.confirm", "The customer confirms the fix (satisfaction 1-5)")
def confirm(case_id: CaseId, body: Confirm, user: Caller, desk: DeskDep,
            match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.confirm(
        user, case_id, body.satisfaction, body.comment))


@_action("close", "case.close", "Close (an article is drafted from the case)")
def close(case_id: CaseId, body: Close, user: Caller, desk: DeskDep,
          match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.close(
        user, case_id, body.labels, body.severity, body.confirm).case)


@_action("reopen", "case.reopen", "Put a resolved or closed case back to work")
def reopen(case_id: CaseId, body: Reopen, user: Caller, desk: DeskDep,
           match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.reopen(user, case_id, body.reason))


@_action("follow-up", "case.follow_up", "The follow-up call (回访): outcome, note, rating")
def follow_up(case_id: CaseId, body: FollowUp, user: Caller, desk: DeskDep,
              match: IfMatch = None) -> JSONResponse:
    return _act(desk, case_id, match, lambda: desk.cases.follow_up(
        user, case_id, str(body.outcome), body.note, body.satisfaction))

