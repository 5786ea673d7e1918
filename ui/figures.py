"""Report figures kept between reruns: a page redraws on every click, and the reports and
coverage pages would otherwise read every case of the period again each time.

Each figure is kept under the reports' data version (`Reports.data_version`: the KB's
change sequence, the last event, the settings the figures use) and the period, so any
change to a case, an article, a link or the settings makes the next run compute afresh.
The version is read on every run, which also checks the user may see reports; the
figures themselves are shared by every user allowed to (they do not depend on who asks,
and the language is applied when they are drawn).  They are kept an hour at most, as
some count days back from now (stale articles)."""

from __future__ import annotations

import streamlit as st

from service.auth import User
from ui.resources import desk

_KEEP = {"ttl": 3600, "max_entries": 32, "show_spinner": False}


def version(me: User) -> tuple:
    """The reports' data version now (PermissionDenied unless `me` may see reports)."""
    return desk().reports.data_version(me)


@st.cache_data(**_KEEP)
def summary(data_version: tuple, start: str, end: str, imported: bool, _me: User) -> dict:
    """Reports.summary for [start, end), once per data version."""
    return desk().reports.summary(_me, start, end, include_imported=imported)


@st.cache_data(**_KEEP)
def weekly(data_version: tuple, start: str, end: str, imported: bool, _me: User) -> list[dict]:
    """Reports.weekly for [start, end), once per data version."""
    return desk().reports.weekly(_me, start, end, imported)


def aggregates(data_version: tuple, start: str, end: str, imported: bool, me: User) -> dict:
    """The summary with the weekly table (what the statistics downloads hold)."""
    return {**summary(data_version, start, end, imported, me),
            "weekly": weekly(data_version, start, end, imported, me)}


@st.cache_data(**_KEEP)
def coverage(data_version: tuple, start: str, end: str, imported: bool, _me: User) -> dict:
    """Reports.coverage for [start, end), once per data version."""
    return desk().reports.coverage(_me, start, end, imported)
