"""The customer request page's service (在线提交工单; the pages are portal/app.py).

A customer describes a fault and gives their name, a phone number and/or an e-mail
address, the product and its serial.  Before anything is filed they are shown the best
articles written for customers (`answers`: validated and external, nothing else); when
one solves it, that is counted as a deflection (`deflect`: when, which article, which
language — nothing about who asked) and no case is opened.  Otherwise the request is
opened as a case through the same intake as every other (`submit`: channel `web`, actor
`auth.CUSTOMER`, triaged like any case), and the customer gets the case number and a
private status link: an unguessable token of which only the SHA-256 is kept
(`status_links`), never the case number alone (`status`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, fields

from errors import BadInput, NotFound
from kb.store import now_utc
from service.auth import CUSTOMER
from service.cases import Case, Cases
from service.engine import Engine, OnEngine
from service.knowledge import Article, Knowledge
from ui.i18n import LANGUAGES

# the most characters each field of a request may hold
FIELD_CHARS = {"description": 4000, "name": 100, "phone": 40, "email": 120, "product": 100,
               "serial": 64}
SHOWN = 3  # articles offered for one request
TOKEN_BYTES = 32  # a status token: 256 random bits, 43 characters
TOKEN_CHARS = 100  # longer is no token of ours: refused before hashing
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{4,38}")
EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
# a case's state as its customer is told it (the workflow's own names are the team's)
CUSTOMER_STATES = {"new": "received", "triaged": "received", "in_progress": "working",
                   "escalated": "working", "resolved": "resolved", "confirmed": "confirmed",
                   "closed": "closed"}


@dataclass(frozen=True)
class WebRequest:
    """What a customer typed on the request page (as typed: `checked` cleans it)."""

    description: str
    name: str
    phone: str = ""
    email: str = ""
    product: str = ""
    serial: str = ""

    def checked(self) -> WebRequest:
        """The request with its fields trimmed, or BadInput (keyed, for the page) when a
        field is too long, the description or the name is empty, no contact is given,
        or a phone number or e-mail address is not one."""
        values = {f.name: " ".join(getattr(self, f.name).split()) if f.name != "description"
                  else getattr(self, f.name).strip() for f in fields(self)}
        for name, text in values.items():
            if len(text) > FIELD_CHARS[name]:
                raise BadInput(f"{name} is longer than {FIELD_CHARS[name]} characters",
                               "portal_too_long", box=name, chars=FIELD_CHARS[name])
        for name in ("description", "name"):
            if not values[name]:
                raise BadInput(f"{name} is empty", "portal_missing", box=name)
        if not values["phone"] and not values["email"]:
            raise BadInput("give a phone number or an e-mail address", "portal_contact")
        if values["phone"] and not PHONE.fullmatch(values["phone"]):
            raise BadInput(f"{values['phone'][:40]!r} is not a phone number", "portal_phone")
        if values["email"] and not EMAIL.fullmatch(values["email"]):
            raise BadInput(f"{values['email'][:40]!r} is not an e-mail address",
                           "portal_email")
        return WebRequest(**values)

    @property
    def contact(self) -> str:
        """Phone and e-mail as the case's contact field holds them."""
        return " / ".join(p for p in (self.phone, self.email) if p)


@dataclass(frozen=True)
class CaseStatus:
    """A case as its customer may see it: nothing internal, no one's name."""

    number: str
    state: str  # a value of CUSTOMER_STATES
    received_at: str | None  # UTC ISO-8601
    resolved_at: str | None


class Portal(OnEngine):
    """Answers before filing, deflections, web requests and their status links."""

    def __init__(self, engine: Engine, cases: Cases, knowledge: Knowledge) -> None:
        super().__init__(engine)
        self.cases, self.knowledge = cases, knowledge

    # -- answering before anything is filed ----------------------------------------------------
    def answers(self, text: str, product: str = "") -> list[Article]:
        """The best articles customers may read for a fault description (SHOWN at most,
        scoring at least `portal_answer_score`); none for an empty text."""
        query = "\n".join(p for p in (text.strip()[:FIELD_CHARS["description"]],
                                      product.strip()[:FIELD_CHARS["product"]]) if p)
        visible = [f"article:{i}" for i in self.knowledge.for_customers()]
        if not query or not visible:
            return []
        found = self.engine.search(query, SHOWN, kind="article", only=visible)
        shown = [self.knowledge.get(r.record.id) for r in found
                 if r.hit.score >= self.s.portal_answer_score]
        return [a for a in shown if a.for_customers]  # changed since the list was read

    def article(self, article_id: str) -> Article:
        """An article a customer may read; NotFound for any other (unknown, internal,
        not validated, archived: the same answer, so nothing can be learnt from it)."""
        try:
            art = self.knowledge.get(article_id[:40])
        except NotFound:
            art = None
        if art is None or not art.for_customers:
            raise NotFound(f"no article {article_id[:40]!r} for customers", "portal_article")
        return art

    def deflect(self, article_id: str, lang: str) -> None:
        """Count that the article solved a customer's fault (no case is opened)."""
        art = self.article(article_id)
        self.kb.db["deflections"].insert({"at": now_utc(), "article_id": art.id,
                                          "lang": lang if lang in LANGUAGES else None})

    def deflections(self, since: str | None = None) -> int:
        """How many requests an article answered (since a UTC ISO-8601 time, or ever)."""
        return self.kb.db.execute("SELECT COUNT(*) FROM deflections WHERE at >= ?",
                                  [since or ""]).fetchone()[0]

    # -- filing --------------------------------------------------------------------------------
    def submit(self, request: WebRequest, lang: str) -> tuple[Case, str]:
        """Open the request as a case (channel web, triaged like any other) and make its
        status link; returns the case and the status token (shown once, kept only as
        its SHA-256)."""
        req = request.checked()
        token = secrets.token_urlsafe(TOKEN_BYTES)

        def link(case_id: str) -> None:  # in the case's own transaction: both or neither
            self.kb.db["status_links"].insert({
                "token_sha256": _digest(token), "case_id": case_id, "created_at": now_utc(),
                "lang": lang if lang in LANGUAGES else None})

        case = self.cases.open(CUSTOMER, req.description, channel="web", customer=req.name,
                               contact=req.contact, product=req.product,
                               asset_serial=req.serial, on_open=link,
                               lang=lang if lang in LANGUAGES else "")
        return case, token

    def status(self, token: str) -> CaseStatus:
        """The case a status token belongs to, as its customer may see it; NotFound for
        any token that is not one (the same answer whatever is wrong with it)."""
        row = None
        if 0 < len(token) <= TOKEN_CHARS:
            row = self.kb.db.execute("SELECT case_id FROM status_links WHERE token_sha256 = ?",
                                     [_digest(token)]).fetchone()
        if row is None:
            raise NotFound("no such status link", "portal_link")
        case = self.cases.get(row[0])
        return CaseStatus(number=case.id, state=CUSTOMER_STATES.get(case.state, "received"),
                          received_at=case.fields.get("received_at"),
                          resolved_at=case.fields.get("resolved_at"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
