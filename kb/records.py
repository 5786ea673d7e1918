"""The records the knowledge base holds: cases (tickets) and articles (known fixes)."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("case", "article")
# Every state a record of each kind can be in (the case loop, the article review).
CASE_STATES = ("new", "triaged", "in_progress", "escalated", "resolved", "confirmed", "closed")
ARTICLE_STATES = ("wip", "not_validated", "validated", "archived")
STATES = {"case": CASE_STATES, "article": ARTICLE_STATES}
# Case states whose labels and fix count as settled knowledge (None: imported history).
SETTLED_CASE_STATES = frozenset({"resolved", "confirmed", "closed", None})
# Article states shown as known fixes.
LIVE_ARTICLE_STATES = frozenset({"validated", "not_validated", None})


def is_known_fix(kind: str, state: str | None) -> bool:
    """Whether a record may be offered as a known fix (and taught to classifiers)."""
    return state in (SETTLED_CASE_STATES if kind == "case" else LIVE_ARTICLE_STATES)


@dataclass
class Record:
    """One case or article.

    `text` is the fault description (case) or the symptoms (article); `fix` is the
    resolution.  `labels` maps a label field (category, component, ...) to its value;
    `extra` keeps every other column of an imported row so nothing is lost.
    """

    kind: str
    id: str
    title: str = ""
    text: str = ""
    fix: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    state: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def key(self) -> str:
        """The id the search index uses: 'case:ID' or 'article:ID'."""
        return f"{self.kind}:{self.id}"

    @property
    def description(self) -> str:
        """Title and description: what a new fault description is compared with."""
        return "\n".join(p for p in (self.title.strip(), self.text.strip()) if p)

    @property
    def search_text(self) -> str:
        """Everything searchable by words and codes, the fix included."""
        return "\n".join(p for p in (self.description, self.fix.strip()) if p)


def split_key(key: str) -> tuple[str, str]:
    kind, _, rid = key.partition(":")
    return kind, rid
