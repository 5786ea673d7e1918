"""Which events notify whom: `Rules.notices(event) -> [Notice]`.

| event (action on target)                        | kind       | to                          |
|-------------------------------------------------|------------|-----------------------------|
| escalate on a case (detail: assignee)           | escalated  | the assignee                |
| dispatch on a case (detail: assignee)           | dispatched | the assignee                |
| any other case event naming an assignee         | assigned   | the assignee                |
| triage / retriage at the top severity level     | critical   | team channel + subscribers  |
| deadline:at_risk, deadline:overdue (sender scan)| at_risk …  | the assignee, else the team |
| follow_up:due (sender scan)                     | follow_up  | its intake user, else the team |
| an article moved to not_validated               | review     | reviewers but the author    |
| import                                          | import     | the importing user          |
| notify:test on user:NAME                        | test       | that user                   |

An assignee is always a user (the workflow refuses anyone else); one that has since been
removed is told nothing.  Nobody is told of their own assignment.  Whether a
user is told at all, and how, is their preference (service.notify.prefs); the rules only
say who is concerned.  A notice's `key` is what makes it one notification: the event's
id, or for a notice that must come once per case and status (critical, deadlines,
follow-ups) a key derived from the case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.exporter import names_and_serials, personal_values
from kb.redact import redact
from kb.store import Event, KnowledgeBase
from service.auth import PERMISSIONS, Users
from settings import Settings

EXCERPT = 200


@dataclass(frozen=True)
class Notice:
    """Something to tell: its kind, dedupe key, who is concerned, and what to say."""

    kind: str
    key: str
    users: tuple[str, ...] = ()
    team: bool = False  # also the team channel (settings team_email / team_webhook)
    subscribers: bool = False  # also every user whose preferences list this kind
    context: dict = field(default_factory=dict)


class Rules:
    """Turns events into notices; reads the case, article and users it needs."""

    def __init__(self, kb: KnowledgeBase, users: Users,
                 settings: Callable[[], Settings]) -> None:
        self.kb, self.users, self.settings = kb, users, settings

    def notices(self, event: Event) -> list[Notice]:
        kind, _, rid = event.target.partition(":")
        if event.action == "import":
            return [self._notice("import", event, users=(event.actor,),
                                 file=rid, taken=event.detail.get("taken"),
                                 rejected=event.detail.get("rejected"))]
        if event.action == "notify:test" and kind == "user":
            return [self._notice("test", event, users=(rid,))]
        if kind == "case":
            return self._case(event, rid)
        if kind == "article":
            return self._article(event, rid)
        return []

    # -- cases -------------------------------------------------------------------------
    def _case(self, event: Event, case_id: str) -> list[Notice]:
        d, action = event.detail, event.action
        out: list[Notice] = []
        if action in ("triage", "retriage") and self._top(d.get("priority")):
            out.append(self._notice("critical", event, key=f"critical:{case_id}", team=True,
                                    subscribers=True, **self._case_context(case_id)))
        elif action in ("deadline:at_risk", "deadline:overdue"):
            to = self._people(d.get("assignee"))
            out.append(self._notice(action.partition(":")[2], event, key=d.get("key"),
                                    users=to, team=not to, due=d.get("due"),
                                    deadline=d.get("deadline"), **self._case_context(case_id)))
        elif action == "follow_up:due":
            to = self._people(d.get("opener"))
            out.append(self._notice("follow_up", event, key=d.get("key"), users=to,
                                    team=not to, resolved_at=d.get("resolved_at"),
                                    days=d.get("days"), **self._case_context(case_id)))
        elif d.get("assignee"):
            kind = {"escalate": "escalated", "dispatch": "dispatched"}.get(action, "assigned")
            to = tuple(u for u in self._people(d["assignee"]) if u != event.actor)
            if to:
                out.append(self._notice(kind, event, users=to, reason=d.get("reason"),
                                        **self._case_context(case_id)))
        return out

    def _top(self, priority: str | None) -> bool:
        levels = self.settings().levels
        return bool(priority) and priority == levels[-1]

    def _case_context(self, case_id: str) -> dict:
        """What the messages about a case show (the description redacted and cut)."""
        row = self.kb.db.execute(
            "SELECT title, text, priority, state, assignee, dispatch FROM cases WHERE id = ?",
            [case_id]).fetchone()
        if row is None:
            return {"case": case_id, "target": f"case:{case_id}"}
        title, text, priority, state, assignee, dispatch = row
        names, serials = names_and_serials(personal_values(self.kb, [case_id]).get(case_id, {}))
        excerpt = redact((text or "")[:EXCERPT * 2], names, serials)[:EXCERPT]
        plan = json.loads(dispatch) if dispatch else {}
        return {"case": case_id, "target": f"case:{case_id}",
                "title": title or excerpt[:60], "priority": priority,
                "planned_at": plan.get("planned_at"), "place": plan.get("place"),
                "facts": {"priority": priority, "state": state, "assignee": assignee,
                          "description": excerpt}}

    # -- articles ------------------------------------------------------------------------
    def _article(self, event: Event, article_id: str) -> list[Notice]:
        row = self.kb.db.execute("SELECT title, state, author FROM articles WHERE id = ?",
                                 [article_id]).fetchone()
        if row is None:
            return []
        title, state, author = row
        moved = event.detail.get("to") == "not_validated" or (
            event.action == "edit" and "state" in (event.detail.get("fields") or [])
            and state == "not_validated")
        if not moved:
            return []
        reviewers = PERMISSIONS["article.validate"]
        to = tuple(u.username for u in self.users.all()
                   if u.role in reviewers and u.username not in (event.actor, author))
        return [self._notice("review", event, users=to, article=article_id, title=title,
                             target=f"article:{article_id}")]

    # -- pieces --------------------------------------------------------------------------
    def _people(self, name: str | None) -> tuple[str, ...]:
        """The user called `name`, or nobody when there is no such user."""
        if not name:
            return ()
        return (name,) if any(u.username == name for u in self.users.all()) else ()

    @staticmethod
    def _notice(kind: str, event: Event, key: str | None = None, users: tuple = (),
                team: bool = False, subscribers: bool = False, **context) -> Notice:
        context.setdefault("actor", event.actor)
        return Notice(kind=kind, key=key or f"e{event.id}", users=tuple(users), team=team,
                      subscribers=subscribers, context=context)
