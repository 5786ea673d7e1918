"""Confirmation and satisfaction by link (客户确认, 满意度调查, 客服回访 by link).

When a case is resolved, its customer is mailed a link to a page (portal/answers.py)
where they say whether the fix worked, rate the service 1–5 and comment; when it is
closed, a follow-up link is mailed `follow_up_days` later: the outbox row is written at
close and held back by its `next_attempt_at`.  The address is an e-mail in the case's
contact, else the first e-mail of the customer record (`desk.customers`); a case with
neither gets no mail, and an agent can always issue a fresh link to paste into a chat
(`issue`).  Mail and page are in the case's language (a `lang` column when the case has
one, else Chinese).

A link is a random token (`secrets.token_urlsafe`); only its SHA-256 is stored (table
`customer_links`).  It works `answer_link_days` after it goes out and takes one answer:
the check and the answer are one write transaction, and `customer_answers.link_id` is
UNIQUE, so of two answers sent at once one is taken and the other refused (LinkGone).
A link also stops taking answers once its question is answered another way (by phone,
through another link) or its case has moved on (reopened; closed before confirmation).

An answer acts as `auth.CUSTOMER` through Cases, and its events say source "link":
worked → `Cases.confirm`; did not work → `Cases.reopen` with the customer's words;
follow-up → `Cases.follow_up`.  What an agent records in the app, the CLI or the API
(`Cases.confirm` / `follow_up`, source "phone") is kept as an answer too, by this
service's event hook, which also mails the links on resolve and close.

The mail carrying a link holds it in the outbox until it is sent; then the link is cut
from the stored message (service/notify/outbox.py, `sent`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from errors import BadInput, InvalidTransition, LinkGone, NotFound
from kb.store import Event, now_utc
from service.auth import CUSTOMER, LANGS, User, require
from service.cases import FOLLOW_UP_OUTCOMES, TRANSITIONS, Case, Cases, clock_now, iso
from service.customers import Customers
from service.engine import Engine, OnEngine
from service.notify.messages import Message
from service.notify.outbox import Outbox
from service.notify.service import event_id
from ui.i18n import message  # the catalogue alone: it does not need Streamlit

PURPOSES = ("confirm", "follow_up")  # each is the Cases action its answer takes
# what a customer may answer to a follow-up ("unreachable" is only an agent's finding)
CUSTOMER_OUTCOMES = tuple(o for o in FOLLOW_UP_OUTCOMES if o != "unreachable")
HOOK = "customer_links"
PATH = "/portal/answer/"
TOKEN_BYTES = 32  # 43 URL-safe characters
TOKEN_MAX = 100  # longer is no token of ours: refused before any lookup
COMMENT_MAX = 2000
SENDER = "system"  # who mails the links on resolve and close
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK_COLUMNS = ("id, case_id, purpose, lang, via, created_at, created_by, send_at, "
                 "expires_at, ended_at")
_ANSWER_COLUMNS = ("id, case_id, purpose, source, link_id, worked, rating, outcome, "
                   "comment, at, actor")


@dataclass(frozen=True)
class Link:
    """What is kept about a link sent to a customer (never its token)."""

    id: int
    case_id: str
    purpose: str  # PURPOSES
    lang: str
    # "mail" (sent by the hook), "copy" (an agent pasted it into a chat) or "dropped" (its
    # mail was not tried before the question was answered another way: never sent)
    via: str
    created_at: str
    created_by: str
    send_at: str  # when it goes (went) out
    expires_at: str
    ended_at: str | None  # answered, or its question answered another way


@dataclass(frozen=True)
class Answer:
    """One answer of a customer to a confirmation or follow-up question."""

    id: int
    case_id: str
    purpose: str
    source: str  # ANSWER_SOURCES: "link" (the customer's own page) or "phone"
    link_id: int | None
    worked: bool | None  # confirm: did the fix work
    rating: int | None
    outcome: str | None  # follow_up: FOLLOW_UP_OUTCOMES
    comment: str
    at: str
    actor: str

    @classmethod
    def from_row(cls, row: tuple) -> Answer:
        aid, case_id, purpose, source, link_id, worked, rating, outcome, comment, at, \
            actor = row
        return cls(aid, case_id, purpose, source, link_id,
                   None if worked is None else bool(worked), rating, outcome, comment or "",
                   at, actor)


@dataclass(frozen=True)
class Shown:
    """What a customer's page shows of the case: nothing internal, nobody's name."""

    link: Link
    case_id: str
    product: str
    fix: str
    received_at: str | None
    resolved_at: str | None
    rated: bool  # the case has a rating: a follow-up asks for none (it would not count)


def digest(token: str) -> str:
    """The stored form of a link's token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def case_lang(fields: dict) -> str:
    """The language of a case's customer: its `lang` column when it has one, else zh."""
    lang = fields.get("lang")
    return lang if lang in LANGS else "zh"


