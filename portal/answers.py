"""The pages a customer answers by link (客户确认, 满意度调查 / 回访): GET /portal/answer/TOKEN
shows the case as the customer may see it (number, product, what was done: nothing
internal, nobody's name) and the form; POST records the answer through the service
(service/customer_links.py), once.  No staff sign-in: the token is the key.

An unknown token is 404 (the same page for any wrong token, so nothing can be learnt
by trying); an expired or used one 410; a form that cannot be taken (no choice made, a
comment too long) comes back as 422 with what was typed kept and the reason above it.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from errors import BadInput, KnownFixError, LinkGone, NotFound
from portal.page import lang_of, page, text
from service.customer_links import COMMENT_MAX, CUSTOMER_OUTCOMES, PATH, Answer, Shown
from service.desk import Desk
from ui.i18n import error_message
from zones import in_zone

# mounted with the rest of the customer pages at /portal (portal/app.py ROUTERS)
router = APIRouter(prefix=PATH.removeprefix("/portal").rstrip("/"), include_in_schema=False)
BODY_MAX = 64 * 1024  # a choice, a rating and 2,000 characters (CJK: 9 bytes each, encoded)


def _desk(request: Request) -> Desk:
    return request.app.state.desk


def _lang(request: Request, link_lang: str | None = None) -> str:
    """?lang=, else the link's own language (the case's), else the browser's."""
    if request.query_params.get("lang") in ("zh", "en") or link_lang is None:
        return lang_of(request)
    return link_lang


@router.get("/{token}")
def show(token: str, request: Request) -> HTMLResponse:
    desk = _desk(request)
    try:
        shown = desk.links.shown(token)
    except (NotFound, LinkGone) as exc:
        return _refused(exc, _lang(request), request)
    return _form(shown, _lang(request, shown.link.lang), request)


@router.post("/{token}")
async def answer(token: str, request: Request) -> HTMLResponse:
    desk = _desk(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_MAX:
            lang = _lang(request)
            return page(text("answer.too_large", lang), _para(text("answer.help", lang)),
                        lang, 413)
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        shown = await run_in_threadpool(desk.links.shown, token)
    except (NotFound, LinkGone) as exc:
        return _refused(exc, _lang(request), request)
    lang = _lang(request, shown.link.lang)
    try:
        given = await run_in_threadpool(_take, desk, token, form)
    except (NotFound, LinkGone) as exc:  # answered a moment ago, elsewhere
        return _refused(exc, lang, request)
    except BadInput as exc:
        return _form(shown, lang, request, form, error_message(exc, lang))
    return _thanks(given, lang)


def _take(desk: Desk, token: str, form: dict[str, str]) -> Answer:
    """The form's fields as the service takes them."""
    worked = {"yes": True, "no": False}.get(form.get("worked", ""))
    rating = form.get("rating", "")
    return desk.links.answer(token, worked=worked,
                             rating=int(rating) if rating in {"1", "2", "3", "4", "5"} else None,
                             comment=form.get("comment", ""), outcome=form.get("outcome"))


# -- pages ---------------------------------------------------------------------------------
def _form(shown: Shown, lang: str, request: Request, given: dict[str, str] | None = None,
          error: str | None = None) -> HTMLResponse:
    given = given or {}
    purpose = shown.link.purpose
    facts = [("answer.case", shown.case_id), ("answer.product", shown.product or "—"),
             ("answer.resolved", _day(shown.resolved_at, request))]
    body = "<dl>" + "".join(f"<dt>{text(k, lang)}</dt><dd>{escape(v)}</dd>"
                            for k, v in facts) + "</dl>"
    if shown.fix.strip():
        lines = "<br>".join(escape(line) for line in shown.fix.strip().splitlines())
        body += f"<h2>{text('answer.fix', lang)}</h2><p>{lines}</p>"
    if error:
        body += f'<p class="error" role="alert">{escape(error)}</p>'
    fields = []
    if purpose == "confirm":
        fields.append(_choices("worked", text("answer.worked", lang), given.get("worked"),
                               [("yes", text("answer.worked_yes", lang)),
                                ("no", text("answer.worked_no", lang))]))
    else:
        fields.append(_choices("outcome", text("answer.outcome", lang), given.get("outcome"),
                               [(o, text(f"answer.outcome.{o}", lang))
                                for o in CUSTOMER_OUTCOMES]))
    if purpose == "confirm" or not shown.rated:
        fields.append(_choices("rating", text("answer.rating", lang), given.get("rating"),
                               [(str(n), str(n)) for n in range(1, 6)]))
    fields.append(f'<label for="comment">{text("answer.comment", lang)}</label>'
                  f'<textarea id="comment" name="comment" rows="4" maxlength="{COMMENT_MAX}">'
                  f'{escape(given.get("comment", ""))}</textarea>')
    action = escape(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    body += (f'<form method="post" action="{action}">{"".join(fields)}'
             f'<button type="submit">{text("answer.submit", lang)}</button></form>')
    return page(text(f"answer.title_{purpose}", lang), body, lang, 422 if error else 200,
                switch=request.url.path)


def _choices(name: str, legend: str, chosen: str | None, options: list[tuple[str, str]]
             ) -> str:
    """A group of radio buttons (a fieldset with its legend)."""
    items = "".join(
        f'<label><input type="radio" name="{name}" value="{escape(value)}"'
        f'{" checked" if value == chosen else ""}> {label}</label>'
        for value, label in options)
    return f'<fieldset id="{name}"><legend>{legend}</legend>{items}</fieldset>'


def _thanks(given: Answer, lang: str) -> HTMLResponse:
    if (given.purpose == "confirm" and given.worked is False) or given.outcome == "came_back":
        said = text("answer.thanks_reopened", lang, case=given.case_id)
    else:
        said = text(f"answer.thanks_{given.purpose}", lang)
    return page(text("answer.thanks", lang), f'<p class="ok">{said}</p>', lang)


def _refused(exc: KnownFixError, lang: str, request: Request) -> HTMLResponse:
    """404 for a token that is no link (whatever it is), 410 for one used or expired."""
    gone = isinstance(exc, LinkGone)
    body = (f'<p class="error">{escape(error_message(exc, lang))}</p>'
            + _para(text("answer.help", lang)))
    return page(text("answer.gone" if gone else "answer.unknown", lang), body, lang,
                410 if gone else 404, switch=request.url.path if gone else None)


def _para(html: str) -> str:
    return f'<p class="note">{html}</p>'


def _day(stamp: str | None, request: Request) -> str:
    """A stored UTC time as a day and time on the team's clock."""
    when = in_zone(stamp, _desk(request).engine.settings.zone)
    return when.strftime("%Y-%m-%d %H:%M") if when else "—"
