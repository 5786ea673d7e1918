"""Small display pieces shared by pages."""

from __future__ import annotations

import html

import streamlit as st

from ui.i18n import t


def highlight(text: str, words: list[str]) -> str:
    """Escape text and mark the matched words (case-insensitive) for st.markdown."""
    safe = html.escape(text)
    for w in sorted({w for w in words if len(w) > 1}, key=len, reverse=True):
        low, i, out = safe.lower(), 0, []
        needle = html.escape(w).lower()
        while (j := low.find(needle, i)) >= 0:
            out.append(safe[i:j] + "**" + safe[j:j + len(needle)] + "**")
            i = j + len(needle)
        safe = "".join(out) + safe[i:]
    return safe


def fix_card(key: str, title: str, fix: str, score: float, matched: list[str]) -> None:
    """One known fix: title, score, why it matched, and its resolution."""
    kind = t("kind.article") if key.startswith("article:") else t("kind.case")
    with st.container(border=True):
        st.markdown(f"**{html.escape(title)}**  ·  {kind} `{key.split(':', 1)[1]}`")
        st.progress(min(max(score, 0.0), 1.0), text=f"{t('search.score')} {score:.2f}")
        st.caption(f"{t('search.matched')}: " + (", ".join(matched) or t("search.meaning")))
        if fix:
            st.markdown(f"**{t('search.fix')}:** " + highlight(fix, matched))
