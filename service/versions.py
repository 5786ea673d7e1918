"""Record versions for optimistic concurrency (the HTTP API's ETag and If-Match).

A case's or article's version is its `seq` column, which every write to it moves.  A
change sent with the version the caller read goes ahead only while that is still the
record's version; the comparison happens inside the write's own transaction
(`KnowledgeBase.expecting`), so two people changing the same case at once cannot both
win.  A refused change says who changed the record last and when, from the event log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from errors import BadInput, StaleRecord
from kb.store import KnowledgeBase
from service.engine import Engine

KINDS = ("case", "article")
# Events on a record that do not change the record itself (its version stays): links,
# offers and reuse notes.  Who changed a record is the latest event that is none of these.
_NOT_WRITES = ("fix-offered", "article:reused", "merged-into")


class Versions:
    """The current version of a record, and changes made only against a given one."""

    def __init__(self, engine: Engine) -> None:
        self.kb: KnowledgeBase = engine.kb

    def current(self, kind: str, rid: str) -> int:
        """The record's version; NotFound for an unknown record."""
        _check_kind(kind)
        return int(self.kb.row(kind, rid)["seq"])

    def last_change(self, kind: str, rid: str) -> dict:
        """Who changed the record last and when: {"by", "at", "action"} (empty values
        when the log holds nothing about it, e.g. a record from an old import)."""
        _check_kind(kind)
        marks = ",".join("?" * len(_NOT_WRITES))
        row = self.kb.db.execute(
            f"SELECT actor, at, action FROM events WHERE target = ? AND action NOT LIKE "
            f"'link:%' AND action NOT IN ({marks}) ORDER BY id DESC LIMIT 1",
            [f"{kind}:{rid}", *_NOT_WRITES]).fetchone()
        return dict(zip(("by", "at", "action"), row or ("", "", ""), strict=True))

    @contextmanager
    def expect(self, kind: str, rid: str, version: int | None) -> Iterator[None]:
        """Run the block (one service action) as a change of the record at `version`
        (None: any version).  The block's first write to the record goes ahead only
        if the record is still at `version` (StaleRecord, naming who changed it and
        when, otherwise).  The role check and the state machine run first, as without
        the condition: a refused action is refused for its own reason (RFC 9110 13.2.1)."""
        _check_kind(kind)
        if version is None:
            yield
            return
        try:
            with self.kb.expecting(kind, rid, version):
                yield
        except StaleRecord as exc:
            raise self._stale(kind, rid, version, int(exc.params["current"])) from None

    def check(self, kind: str, rid: str, version: int | None) -> None:
        """StaleRecord unless the record is at `version` now (None: any) — for an
        action that adds to a record without changing it (a link)."""
        if version is None:
            return
        now = self.current(kind, rid)
        if now != version:
            raise self._stale(kind, rid, version, now)

    def _stale(self, kind: str, rid: str, version: int, now: int) -> StaleRecord:
        who = self.last_change(kind, rid)
        return StaleRecord(
            f"{kind} {rid} was changed by {who['by'] or 'someone'} at {who['at'] or '?'} "
            f"after version {version} (it is at version {now}): read it again and retry",
            "stale_record", kind=kind, id=rid, expected=version, current=now,
            by=who["by"] or "?", at=who["at"] or "?", action=who["action"] or "?")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (use case or article)")
