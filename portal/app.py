"""The customer pages: `portal_app(desk)`, a FastAPI app of its own that api/app.py
`create_app` mounts at /portal (so `knownfix api` and `knownfix serve --api-port` serve
it, without a staff sign-in).  Its own error pages are HTML in the customer's language
(never the API's problem+json); the Guard (portal/guard.py: rate limit per address, size
caps) stands in front of every route; it serves no OpenAPI document.  Another part's
router (the pages a customer answers by link) is added to ROUTERS.

The request page (在线提交工单), working without JavaScript:

    GET  /portal/                 the form: fault, name, phone and/or e-mail, product, serial
    POST /portal/request          step "check": articles for customers that may answer it
                                  ("did this solve it?"); none, or step "file": the case
                                  is opened and the customer sent to its status page
    POST /portal/solved           an article solved it: a deflection is counted, no case
    GET  /portal/status/{token}   the case as its customer may see it (404 for any other)
    GET  /portal/article/{id}     an article for customers (404 for any other)
    GET  /portal/suggest?q=       the articles for a text as a fragment, for portal.js,
                                  which shows them while the customer types

Every form carries a token equal to a cookie of this site (SameSite=Lax), so another
site cannot post it; a hidden field no person fills (`website`) catches form-filling
robots: such a request is thanked and nothing is filed.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from errors import BadInput, KnownFixError, NotFound
from portal import answers
from portal.guard import Guard
from portal.page import HEADERS, lang_of, page, text, when, zone_note
from service.desk import Desk
from service.knowledge import Article
from service.portal import FIELD_CHARS, WebRequest
from ui.i18n import error_message
from ui.render import safe_html

COOKIE = "kf_form"
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SCRIPT = Path(__file__).with_name("portal.js")
CONTACT_FIELDS = ("name", "phone", "email", "product", "serial")  # the inputs, in order
Field = Annotated[str, Form(max_length=8000)]  # the caps are the service's (FIELD_CHARS)
Small = Annotated[str, Form(max_length=200)]
SUGGEST_CHARS = 500  # of the description, for suggestions while typing (portal.js)
log = logging.getLogger("knownfix.portal")


def portal_app(desk: Desk) -> FastAPI:
    """The customer pages over an open Desk, to be mounted at /portal."""
    app = FastAPI(title="KnownFix customer pages", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.desk = desk
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _unreadable)
    app.add_exception_handler(KnownFixError, _service_error)
    app.add_exception_handler(Exception, _fault)
    app.add_middleware(Guard, settings=lambda: desk.engine.settings)
    logging.getLogger("uvicorn.access").addFilter(_HIDE_TOKENS)
    return app


# what a page may answer besides 200, each a whole HTML page (documented for the fuzzing)
PAGE_STATUSES = {303: "Filed: on to the status page", 400: "Refused by the service",
                 403: "The form token is not this browser's", 404: "Nothing here (any unknown "
                 "or wrong link)", 411: "A POST without its length", 413: "Too large",
                 422: "A field cannot be used", 429: "Too many requests from this address",
                 500: "A fault inside the server"}
router = APIRouter(responses={
    status: {"description": what, **({} if status == 303 else {"content": {"text/html": {}}})}
    for status, what in PAGE_STATUSES.items()})


def _desk(request: Request) -> Desk:
    return request.app.state.desk


# -- the request page ----------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, name="request_form")
def request_form(request: Request) -> Response:
    return _form(request, {}, None)


@router.post("/request", response_class=HTMLResponse)
def request_post(request: Request, description: Field = "", name: Field = "",
                 phone: Field = "", email: Field = "", product: Field = "",
                 serial: Field = "", website: Small = "", form_token: Small = "",
                 step: Small = "check") -> Response:
    lang = lang_of(request)
    typed = {"description": description, "name": name, "phone": phone, "email": email,
             "product": product, "serial": serial}
    if not _form_ok(request, form_token):
        return _expired(request)
    if website:  # only a robot fills the field no person sees: thanked, nothing filed
        return page(text("portal.thanks", lang), f"<p>{text('portal.thanks_text', lang)}</p>",
                    lang)
    portal = _desk(request).portal
    try:
        req = WebRequest(**typed).checked()
        shown = [] if step == "file" else portal.answers(req.description, req.product)
        if shown:
            return _answers(request, req, shown)
        case, token = portal.submit(req, lang)
    except BadInput as exc:
        return _form(request, typed, error_message(exc, lang), status=422)
    log.info("web request %s filed", case.id)
    where = f"{_root(request)}/status/{token}?new=1&lang={lang}"
    return RedirectResponse(where, status_code=303, headers=HEADERS)


@router.post("/solved", response_class=HTMLResponse)
def solved(request: Request, article: Small = "", form_token: Small = "") -> Response:
    lang = lang_of(request)
    if not _form_ok(request, form_token):
        return _expired(request)
    _desk(request).portal.deflect(article, lang)  # NotFound: the one 404 page
    body = (f'<p class="ok">{text("portal.solved_text", lang)}</p>'
            f'<p><a href="{_root(request)}/?lang={lang}">{text("portal.again", lang)}</a></p>')
    return page(text("portal.solved", lang), body, lang)


@router.get("/suggest", response_class=HTMLResponse)
def suggest(request: Request, q: Annotated[str, Query(max_length=SUGGEST_CHARS)] = "",
            product: Annotated[str, Query(max_length=FIELD_CHARS["product"])] = ""
            ) -> Response:
    """The articles for a text as a fragment of the request page (portal.js)."""
    lang = lang_of(request)
    token, fresh = _token(request)
    found = _desk(request).portal.answers(q, product) if q.strip() else []
    body = ""
    if found:
        body = (f"<h2>{text('portal.maybe', lang)}</h2>"
                + "".join(_card(request, a, lang, token) for a in found))
    return _cookie(HTMLResponse(body, headers=HEADERS), request, token, fresh)


@router.get("/portal.js", include_in_schema=False)
def script() -> Response:
    return Response(SCRIPT.read_bytes(), media_type="text/javascript; charset=utf-8",
                    headers={**HEADERS, "Cache-Control": "max-age=3600"})


# -- what a customer may read --------------------------------------------------------------------
@router.get("/article/{article_id}", response_class=HTMLResponse)
def article_page(request: Request, article_id: str) -> Response:
    lang = lang_of(request)
    art = _desk(request).portal.article(article_id)
    token, fresh = _token(request)
    body = (_card(request, art, lang, token, heading=False)
            + f'<p><a href="{_root(request)}/?lang={lang}">{text("portal.back", lang)}</a></p>')
    response = page(art.title, body, lang, switch=request.url.path)
    return _cookie(response, request, token, fresh)


@router.get("/status/{token}", response_class=HTMLResponse)
def status_page(request: Request, token: str) -> Response:
    lang = lang_of(request)
    desk = _desk(request)
    case = desk.portal.status(token)  # NotFound for any other token: the one 404 page
    zone = desk.engine.settings.zone
    body = ""
    if request.query_params.get("new"):
        link = str(request.url.remove_query_params(["new", "lang"]))
        body += (f'<p class="ok">{text("portal.filed", lang, number=case.number)}</p>'
                 f'<p>{text("portal.keep_link", lang)}<br><a href="{_esc(link)}">'
                 f"{_esc(link)}</a></p>")
    rows = [("portal.number", _esc(case.number)),
            ("portal.state", text(f"portal.state.{case.state}", lang)),
            ("portal.received", when(case.received_at, lang, zone)),
            ("portal.resolved", when(case.resolved_at, lang, zone))]
    body += ("<table>" + "".join(f"<tr><th>{text(k, lang)}</th><td>{v}</td></tr>"
                                 for k, v in rows)
             + f'</table><p class="note">{zone_note(lang, zone)}</p>')
    return page(text("portal.status", lang), body, lang, switch=request.url.path)


ROUTERS = [router, answers.router]  # the request page, the answer pages


# -- drawing ---------------------------------------------------------------------------------------
def _form(request: Request, typed: dict[str, str], error: str | None,
          status: int = 200) -> Response:
    """The request form, holding what was typed, with an error above it."""
    lang = lang_of(request)
    token, fresh = _token(request)
    root = _root(request)
    inputs = "".join(
        f'<label for="{n}">{text(f"portal.f.{n}", lang)}</label>'
        f'<input id="{n}" name="{n}" maxlength="{FIELD_CHARS[n]}" '
        f'value="{_esc(typed.get(n, ""))}"'
        + (' type="email" autocomplete="email"' if n == "email" else "")
        + (' type="tel" autocomplete="tel"' if n == "phone" else "")
        + (' required autocomplete="name"' if n == "name" else "") + ">"
        for n in CONTACT_FIELDS)
    body = (f'<p class="note">{text("portal.intro", lang)}</p>'
            + (f'<p class="error" role="alert">{_esc(error)}</p>' if error else "")
            + f'<form method="post" action="{root}/request?lang={lang}">'
            f'<label for="description">{text("portal.f.description", lang)}</label>'
            f'<textarea id="description" name="description" rows="6" required '
            f'maxlength="{FIELD_CHARS["description"]}">{_esc(typed.get("description", ""))}'
            f'</textarea><div id="suggestions" data-src="{root}/suggest?lang={lang}"></div>'
            + inputs
            + f'<p class="note">{text("portal.contact_note", lang)}</p>'
            f'<div class="hp" aria-hidden="true"><label for="website">'
            f'{text("portal.f.website", lang)}</label><input id="website" name="website" '
            f'tabindex="-1" autocomplete="off"></div>'
            f'<input type="hidden" name="form_token" value="{token}">'
            f'<button type="submit">{text("portal.submit", lang)}</button></form>'
            f'<script src="{root}/portal.js"></script>')
    response = page(text("portal.title", lang), body, lang, status=status, switch=f"{root}/")
    return _cookie(response, request, token, fresh)


def _answers(request: Request, req: WebRequest, found: list[Article]) -> Response:
    """The articles that may answer the request, each with "this solved it", and the
    request kept in hidden fields for "not solved: file it"."""
    lang = lang_of(request)
    token, fresh = _token(request)
    kept = "".join(f'<input type="hidden" name="{n}" value="{_esc(getattr(req, n))}">'
                   for n in ("description", *CONTACT_FIELDS))
    body = (f'<p>{text("portal.answers_intro", lang)}</p>'
            + "".join(_card(request, a, lang, token) for a in found)
            + f'<form method="post" action="{_root(request)}/request?lang={lang}">{kept}'
            f'<input type="hidden" name="form_token" value="{token}">'
            f'<input type="hidden" name="step" value="file">'
            f'<button type="submit" id="file">{text("portal.not_solved", lang)}</button>'
            "</form>")
    return _cookie(page(text("portal.answers", lang), body, lang), request, token, fresh)


def _card(request: Request, art: Article, lang: str, token: str,
          heading: bool = True) -> str:
    """One article for customers: its title, symptoms and steps (through the app's
    sanitiser), and the "this solved it" button."""
    root = _root(request)
    title = (f'<h2><a href="{root}/article/{_esc(art.id)}?lang={lang}">{_esc(art.title)}'
             "</a></h2>") if heading else ""
    return (f'<div class="card">{title}'
            f'<h3>{text("portal.symptoms", lang)}</h3>{safe_html(art.symptoms)}'
            f'<h3>{text("portal.steps", lang)}</h3>{safe_html(art.resolution)}'
            f'<form method="post" action="{root}/solved?lang={lang}">'
            f'<input type="hidden" name="article" value="{_esc(art.id)}">'
            f'<input type="hidden" name="form_token" value="{token}">'
            f'<button type="submit">{text("portal.it_solved", lang)}</button></form></div>')


def _expired(request: Request) -> Response:
    lang = lang_of(request)
    body = (f'<p class="error">{text("portal.expired_text", lang)}</p>'
            f'<p><a href="{_root(request)}/?lang={lang}">{text("portal.again", lang)}</a></p>')
    return _cookie(page(text("portal.expired", lang), body, lang, status=403), request,
                   *_token(request))


def _missing(request: Request) -> Response:
    """The one page for anything that is not there, whatever was asked (so a wrong
    token and an unknown one, an internal article and none, look the same)."""
    lang = lang_of(request)
    body = (f"<p>{text('portal.missing_text', lang)}</p>"
            f'<p><a href="{_root(request)}/?lang={lang}">{text("portal.again", lang)}</a></p>')
    return page(text("portal.missing", lang), body, lang, status=404)


# -- errors ------------------------------------------------------------------------------------
async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 404:
        return _missing(request)
    lang = lang_of(request)
    return page(text("portal.refused", lang), f"<p>{text('portal.unreadable', lang)}</p>",
                lang, status=status if 400 <= status < 500 else 500)


async def _unreadable(request: Request, exc: Exception) -> Response:
    lang = lang_of(request)
    return page(text("portal.refused", lang), f"<p>{text('portal.unreadable', lang)}</p>",
                lang, status=422)


async def _service_error(request: Request, exc: KnownFixError) -> Response:
    if isinstance(exc, NotFound):
        return _missing(request)
    lang = lang_of(request)
    return page(text("portal.refused", lang), f'<p class="error">{_esc(error_message(exc, lang))}'
                "</p>", lang, status=400)


async def _fault(request: Request, exc: Exception) -> Response:
    lang = lang_of(request)
    return page(text("portal.fault", lang), f"<p>{text('portal.fault_text', lang)}</p>", lang,
                status=500)


# -- pieces --------------------------------------------------------------------------------------
def _root(request: Request) -> str:
    """Where the portal is mounted ("/portal"), for links and form actions."""
    return request.scope.get("root_path", "").rstrip("/")


def _esc(value: str) -> str:
    return escape(value, quote=True)


def _token(request: Request) -> tuple[str, bool]:
    """The form token: the cookie's, or a new one (True: set the cookie)."""
    have = request.cookies.get(COOKIE, "")
    if FORM_TOKEN.fullmatch(have):
        return have, False
    return secrets.token_urlsafe(24), True


def _cookie(response: Response, request: Request, token: str, fresh: bool) -> Response:
    if fresh:
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax",
                            path=_root(request) or "/")
    return response


def _form_ok(request: Request, sent: str) -> bool:
    """Whether a posted form carries this browser's form token."""
    have = request.cookies.get(COOKIE, "")
    return bool(FORM_TOKEN.fullmatch(have)) and hmac.compare_digest(have.encode(),
                                                                    sent.encode())


class _HideTokens(logging.Filter):
    """Access logs name /portal/status/… without the token (it is the customer's key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("/status/" in str(a) for a in record.args):
            record.args = tuple(re.sub(r"/status/[^?\s\"]+", "/status/…", a)
                                if isinstance(a, str) else a for a in record.args)
        return True


_HIDE_TOKENS = _HideTokens()
