"""Actions taken from a page, against the version of the record the page showed.

Every case and article form acts on the version its page was drawn from (the HTTP API's
If-Match, through the same `Desk.versions`): a change someone else made meanwhile makes
the action refused with who changed the record and when, the page then shows the record
as stored, and what the user typed stays on screen.  After an action that went through,
the page is drawn again from the store, with one line saying what was done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import streamlit as st

from errors import KnownFixError, NotFound, StaleRecord
from ui.i18n import error_text, fmt_time, t
from ui.resources import desk
from ui.widgets import t_action

_FLASH, RUN = "flash", "run"


def drawn(kind: str, rid: str) -> int:
    """The version of the record as the page last showed it to this user: what an action
    in this run is based on.  The version read now is remembered for the next run; the
    same record drawn twice in one run gets the same answer both times."""
    key, run = f"drawn:{kind}:{rid}", st.session_state.get(RUN, 0)
    entry = st.session_state.get(key)
    if entry and entry["run"] == run:
        return entry["before"]
    now = desk().versions.current(kind, rid)
    before = entry["now"] if entry else now
    st.session_state[key] = {"run": run, "before": before, "now": now}
    return before


def new_run() -> None:
    """Count this script run (app.py, first thing): `drawn` tells runs apart by it."""
    st.session_state[RUN] = st.session_state.get(RUN, 0) + 1


def act(kind: str, rid: str, seen: int | None, fn: Callable, *args,
        done: str | None = None, kept: dict[str, str] | None = None, **kwargs) -> bool:
    """Run `fn(*args, **kwargs)` as a change of the record at version `seen`.  On success
    the page is drawn again (saying `done` once); a refusal is shown here — a stale
    version with who changed the record and when, and `kept` (label -> text the user
    typed) so nothing typed is lost.  Returns False when refused."""
    try:
        # stale first: on a page drawn before someone else's change, that change is the
        # reason to give (the service would name the state it left the record in)
        desk().versions.check(kind, rid, seen)
        with desk().versions.expect(kind, rid, seen):  # and no change slips in between
            fn(*args, **kwargs)
    except StaleRecord as exc:
        st.error(stale_text(exc))
        _keep(kept or {})
        return False
    except KnownFixError as exc:
        st.error(error_text(exc))
        return False
    if done:
        st.session_state[_FLASH] = done
    st.rerun()
    return True  # not reached: st.rerun() ends the run


def check(kind: str, rid: str, seen: int | None, fn: Callable, *args,
          done: str | None = None, **kwargs) -> bool:
    """Like `act`, for an action that adds to the record without changing it (a link):
    refused when the record moved on since the page showed it."""
    try:
        desk().versions.check(kind, rid, seen)
    except StaleRecord as exc:
        st.error(stale_text(exc))
        return False
    return act(kind, rid, None, fn, *args, done=done, **kwargs)


def pressed(*keys: str) -> bool:
    """Whether one of these buttons (or form submit buttons) was pressed for this run,
    known before they are drawn: an action the page offered when the user pressed it,
    but the record no longer allows, is still drawn, so its refusal can be said."""
    return any(st.session_state.get(k) is True for k in keys)


def stale_text(exc: StaleRecord) -> str:
    """"Changed by X at T — reload" in the user's language, X by their display name."""
    p = exc.params
    who = str(p.get("by") or "?")
    with contextlib.suppress(NotFound):
        who = desk().users.find(who).display_name or who
    return t("stale.changed", kind=t(f"kind.{p['kind']}"), id=p["id"], by=who,
             at=fmt_time(str(p.get("at") or "")), action=t_action(str(p.get("action"))))


def _keep(kept: dict[str, str]) -> None:
    """What the user typed, shown so it can be copied into the form again."""
    typed = {label: text for label, text in kept.items() if text and text.strip()}
    if not typed:
        return
    st.caption(t("stale.kept"))
    for label, text in typed.items():
        st.markdown(f"**{label}**")
        st.code(text, language=None, wrap_lines=True)


def redraw(said: str) -> None:
    """An action that changes no case or article (a maintenance plan) went through:
    draw the page again from the store, saying `said` once."""
    st.session_state[_FLASH] = said
    st.rerun()


def show_flash() -> None:
    """The line the last action left for this page, once."""
    done = st.session_state.pop(_FLASH, None)
    if done:
        st.success(done)
