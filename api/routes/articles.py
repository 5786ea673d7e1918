"""Articles (the knowledge loop, KCS): write (Idempotency-Key), edit and move through
review with If-Match, read, list, and their stored versions.  Searching them is
GET /search?kind=article."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import Caller, DeskDep, IdemKey, IfMatch, if_match, needs
from api.once import fingerprint, once
from api.schemas import (
    ArticleEdit,
    ArticleIn,
    ArticleOut,
    ArticlePage,
    ArticleSaved,
    ArticleState,
    Duplicate,
    Empty,
    Merge,
    NeedReason,
    Reason,
    Short,
    VersionOut,
)
from api.shape import article_out, with_etag
from service.auth import User
from service.desk import Desk

router = APIRouter(prefix="/articles", tags=["articles"])
ArticleId = Annotated[Short, Path(description="Article id, e.g. KA-000031")]


def _current(desk: Desk, user: User, article_id: str, status: int = 200,
             duplicates: list[dict] | None = None, location: str | None = None
             ) -> JSONResponse:
    """The article as it is now with its ETag (the version is read first, so the ETag is
    never newer than the body), wrapped with its near-duplicates when given."""
    version = desk.versions.current("article", article_id)
    out = article_out(desk.queries.article(user, article_id), version)
    if duplicates is None:
        return with_etag(out, version, status, location)
    saved = ArticleSaved(article=out, duplicates=[Duplicate(**d) for d in duplicates])
    return with_etag(saved, version, status, location)


@router.get("", response_model=ArticlePage, openapi_extra=needs("article.view"),
            summary="List articles, most recently changed first, a page at a time")
def list_articles(user: Caller, desk: DeskDep, request: Request, response: Response,
                  state: Annotated[ArticleState | None, Query()] = None,
                  cursor: Annotated[Short | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ArticlePage:
    page = desk.queries.article_page(user, state, cursor, limit)
    if page.next_cursor:
        nxt = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    items = [article_out(a, v) for a, v in zip(page.items, page.versions, strict=True)]
    return ArticlePage(items=items, next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=ArticleSaved,
             openapi_extra=needs("article.draft"),
             summary="Write a new article (work in progress); near-duplicates are listed")
def create_article(body: ArticleIn, user: Caller, desk: DeskDep, key: IdemKey = None) -> Response:
    def run() -> Response:
        article_id, dups = desk.knowledge.create(
            user, body.title, body.symptoms, body.resolution, body.labels, body.severity,
            body.cause, body.environment)
        where = f"/api/v1/articles/{quote(article_id, safe='')}"
        return _current(desk, user, article_id, 201, dups, where)
    return once(desk, user, key, fingerprint("POST", "/articles", body), run)


@router.get("/{article_id}", response_model=ArticleOut,
            openapi_extra=needs("article.view"), summary="An article, with its ETag")
def get_article(article_id: ArticleId, user: Caller, desk: DeskDep) -> JSONResponse:
    return _current(desk, user, article_id)


@router.patch("/{article_id}", response_model=ArticleSaved,
              openapi_extra=needs("article.draft"),
              summary="Edit what is given; a validated article edited by someone who may "
                      "not validate goes back to review")
def edit_article(article_id: ArticleId, body: ArticleEdit, user: Caller, desk: DeskDep,
                 match: IfMatch = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        _revision, dups = desk.knowledge.edit(
            user, article_id, body.title, body.symptoms, body.resolution, body.labels,
            body.severity, body.cause, body.environment, body.audience)
    return _current(desk, user, article_id, duplicates=dups)


def _move(path: str, permission: str, summary: str):
    return router.post(f"/{{article_id}}/{path}", summary=summary,
                       response_model=ArticleOut,
                       openapi_extra=needs(permission))


@_move("submit", "article.submit", "Work in progress -> waiting for review")
def submit(article_id: ArticleId, user: Caller, desk: DeskDep, match: IfMatch = None,
           body: Empty | None = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        desk.knowledge.submit(user, article_id)
    return _current(desk, user, article_id)


@_move("validate", "article.validate", "Review passed: validated")
def validate(article_id: ArticleId, user: Caller, desk: DeskDep, match: IfMatch = None,
             body: Empty | None = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        desk.knowledge.validate(user, article_id)
    return _current(desk, user, article_id)


@_move("reject", "article.validate", "Send back to its author with a reason")
def reject(article_id: ArticleId, body: NeedReason, user: Caller, desk: DeskDep,
           match: IfMatch = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        desk.knowledge.reject(user, article_id, body.reason)
    return _current(desk, user, article_id)


@_move("archive", "article.archive", "Out of search and triage; history kept")
def archive(article_id: ArticleId, user: Caller, desk: DeskDep, match: IfMatch = None,
            body: Reason | None = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        desk.knowledge.archive(user, article_id, body.reason if body else "")
    return _current(desk, user, article_id)


@_move("merge", "article.merge", "Fold this duplicate into another article (it is "
       "archived; its used / not-helpful marks move)")
def merge(article_id: ArticleId, body: Merge, user: Caller, desk: DeskDep,
          match: IfMatch = None) -> JSONResponse:
    with desk.versions.expect("article", article_id, if_match(match)):
        desk.knowledge.merge(user, article_id, body.into)
    return _current(desk, user, article_id)


@router.get("/{article_id}/versions", response_model=list[VersionOut],
            openapi_extra=needs("article.view"), summary="Every stored version, oldest first")
def versions(article_id: ArticleId, user: Caller, desk: DeskDep) -> list[VersionOut]:
    return [VersionOut(**{k: v for k, v in row.items() if k in VersionOut.model_fields})
            for row in desk.queries.versions(user, article_id)]