def _purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise BadInput(f"unknown link purpose {purpose!r} ({', '.join(PURPOSES)})",
                       "link_purpose", purpose=purpose)
    return purpose


class CustomerLinks(OnEngine):
    """Issue, show and answer customers' links; the answers of a case."""

    def __init__(self, engine: Engine, cases: Cases, customers: Customers) -> None:
        super().__init__(engine)
        self.cases, self.customers = cases, customers
        self.outbox = Outbox(self.kb)
        self.kb.on_log(HOOK, self._on_event)

    def url(self, token: str, lang: str = "zh") -> str:
        """The address of a link's page (under the `portal_url` setting)."""
        tail = "?lang=en" if lang == "en" else ""
        return f"{self.s.portal_url.rstrip('/')}{PATH}{quote(token, safe='')}{tail}"

    # -- issuing ---------------------------------------------------------------------------
    def issue(self, actor: User, case_id: str, purpose: str) -> tuple[Link, str]:
        """A fresh link for an agent to paste into a chat: the case must wait for that
        answer (resolved for confirm; resolved, confirmed or closed for a follow-up).
        Returns what is kept and the link's address, which holds the token and cannot be
        shown again."""
        _purpose(purpose)
        require(actor, TRANSITIONS[purpose].permission)
        with self.kb.transaction():
            case = self.cases.get(case_id)
            if case.state not in TRANSITIONS[purpose].states:
                raise InvalidTransition(f"{case.id} is {case.state}: it waits for no "
                                        f"{purpose} answer", "link_not_now", id=case.id,
                                        state=case.state)
            link, token = self._create(case.id, purpose, case_lang(case.fields), "copy",
                                       actor.username, clock_now())
        return link, self.url(token, link.lang)

    def _create(self, case_id: str, purpose: str, lang: str, via: str, by: str,
                send_at: datetime) -> tuple[Link, str]:
        """A new link (and its event) inside the caller's transaction, if any."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = send_at + timedelta(days=self.s.answer_link_days)
        with self.kb.transaction():
            cur = self.kb.db.execute(
                "INSERT INTO customer_links (case_id, purpose, token_hash, lang, via, "
                "created_at, created_by, send_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                "?, ?)", [case_id, purpose, digest(token), lang, via, now_utc(), by,
                          iso(send_at), iso(expires)])
            link = self._links("id = ?", [cur.lastrowid])[0]
            self.kb.log(by, "answer_link", f"case:{case_id}",
                        {"purpose": purpose, "via": via, "link": link.id,
                         "send_at": link.send_at})
        return link, token

    # -- the customer's side -----------------------------------------------------------------
    def shown(self, token: str) -> Shown:
        """What the link's page shows; NotFound for a token that is no link, LinkGone
        for one that is used, expired or no longer wanted."""
        link = self._usable(token)
        case = self.cases.get(link.case_id)
        f = case.fields
        return Shown(link, case.id, f.get("product") or f.get("asset_model") or "", case.fix,
                     f.get("received_at"), f.get("resolved_at"), bool(f.get("satisfaction")))

    def answer(self, token: str, worked: bool | None = None, rating: int | None = None,
               comment: str = "", outcome: str | None = None) -> Answer:
        """The customer's answer through a link, taken once.  Confirm: `worked`, and a
        `rating` 1–5 when it did; when it did not, `comment` (their words) reopens the
        case.  Follow-up: `outcome` (CUSTOMER_OUTCOMES), a `rating` unless the case is
        rated already (then it is not asked, and not kept), `comment`."""
        comment = (comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise BadInput(f"the comment is longer than {COMMENT_MAX} characters",
                           "answer_long", chars=COMMENT_MAX)
        if rating is not None and not 1 <= int(rating) <= 5:
            raise BadInput("satisfaction is 1 to 5", "satisfaction_range")
        with self.kb.transaction():
            link = self._usable(token)
            case = self.cases.get(link.case_id)
            if link.purpose == "confirm":
                rating = self._check_confirm(worked, rating, comment)
            else:
                worked = None
                rating = self._check_follow_up(case, outcome, rating)
            answer_id = self._record(case.id, link.purpose, "link", link.id,
                                     CUSTOMER.username, worked, rating, outcome, comment)
            self._act(case, link.purpose, worked, rating, outcome, comment)
        return self._answers("id = ?", [answer_id])[0]

    @staticmethod
    def _check_confirm(worked: bool | None, rating: int | None, comment: str) -> int | None:
        if worked is None:
            raise BadInput("say whether the fix worked", "answer_worked")
        if worked and rating is None:
            raise BadInput("rate the service from 1 to 5", "answer_rating")
        if not worked and not comment:
            raise BadInput("say what still goes wrong", "answer_words")
        return rating

    @staticmethod
    def _check_follow_up(case: Case, outcome: str | None, rating: int | None) -> int | None:
        if outcome not in CUSTOMER_OUTCOMES:
            raise BadInput("choose how it has gone since", "answer_outcome")
        return None if case.fields.get("satisfaction") else rating

    def _act(self, case: Case, purpose: str, worked: bool | None, rating: int | None,
             outcome: str | None, comment: str) -> None:
        """The case action an answer by link takes, as the customer."""
        if purpose == "follow_up":
            self.cases.follow_up(CUSTOMER, case.id, outcome or "", comment,
                                 satisfaction=rating, source="link")
        elif worked:
            self.cases.confirm(CUSTOMER, case.id, int(rating or 0), comment, source="link")
        else:
            self.cases.reopen(CUSTOMER, case.id, comment, source="link")

    def _usable(self, token: str) -> Link:
        """The link of this token while it takes an answer."""
        if not token or len(token) > TOKEN_MAX:
            raise NotFound("no such link", "link_unknown")
        found = self._links("token_hash = ?", [digest(token)])
        if not found:
            raise NotFound("no such link", "link_unknown")
        link = found[0]
        if link.ended_at:
            raise LinkGone(f"link {link.id} of {link.case_id} is answered", "link_used")
        if now_utc() >= link.expires_at:
            raise LinkGone(f"link {link.id} of {link.case_id} expired {link.expires_at}",
                           "link_expired")
        state = self.kb.db.execute("SELECT state FROM cases WHERE id = ?",
                                   [link.case_id]).fetchone()
        if state is None or state[0] not in TRANSITIONS[link.purpose].states:
            raise LinkGone(f"{link.case_id} waits for no {link.purpose} answer now",
                           "link_used")
        return link

    # -- answers ---------------------------------------------------------------------------
    def answers(self, actor: User, case_id: str) -> list[Answer]:
        """A case's answers, oldest first (by link and by phone)."""
        require(actor, "case.view")
        return self._answers("case_id = ? ORDER BY id", [case_id])

    def links(self, actor: User, case_id: str) -> list[Link]:
        """The links sent for a case, oldest first."""
        require(actor, "case.view")
        return self._links("case_id = ? ORDER BY id", [case_id])

    def _record(self, case_id: str, purpose: str, source: str, link_id: int | None,
                actor: str, worked: bool | None, rating: int | None, outcome: str | None,
                comment: str) -> int:
        """Store an answer and end the case's open links of that question."""
        with self.kb.transaction():
            cur = self.kb.db.execute(
                "INSERT INTO customer_answers (case_id, purpose, source, link_id, worked, "
                "rating, outcome, comment, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [case_id, purpose, source, link_id, None if worked is None else int(worked),
                 rating, outcome, comment, now_utc(), actor])
            if link_id is not None:  # the link answered ends as it is (it went out)
                self.kb.db.execute("UPDATE customer_links SET ended_at = ? WHERE id = ?",
                                   [now_utc(), link_id])
            self._end(case_id, purpose)
        return int(cur.lastrowid)

    def _end(self, case_id: str, purpose: str | None) -> None:
        """The case's open links (of one question, or all) stop taking answers; a mail of
        theirs not tried yet is dropped from the outbox, and the link marked `dropped`
        (it never went out: the report does not count it as sent)."""
        sql, args = "case_id = ? AND ended_at IS NULL", [case_id]
        if purpose:
            sql, args = sql + " AND purpose = ?", [*args, purpose]
        db = self.kb.db
        for link in self._links(sql, args):
            dropped = db.execute("DELETE FROM outbox WHERE event_id = ? AND state = 'pending' "
                                 "AND attempts = 0", [_mail_event(case_id, link.id)]).rowcount
            db.execute("UPDATE customer_links SET ended_at = ?, via = ? WHERE id = ?",
                       [now_utc(), "dropped" if dropped else link.via, link.id])

    def _links(self, where: str, args: list) -> list[Link]:
        return [Link(*r) for r in self.kb.db.execute(
            f"SELECT {_LINK_COLUMNS} FROM customer_links WHERE {where}", args)]

    def _answers(self, where: str, args: list) -> list[Answer]:
        return [Answer.from_row(r) for r in self.kb.db.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM customer_answers WHERE {where}", args)]

    # -- the event hook: mail on resolve and close, answers recorded by agents ---------------
    def _on_event(self, event: Event) -> None:
        """Inside the event's transaction (kb.store `on_log`)."""
        kind, _, case_id = event.target.partition(":")
        if kind != "case":
            return
        d, now = event.detail, clock_now()
        if event.action == "resolve":
            self._mail(case_id, "confirm", now)
        elif event.action == "close":  # a confirmation is no longer wanted
            self._end(case_id, "confirm")
            if self.s.follow_up_days > 0:
                self._mail(case_id, "follow_up",
                           now + timedelta(days=self.s.follow_up_days))
        elif event.action in PURPOSES and d.get("source") == "phone":
            comment = d.get("note") if event.action == "follow_up" else self.kb.db.execute(
                "SELECT satisfaction_comment FROM cases WHERE id = ?", [case_id]).fetchone()[0]
            self._record(case_id, event.action, "phone", None, event.actor,
                         True if event.action == "confirm" else None, d.get("satisfaction"),
                         d.get("outcome"), comment or "")
        elif event.action == "reopen":  # whatever was asked is moot: the work goes on
            self._end(case_id, None)

    def _mail(self, case_id: str, purpose: str, send_at: datetime) -> None:
        """A link for the case's customer, mailed at `send_at` (none without an
        address)."""
        row = self.kb.row("case", case_id)
        address = self._address(row)
        if address is None:
            return
        link, token = self._create(case_id, purpose, case_lang(row), "mail", SENDER, send_at)
        mail = self._message(row, link, token)
        self.outbox.enqueue(_mail_event(case_id, link.id), "email", "", _recipient(case_id),
                            address, link.lang, mail.to_json(),
                            not_before=send_at.timestamp())

    def _address(self, row: dict) -> str | None:
        """An e-mail in the case's contact, else the customer record's first one."""
        found = _EMAIL.search(row.get("contact") or "")
        if found:
            return found.group(0)
        if not row.get("customer_id"):
            return None
        try:
            customer = self.customers.customer(row["customer_id"])
        except NotFound:
            return None
        emails = [(c.get("email") or "").strip() for c in customer.contacts]
        return next((e for e in emails if _EMAIL.fullmatch(e)), None)

    def _message(self, row: dict, link: Link, token: str) -> Message:
        """The mail in the customer's language: the case and the product, what to do,
        until when (on the team's clock); nothing internal."""
        lang, key = link.lang, f"answer.mail_{link.purpose}"
        until = datetime.fromisoformat(link.expires_at.replace("Z", "+00:00"))
        product = row.get("product") or row.get("asset_model") or "—"
        lines = [message(f"{key}_body", lang, case=link.case_id, product=product),
                 message("answer.mail_until", lang,
                         until=until.astimezone(self.s.zone).strftime("%Y-%m-%d %H:%M"))]
        return Message(kind=f"customer_{link.purpose}", lang=lang,
                       subject=message(f"{key}_subject", lang, case=link.case_id),
                       lines=lines, link=self.url(token, lang),
                       link_text=message(f"{key}_link", lang))


def _recipient(case_id: str) -> str:
    """The outbox recipient of a case's customer (not a user: no preferences)."""
    return f"customer:{case_id}"


def _mail_event(case_id: str, link_id: int) -> str:
    """The outbox event id of the mail carrying link `link_id`."""
    return event_id(f"link{link_id}", _recipient(case_id), "email")
