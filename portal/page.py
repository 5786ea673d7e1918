"""The shell every portal page is drawn in: language, escaping, one small style sheet,
and headers that keep the page to itself (no framing, no scripts from elsewhere)."""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.problems import negotiate
from ui.i18n import LANGUAGES, MESSAGES, message
from zones import in_zone, offset_text

STYLE = """body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:46rem;
margin:2rem auto;padding:0 1rem;color:#1f2328;line-height:1.55}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input,textarea,select{width:100%;box-sizing:border-box;padding:.45rem;font:inherit}
button{margin-top:1rem;padding:.5rem 1.2rem;font:inherit}
.note{color:#59636e;font-size:.9rem}.error{color:#b42318}.ok{color:#1a7f37}
nav{float:right}nav a{margin-left:.6rem}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.2rem 1rem 1rem;margin:1rem 0}
.card form{display:inline-block;margin-right:.8rem}"""
# what every portal response carries: no scripts or styles but our own, no framing
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "script-src 'self'; connect-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a status link's token stays out of other logs
    "Cache-Control": "no-store",
}


def lang_of(request: Request) -> str:
    """The page's language: ?lang=zh|en, else Accept-Language, else Chinese."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    return negotiate(request.headers.get("accept-language")) or "zh"


def text(key: str, lang: str, **values: object) -> str:
    """A catalogue message, escaped for HTML (values included)."""
    return escape(message(key, lang, **values))



def when(value: str | None, lang: str, zone: ZoneInfo) -> str:
    """A stored time (UTC ISO-8601) on the clock of `zone`, as the language writes it
    (escaped); "—" for none."""
    found = in_zone(value, zone) if value else None
    if found is None:
        return "—"
    return escape(found.strftime("%Y年%m月%d日 %H:%M" if lang == "zh" else "%d %b %Y %H:%M"))


def zone_note(lang: str, zone: ZoneInfo) -> str:
    """The one line that names the zone a page's times are in (escaped)."""
    name, offset = str(zone.key), offset_text(zone)
    if name == offset:
        return text("tz.caption_utc", lang)
    if f"tz.{name}" in MESSAGES:
        return text("tz.caption_named", lang, name=message(f"tz.{name}", lang), zone=name,
                    offset=offset)
    return text("tz.caption", lang, zone=name, offset=offset)

def page(title: str, body: str, lang: str, status: int = 200,
         switch: str | None = None) -> HTMLResponse:
    """A whole page: `title` (plain text) and `body` (HTML the caller escaped).  `switch`:
    the page's own path and query without ?lang, for the link to the other language."""
    nav = ""
    if switch is not None:
        other = "en" if lang == "zh" else "zh"
        glue = "&" if "?" in switch else "?"
        nav = (f'<nav><a href="{escape(switch)}{glue}lang={other}" lang="{other}">'
               f"{escape(LANGUAGES[other])}</a></nav>")
    html = (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{nav}<h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status_code=status, headers=HEADERS)
