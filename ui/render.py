"""Safe rendering of user-written text: Markdown without raw HTML; links only to
http(s) and mailto; matched words highlighted."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

_SCHEMES = {"http", "https", "mailto"}
_md = MarkdownIt("commonmark", {"html": False, "linkify": False})
_md.validateLink = lambda url: bool(re.match(r"^(https?:|mailto:|#|/)", url.strip(), re.I))  # type: ignore[method-assign]
_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h1",
         "h2", "h3", "h4", "h5", "h6", "a", "hr", "table", "thead", "tbody", "tr", "th", "td",
         "mark"}


def safe_html(markdown: str) -> str:
    """Markdown → HTML with raw HTML escaped, unsafe links dropped, then sanitised."""
    return nh3.clean(_md.render(markdown or ""), tags=_TAGS, url_schemes=_SCHEMES,
                     link_rel="noopener noreferrer nofollow")


def md_escape(text: str) -> str:
    """User text placed inside st.markdown: no Markdown, no HTML, no images or links."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!<>|~])", r"\\\1", html.escape(text or ""))


def show_markdown(markdown: str) -> None:
    import streamlit as st  # here: the customer pages (portal/) render without Streamlit

    st.markdown(safe_html(markdown), unsafe_allow_html=True)


def highlight(text: str, words: list[str]) -> str:
    """Escape text and wrap each matched word in <mark> (for st.markdown with HTML)."""
    safe = html.escape(text or "")
    words = sorted({html.escape(w) for w in words if len(w) > 1}, key=len, reverse=True)
    if not words:
        return safe
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", safe)
