"""The knowledge loop (KCS): capture a closed case as an article, review it, keep it.

Article states, as KCS names them::

    wip ──submit──▶ not_validated ──validate──▶ validated
     ▲                 │   ▲                       │
     └────reject───────┘   └──edit by a non-reviewer┘        any ──archive/merge──▶ archived

* `wip` (work in progress) drafts are not offered as known fixes; `not_validated` and
  `validated` articles are, and so are imported ones (state empty, treated as validated).
  `archived` articles leave search and triage but keep their history.
* Editing keeps the state, except that an edit of a validated (or imported) article by
  someone who may not validate sends it back to `not_validated` for review.
* Every write (create, edit, state change, merge) stores a numbered row in
  `article_versions`; `version` on the article is the latest number.
* Closing a resolved case drafts an article from it with personal data removed
  (kb.redact), unless the case was resolved with an existing article: then that reuse is
  logged and no draft is made (the `used` link already counts it).  A case reopened and
  closed again is captured again: a new version of its article (action `redraft`, sent
  back for review), or a new article `related_to` it when the confirmed cause differs.
* Saving an article reports live articles that are near-duplicates (dense similarity at
  least `article_duplicate`), so a reviewer can merge them; merging archives the source
  and moves its `used` / `not-helpful` links to the target, so the fix keeps its history
  in ranking and reports.

The article body: `Record.text` holds the symptoms, `Record.fix` the resolution steps;
the cause and the environment are kept in the record's `extra` ("cause",
"environment"; a merged article also has "duplicate_of", a redrafted one "related_to").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from errors import BadInput, InvalidTransition, UnknownLabel
from kb.exporter import names_and_serials, personal_values
from kb.records import Record, is_known_fix
from kb.redact import redact
from kb.store import now_utc
from service.auth import PERMISSIONS, User, require
from service.engine import Engine, OnEngine

STATES = ("wip", "not_validated", "validated", "archived")
TRANSITIONS: dict[str | None, frozenset[str]] = {
    "wip": frozenset({"not_validated", "archived"}),
    "not_validated": frozenset({"validated", "wip", "archived"}),
    "validated": frozenset({"not_validated", "archived"}),
    None: frozenset({"validated", "not_validated", "archived"}),  # imported
    "archived": frozenset(),
}
ID_PREFIX = "KA-"
# who may read an article: the team alone (None in the table: the same), or customers
# too, on the portal (portal/), once it is validated
AUDIENCES = ("internal", "external")
DUPLICATE_POOL = 10
TITLE_CHARS = 60
FEEDBACK = ("used", "not-helpful")


@dataclass
class Article:
    """One article as stored, with its KCS fields."""

    id: str
    state: str | None
    title: str
    symptoms: str
    resolution: str
    cause: str = ""
    environment: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    version: int = 0
    author: str | None = None
    source_case: str | None = None
    reviewed_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    duplicate_of: str | None = None
    related_to: str | None = None  # drafted again from a reopened case: the earlier article
    audience: str = "internal"  # AUDIENCES

    @property
    def key(self) -> str:
        return f"article:{self.id}"

    @property
    def live(self) -> bool:
        """Whether it is offered as a known fix."""
        return is_known_fix("article", self.state)

    @property
    def for_customers(self) -> bool:
        """Whether customers may read it: validated, and written for them (external)."""
        return self.state == "validated" and self.audience == "external"


class Knowledge(OnEngine):
    """Articles: drafting from cases, writing, review, versions, duplicates, usage."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    # -- reading -----------------------------------------------------------------------------
    def get(self, article_id: str) -> Article:
        """The article, whatever its state (archived ones too)."""
        return self._article(self.kb.row("article", article_id),
                             self.kb.get("article", article_id))

    def list(self, state: str | None = None, offset: int = 0,
             limit: int | None = None) -> list[Article]:
        """Every article (or those in one state), most recently changed first; with a
        `limit`, that many from `offset` (see `count`)."""
        where, args = self._state(state)
        page = "" if limit is None else " LIMIT ? OFFSET ?"
        return self._articles(where, args + ([] if limit is None else [limit, offset]), page)

    def count(self, state: str | None = None) -> int:
        """How many articles `list` lists."""
        where, args = self._state(state)
        return self.kb.db.execute(f"SELECT COUNT(*) FROM articles WHERE {where}",
                                  args).fetchone()[0]

    @staticmethod
    def _state(state: str | None) -> tuple[str, list]:
        if state is not None and state not in STATES:
            raise BadInput(f"unknown article state {state!r} ({', '.join(STATES)})")
        return ("state = ?", [state]) if state else ("1=1", [])

    def for_customers(self) -> list[str]:
        """Ids of the articles customers may read (Article.for_customers): validated and
        external."""
        rows = self.kb.db.execute("SELECT id FROM articles WHERE state = 'validated' "
                                  "AND audience = 'external' ORDER BY id")
        return [r[0] for r in rows]

    def review_queue(self) -> list[Article]:
        """Articles waiting for a reviewer (not_validated) and drafts still being written
        (wip): submitted ones first, the longest waiting first."""
        queue = self._articles("state IN ('not_validated', 'wip')", [])
        return sorted(queue, key=lambda a: (a.state != "not_validated", a.updated_at or ""))

    def versions(self, article_id: str) -> list[dict]:
        """Every stored version, oldest first: version, action, title, text, fix, state,
        severity, labels, extra, at, actor."""
        rows = list(self.kb.db.query(
            "SELECT * FROM article_versions WHERE article_id = ? ORDER BY version",
            [article_id]))
        if not rows:
            self.kb.row("article", article_id)  # NotFound for an unknown id
        for row in rows:
            row["labels"] = json.loads(row["labels"] or "{}")
            row["extra"] = json.loads(row["extra"] or "{}")
        return rows

    def sources(self, article_id: str) -> list[str]:
        """Ids of the cases the article was drafted from (links `created-from`)."""
        return sorted({lk["case_id"] for lk in self.kb.links(target=f"article:{article_id}")
                       if lk["relation"] == "created-from"})

    def usage(self, article_id: str) -> dict[str, int]:
        """How many distinct cases used it, marked it not helpful, or were offered it."""
        rows = self.kb.db.execute(
            "SELECT relation, COUNT(DISTINCT case_id) FROM links WHERE target = ? "
            "GROUP BY relation", [f"article:{article_id}"]).fetchall()
        counts = dict(rows)
        return {"used": counts.get("used", 0), "not_helpful": counts.get("not-helpful", 0),
                "suggested": counts.get("suggested", 0)}

    def duplicates(self, article_id: str) -> list[dict]:
        """Other live articles whose dense similarity to this one reaches
        `article_duplicate`, most similar first: [{id, title, state, similarity}]."""
        art = self.get(article_id)
        query = "\n".join(p for p in (art.title, art.symptoms) if p.strip())
        hits = [h for h in self.engine.similar(query, DUPLICATE_POOL)
                if h.key.startswith("article:") and h.key != art.key
                and h.dense >= self.s.article_duplicate]
        records = self.kb.get_many(h.key for h in hits)
        found = [(h, records[h.key]) for h in hits
                 if h.key in records and is_known_fix("article", records[h.key].state)]
        found.sort(key=lambda hr: -hr[0].dense)
        return [{"id": rec.id, "title": rec.title, "state": rec.state,
                 "similarity": round(h.dense, 4)} for h, rec in found]

    # -- capture from a case -------------------------------------------------------------------
    def draft_from_case(self, actor: User, case) -> str | None:
        """On close: a `wip` article drafted from the case with personal data removed,
        linked `created-from`; returns its id.  None when the case was resolved with an
        existing article (the reuse is logged instead) or has no fix.  A case that already
        has a draft keeps it (its id is returned), unless it was reopened since that draft
        was made: then the re-closed case is captured again (`_redraft`)."""
        require(actor, "article.draft")
        used = (case.fields.get("resolved_with") or "").strip()
        if used.startswith("article:"):
            self.kb.log(actor.username, "article:reused", used, {"case": case.id})
            return None
        drafted = [lk["target"].partition(":")[2] for lk in self.kb.links(case.id)
                   if lk["relation"] == "created-from"]
        if drafted and not self._reopened_since_draft(case.id):
            return drafted[-1]
        if not case.fix.strip():
            return None
        if drafted:
            return self._redraft(actor, case, drafted[-1])
        return self._draft(actor, case, self._from_case(case))

    def _draft(self, actor: User, case, body: dict[str, str],
               related_to: str | None = None) -> str:
        """A new wip article with `body`, linked created-from the case (and `related_to`
        an earlier article drafted from it)."""
        with self.kb.transaction():
            # confirmed labels, else triage's prediction for the reviewer to check
            article_id = self._new(actor, **body, labels=case.all_labels,
                                   severity=case.severity, source_case=case.id,
                                   author=case.fields.get("assignee") or actor.username,
                                   action="draft", related_to=related_to)
            self.kb.link(case.id, f"article:{article_id}", "created-from", actor.username)
        self.engine.refresh()
        return article_id

    def _redraft(self, actor: User, case, earlier_id: str) -> str:
        """A reopened case closed again: its fix (and cause) become a new version of the
        article drafted from it before, sent back for review (wip stays wip, anything
        else is not_validated); when the confirmed cause differs from that article's
        cause, or the article is archived, a new article `related_to` it instead.
        Returns the id of the article written."""
        body = self._from_case(case)
        earlier = self.get(earlier_id)
        if earlier.state == "archived" or _differs(body["cause"], earlier.cause):
            return self._draft(actor, case, body, related_to=earlier_id)
        changes = {"fix": body["resolution"]}
        extra = self.kb.get("article", earlier_id).extra
        extra.update({k: body[k] for k in ("cause", "environment") if body[k]})
        changes["extra"] = json.dumps(extra, ensure_ascii=False)
        if earlier.state != "wip":
            changes["state"] = "not_validated"
        self._write(actor, earlier_id, "redraft", changes,
                    {"case": case.id, "from": earlier.state, "to": changes.get("state", "wip")})
        return earlier_id

    def _reopened_since_draft(self, case_id: str) -> bool:
        """Whether the case was reopened after the last article was drafted (or
        redrafted) from it: event ids order the log."""
        row = self.kb.db.execute(
            "SELECT MAX(CASE WHEN action = 'reopen' THEN id END), MAX(CASE WHEN action != "
            "'reopen' THEN id END) FROM events WHERE (target = ? AND action IN ('reopen', "
            "'link:created-from')) OR (action = 'redraft' AND json_extract(detail, "
            "'$.case') = ?)", [f"case:{case_id}", case_id]).fetchone()
        reopened, drafted = row
        return reopened is not None and (drafted is None or reopened > drafted)

    def _from_case(self, case) -> dict[str, str]:
        """Title, symptoms, cause, resolution and environment of a case, redacted."""
        f = case.fields
        extra = json.loads(f.get("extra") or "{}") if isinstance(f.get("extra"), str) else {}
        names, serials = names_and_serials(personal_values(self.kb, [case.id]).get(case.id, {}))

        def clean(text: str) -> str:
            return redact((text or "").strip(), names, serials)

        record = f.get("service_record") or {}
        steps = [case.fix.strip()]
        if (record.get("steps") or "").strip() and record["steps"].strip() not in steps[0]:
            steps.append(record["steps"].strip())
        env = [f.get("product") or extra.get("product") or "",
               f.get("asset_model") or extra.get("asset_model") or ""]
        title = case.title.strip() or case.description.strip().splitlines()[0][:TITLE_CHARS]
        return {"title": clean(title), "symptoms": clean(case.description),
                "resolution": clean("\n".join(steps)), "cause": clean(record.get("cause", "")),
                "environment": clean(" / ".join(dict.fromkeys(e for e in env if e)))}

    # -- writing -------------------------------------------------------------------------------
    def create(self, actor: User, title: str, symptoms: str, resolution: str,
               labels: dict[str, str] | None = None, severity: str | None = None,
               cause: str = "", environment: str = "") -> tuple[str, list[dict]]:
        """A new `wip` article written by `actor`; returns its id and its near-duplicates."""
        require(actor, "article.draft")
        with self.kb.transaction():
            article_id = self._new(actor, title, symptoms, resolution, cause, environment,
                                   labels=labels or {}, severity=severity,
                                   author=actor.username, action="create")
        self.engine.refresh()
        return article_id, self.duplicates(article_id)

    def edit(self, actor: User, article_id: str, title: str | None = None,
             symptoms: str | None = None, resolution: str | None = None,
             labels: dict[str, str] | None = None, severity: str | None = None,
             cause: str | None = None, environment: str | None = None,
             audience: str | None = None) -> tuple[int, list[dict]]:
        """Change what is given (None: unchanged); returns the new version number and the
        near-duplicates.  A validated article edited by someone who may not validate goes
        back to not_validated (so is one whose `audience`, AUDIENCES, they change: what
        customers read is a reviewer's call)."""
        require(actor, "article.draft")
        art = self.get(article_id)
        if art.state == "archived":
            raise InvalidTransition(f"{article_id} is archived; it cannot be edited",
                                    "article_archived", id=article_id)
        changes = self._body_changes(title, symptoms, resolution)
        old_extra = self.kb.get("article", article_id).extra
        extra = dict(old_extra)
        for name, value in (("cause", cause), ("environment", environment)):
            if value is not None:
                extra[name] = value.strip()
                if not extra[name]:
                    del extra[name]
        if extra != old_extra:
            changes["extra"] = json.dumps(extra, ensure_ascii=False)
        if severity is not None:
            changes["severity"] = severity or None
        if audience is not None:
            changes["audience"] = _audience(audience)
        if labels is not None:
            self._check_labels(labels)
            labels = {k: v for k, v in labels.items() if v}
        current = {**self.kb.row("article", article_id), "labels": art.labels,
                   "audience": art.audience}
        changes = {k: v for k, v in changes.items() if v != current.get(k)}
        if labels == art.labels:
            labels = None
        if not changes and labels is None:  # nothing differs: no new version
            return art.version, self.duplicates(article_id)
        if art.state in ("validated", None) and not self._may_validate(actor):
            changes["state"] = "not_validated"
        fields = sorted(changes) + (["labels"] if labels is not None else [])
        version = self._write(actor, article_id, "edit", changes, {"fields": fields},
                              labels=labels)
        return version, self.duplicates(article_id)

    def submit(self, actor: User, article_id: str) -> Article:
        """wip -> not_validated: the draft is ready for review (and offered as a fix)."""
        require(actor, "article.submit")
        return self._move(actor, article_id, "not_validated", "submit", only_from={"wip"})

    def validate(self, actor: User, article_id: str) -> Article:
        """not_validated (or imported) -> validated; engineers and managers only."""
        require(actor, "article.validate")
        return self._move(actor, article_id, "validated", "validate",
                          {"reviewed_at": now_utc()})

    def reject(self, actor: User, article_id: str, reason: str) -> Article:
        """not_validated -> wip: sent back to its author with a reason."""
        require(actor, "article.validate")
        if not reason.strip():
            raise BadInput("sending an article back needs a reason", "return_reason")
        return self._move(actor, article_id, "wip", "reject", detail={"reason": reason})

    def archive(self, actor: User, article_id: str, reason: str = "") -> Article:
        """Any state -> archived: out of search and triage, history kept."""
        require(actor, "article.archive")
        return self._move(actor, article_id, "archived", "archive", detail={"reason": reason})

    def merge(self, actor: User, source_id: str, target_id: str) -> Article:
        """Fold a duplicate into another article: the source is archived and marked
        duplicate_of the target, and its used / not-helpful links move to the target.
        Returns the target."""
        require(actor, "article.merge")
        if source_id == target_id:
            raise BadInput("an article cannot be merged into itself", "merge_self")
        source, target = self.get(source_id), self.get(target_id)
        if target.state == "archived":
            raise InvalidTransition(f"{target_id} is archived; merge into a live article",
                                    "merge_into_archived", id=target_id)
        if "archived" not in TRANSITIONS[source.state]:
            raise InvalidTransition(f"{source_id} is already archived", "already_archived",
                                    id=source_id)
        extra = {**self.kb.get("article", source_id).extra, "duplicate_of": target_id}
        with self.kb.transaction():
            moved = self.kb.db.execute(
                "UPDATE links SET target = ? WHERE target = ? AND relation IN (?, ?)",
                [target.key, source.key, *FEEDBACK]).rowcount
            self._write(actor, source_id, "merge",
                        {"state": "archived", "extra": json.dumps(extra, ensure_ascii=False)},
                        {"duplicate_of": target_id, "moved_links": moved,
                         "from": source.state, "to": "archived"})
            self.kb.log(actor.username, "merged-into", target.key,
                        {"from": source_id, "moved_links": moved})
        self.engine.refresh()
        return self.get(target_id)

    # -- pieces --------------------------------------------------------------------------------
    @staticmethod
    def _may_validate(actor: User) -> bool:
        return actor.role in PERMISSIONS["article.validate"]

    def _check_labels(self, labels: dict[str, str]) -> None:
        known = set(self.kb.label_fields())
        bad = [f for f in labels if known and f not in known]
        if bad:
            raise UnknownLabel(f"unknown label field(s): {', '.join(bad)} "
                               f"(known: {', '.join(sorted(known))})")

    @staticmethod
    def _body_changes(title, symptoms, resolution) -> dict[str, str]:
        changes = {}
        for column, value, name in (("title", title, "title"), ("text", symptoms, "symptoms"),
                                    ("fix", resolution, "resolution")):
            if value is not None:
                if not value.strip():
                    raise BadInput(f"an article needs a {name}", "article_needs", field=name)
                changes[column] = value.strip()
        return changes

    def _next_id(self) -> str:
        """KA-000001, KA-000002 ...; called inside a write transaction."""
        rows = self.kb.db.execute("SELECT id FROM articles WHERE id LIKE ?", [ID_PREFIX + "%"])
        used = [int(r[0][len(ID_PREFIX):]) for r in rows if r[0][len(ID_PREFIX):].isdigit()]
        return f"{ID_PREFIX}{max(used, default=0) + 1:06d}"

    def _new(self, actor: User, title: str, symptoms: str, resolution: str, cause: str,
             environment: str, labels: dict[str, str], severity: str | None, author: str,
             action: str, source_case: str | None = None, related_to: str | None = None) -> str:
        """Write a new wip article and its version 1; inside the caller's transaction.
        `related_to`: the earlier article drafted from the same case (a different cause)."""
        body = self._body_changes(title, symptoms, resolution)
        self._check_labels(labels)
        article_id = self._next_id()
        extra = {k: v.strip() for k, v in (("cause", cause), ("environment", environment),
                                           ("related_to", related_to)) if v and v.strip()}
        self.kb.upsert([Record(kind="article", id=article_id, title=body["title"],
                               text=body["text"], fix=body["fix"],
                               labels={k: v for k, v in labels.items() if v},
                               severity=severity or None, state="wip", extra=extra)],
                       actor.username)
        self.kb.db["articles"].update(article_id, {"version": 1, "author": author,
                                                   "source_case": source_case})
        detail = {"source_case": source_case, "related_to": related_to}
        self.kb.log(actor.username, action, f"article:{article_id}",
                    {k: v for k, v in detail.items() if v} or None)
        self._snapshot(article_id, 1, action, actor.username)
        return article_id

    def _move(self, actor: User, article_id: str, to: str, action: str,
              changes: dict | None = None, detail: dict | None = None,
              only_from: set[str] | None = None) -> Article:
        art = self.get(article_id)
        allowed = to in TRANSITIONS[art.state] and (only_from is None or art.state in only_from)
        if not allowed:
            raise InvalidTransition(
                f"{article_id} is {art.state or 'imported'}; it cannot go to {to}",
                "article_move", id=article_id, state=art.state or "imported", to=to)
        self._write(actor, article_id, action, {**(changes or {}), "state": to},
                    {"from": art.state, "to": to, **(detail or {})})
        return self.get(article_id)

    def _write(self, actor: User, article_id: str, action: str, changes: dict,
               detail: dict | None = None, labels: dict[str, str] | None = None) -> int:
        """Change the article, store the new version, refresh the index; returns the
        version number."""
        with self.kb.transaction():
            version = self._next_version(article_id)
            self.kb.update("article", article_id, {**changes, "version": version},
                           actor.username, action, {**(detail or {}), "version": version},
                           labels=labels)
            self._snapshot(article_id, version, action, actor.username)
        if not self.kb.db.conn.in_transaction:  # else the caller refreshes after commit
            self.engine.refresh()
        return version

    def _next_version(self, article_id: str) -> int:
        """The number of the next version.  An article written before versions were kept
        (imported) first gets its current text stored as version 1."""
        last = self.kb.db.execute("SELECT MAX(version) FROM article_versions "
                                  "WHERE article_id = ?", [article_id]).fetchone()[0]
        if last is None:
            self._snapshot(article_id, 1, "imported", "system")
            last = 1
        return last + 1

    def _snapshot(self, article_id: str, version: int, action: str, actor: str) -> None:
        rec = self.kb.get("article", article_id)
        self.kb.db["article_versions"].insert({
            "article_id": article_id, "version": version, "action": action,
            "title": rec.title, "text": rec.text, "fix": rec.fix, "state": rec.state,
            "severity": rec.severity, "labels": json.dumps(rec.labels, ensure_ascii=False),
            "extra": json.dumps(rec.extra, ensure_ascii=False), "at": now_utc(),
            "actor": actor})

    def _articles(self, where: str, args: list, page: str = "") -> list[Article]:
        """Articles matching `where`, most recently changed first; `page` a LIMIT clause
        (its arguments last in `args`)."""
        rows = list(self.kb.db.query(
            f"SELECT * FROM articles WHERE {where} ORDER BY updated_at DESC, id{page}", args))
        out = []
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            records = self.kb.get_many(f"article:{r['id']}" for r in chunk)
            out += [self._article(r, records[f"article:{r['id']}"]) for r in chunk]
        return out

    @staticmethod
    def _article(row: dict, rec: Record) -> Article:
        return Article(id=rec.id, state=rec.state, title=rec.title, symptoms=rec.text,
                       resolution=rec.fix, cause=rec.extra.get("cause", ""),
                       environment=rec.extra.get("environment", ""), labels=rec.labels,
                       severity=rec.severity, version=row.get("version") or 0,
                       author=row.get("author"), source_case=row.get("source_case"),
                       reviewed_at=row.get("reviewed_at"), created_at=rec.created_at,
                       updated_at=rec.updated_at, duplicate_of=rec.extra.get("duplicate_of"),
                       related_to=rec.extra.get("related_to"),
                       audience=row.get("audience") or "internal")


def _audience(value: str) -> str:
    """An article's audience (AUDIENCES), or BadInput."""
    if value not in AUDIENCES:
        raise BadInput(f"unknown audience {value!r} ({', '.join(AUDIENCES)})",
                       "article_audience", value=value[:40])
    return value


def _differs(cause: str, earlier: str) -> bool:
    """Whether a confirmed cause names another cause than an article's: both given and
    not the same text (case, spaces and punctuation at the ends aside)."""
    def norm(text: str) -> str:
        return " ".join((text or "").split()).strip("。.，,；; ").casefold()
    return bool(norm(cause) and norm(earlier)) and norm(cause) != norm(earlier)
