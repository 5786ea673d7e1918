"""The error boundary every page body runs under: no traceback ever reaches a user.

A service error (KnownFixError) is shown as its one-line message in the user's language;
anything else is logged with its traceback on the server (logger `knownfix.ui`) and the
user sees one translated line with a short reference to find it in the log.  Streamlit's
own control flow (st.rerun, st.stop, st.switch_page) passes through untouched."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from errors import KnownFixError
from ui.i18n import error_text, t

log = logging.getLogger("knownfix.ui")


@contextmanager
def boundary(where: str) -> Iterator[None]:
    """Run a page body (or one tab of it) so that whatever it raises becomes one line.
    `where` names it in the server log."""
    try:
        yield
    except KnownFixError as exc:
        try:
            text = error_text(exc)
        except Exception:  # a message that cannot be filled in is a bug of ours
            _unexpected(where)
        else:
            st.error(text)
    except Exception:  # st.rerun / st.stop are BaseExceptions and pass through
        _unexpected(where)


def _unexpected(where: str) -> None:
    """Log the exception being handled with its traceback; show the user one line."""
    ref = uuid.uuid4().hex[:8]
    log.exception("page %s failed (ref %s)", where, ref)
    st.error(t("error.unexpected", ref=ref))
