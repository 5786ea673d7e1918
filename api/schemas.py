"""The API's request and response bodies (pydantic models; the OpenAPI document is made
from them).  Requests refuse unknown fields, so a misspelt field is an error, not a
silent no-op; every text refuses lone surrogates, which no database or index can hold.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _valid_text(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("holds a lone surrogate, which is not text")
    return value


def _valid_deep(value: Any) -> Any:
    """Any JSON value whose strings (keys too) are all text."""
    if isinstance(value, str):
        _valid_text(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _valid_deep(k)
            _valid_deep(v)
    elif isinstance(value, list):
        for v in value:
            _valid_deep(v)
    return value


Text = Annotated[str, AfterValidator(_valid_text)]
AnyJson = Annotated[Any, AfterValidator(_valid_deep)]
Short = Annotated[str, AfterValidator(_valid_text), Field(max_length=500)]
Long = Annotated[str, AfterValidator(_valid_text), Field(max_length=100_000)]
Labels = dict[Short, Short]


def finite(value: float | None) -> float:
    """A score as JSON can carry it (no NaN or infinity)."""
    return round(value, 4) if value is not None and math.isfinite(value) else 0.0


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details, with KnownFix's stable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code: the service's error key "
                      "where there is one, else the error's class")
    instance: str | None = None
    model_config = ConfigDict(extra="allow")


# -- triage and search ---------------------------------------------------------------------
class TriageIn(_Request):
    text: Long = Field(description="The fault description", min_length=1)
    title: Short = ""
    product: Short = ""
    model: Short = Field("", description="The equipment model")
    labels: Labels = Field(default_factory=dict,
                           description="Label values already known, e.g. {\"category\": "
                           "\"storage\"}; they are kept, not predicted")


class Alternative(BaseModel):
    value: str
    confidence: float


class LabelOut(BaseModel):
    value: str | None
    confidence: float
    alternatives: list[Alternative]
    given: bool


class SeverityOut(BaseModel):
    level: str | None
    confidence: float
    reason: str


class MatchOut(BaseModel):
    key: str
    kind: str
    id: str
    title: str
    fix: str
    score: float = Field(description="Ranking score 0-1; matches are in its order")
    matched: list[str] = Field(description="Words of the query found in the record")
    labels: dict[str, str]
    severity: str | None


class EscalationOut(BaseModel):
    escalate: bool
    reasons: list[str]


class TriageOut(BaseModel):
    labels: dict[str, LabelOut]
    severity: SeverityOut
    matches: list[MatchOut]
    escalation: EscalationOut
    timings_ms: dict[str, float]


class SearchHit(BaseModel):
    key: str
    kind: str
    id: str
    title: str
    text: str
    fix: str
    score: float
    matched: list[str]
    labels: dict[str, str]
    severity: str | None


class SearchOut(BaseModel):
    query: str
    results: list[SearchHit]


class LabelFieldsOut(BaseModel):
    fields: dict[str, list[str]] = Field(description="Each label field with its known "
                                         "values, and the severity scale as 'severity'")


# -- cases ---------------------------------------------------------------------------------
Channel = Literal["phone", "email", "web", "onsite"]
CaseState = Literal["new", "triaged", "in_progress", "escalated", "resolved", "confirmed",
                    "closed"]


class CaseOpen(_Request):
    description: Long = Field(min_length=1, description="The fault as the customer said it")
    title: Short = ""
    labels: Labels = Field(default_factory=dict)
    project: Short | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9]{0,15}$",
                                  description="Project code, a letter then letters or "
                                  "digits (default: the setting project_code)")
    channel: Channel | None = None
    customer: Short | None = None
    contact: Short | None = None
    asset_model: Short | None = None
    asset_serial: Short | None = None
    product: Short | None = None
    received_at: Short | None = Field(None, description="ISO-8601 time (default: now); "
                                      "without a zone, on the clock of the `timezone` "
                                      "setting")
    last_service_at: Short | None = Field(None, description="ISO-8601 time or date; "
                                          "without a zone, in the `timezone` setting")
    team: Short | None = None


class CaseUpdate(_Request):
    description: Long | None = None
    title: Short | None = None
    labels: Labels | None = None
    channel: Channel | None = None
    customer: Short | None = None
    contact: Short | None = None
    asset_model: Short | None = None
    asset_serial: Short | None = None
    product: Short | None = None
    received_at: Short | None = None
    last_service_at: Short | None = None
    team: Short | None = None


class CaseOut(BaseModel):
    """A case as stored; `version` is its ETag."""

    id: str
    version: int
    state: str
    title: str
    description: str
    fix: str
    labels: dict[str, str]
    severity: str | None
    priority: str | None
    deadline: Literal["ok", "at_risk", "overdue"]
    project: str | None = None
    channel: str | None = None
    customer: str | None = None
    contact: str | None = None
    asset_model: str | None = None
    asset_serial: str | None = None
    product: str | None = None
    team: str | None = None
    assignee: str | None = None
    received_at: str | None = None
    last_service_at: str | None = None
    first_response_at: str | None = None
    resolved_at: str | None = None
    confirmed_at: str | None = None
    closed_at: str | None = None
    due_response: str | None = None
    due_resolution: str | None = None
    satisfaction: int | None = None
    satisfaction_comment: str | None = None
    recurrence_of: str | None = None
    duplicate_of: str | None = None
    resolved_with: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    triage: dict[str, Any] | None = None
    escalation: dict[str, Any] | None = None
    delay: dict[str, Any] | None = None
    dispatch: dict[str, Any] | None = None
    service_record: dict[str, Any] | None = None
    follow_up: dict[str, Any] | None = None


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; "
                                    "null on the last page")


class EventOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    detail: dict[str, Any]


class LinkOut(BaseModel):
    target: str
    relation: str
    at: str | None
    actor: str | None


class Empty(_Request):
    """No fields."""


class Escalate(_Request):
    to: Short = Field(description="Who takes it: an engineer or a group")
    reason: Short


class Delay(_Request):
    code: Literal["A", "B", "C", "D"] = Field(description="A: taken but not served; B: "
                                              "staff or materials short; C: the customer's "
                                              "reasons; D: other (needs a note)")
    note: Short = ""


class Dispatch(_Request):
    assignee: Short
    planned_at: Short = Field(description="ISO-8601 time of the visit; without a zone, on "
                              "the clock of the `timezone` setting")
    place: Short
    tools: list[Short] = Field(default_factory=list, max_length=100)
    parts: list[Short] = Field(default_factory=list, max_length=100)


class ServiceRecord(_Request):
    cause: Long
    steps: Long
    parts_used: list[Short] = Field(default_factory=list, max_length=100)
    result: Long = ""


class LinkFix(_Request):
    target: Short = Field(description="The fix: 'article:ID' or 'case:ID'")
    helpful: bool = Field(True, description="true: used it; false: not helpful")


class Resolve(_Request):
    fix: Long = Field(description="What was done")
    cause: Long = ""
    used: Short | None = Field(None, description="The fix used: 'article:ID' or 'case:ID'")
    labels: Labels = Field(default_factory=dict, description="Confirmed or corrected labels")
    severity: Short | None = None
    confirm: bool = Field(False, description="Accept triage's prediction for every field "
                          "not given")


class Confirm(_Request):
    satisfaction: int = Field(ge=1, le=5)
    comment: Long = ""


class Close(_Request):
    labels: Labels = Field(default_factory=dict)
    severity: Short | None = None
    confirm: bool = False


class Reopen(_Request):
    reason: Long


class FollowUp(_Request):
    outcome: Literal["solved", "unhappy", "came_back", "unreachable"] | None = Field(
        None, description="What the call found; came_back reopens the case")
    came_back: bool | None = Field(None, description="Short for outcome came_back "
                                   "(true) or solved (false)")
    note: Long = ""
    satisfaction: int | None = Field(None, ge=1, le=5,
                                     description="For a case not rated at confirmation")

    @model_validator(mode="after")
    def _one_outcome(self) -> FollowUp:
        if (self.outcome is None) == (self.came_back is None):
            raise ValueError("give outcome or came_back (one of them)")
        if self.outcome is None:
            self.outcome = "came_back" if self.came_back else "solved"
        return self


# -- articles ------------------------------------------------------------------------------
ArticleState = Literal["wip", "not_validated", "validated", "archived"]
Audience = Literal["internal", "external"]


class ArticleIn(_Request):
    title: Short
    symptoms: Long
    resolution: Long
    cause: Long = ""
    environment: Short = ""
    labels: Labels = Field(default_factory=dict)
    severity: Short | None = None


class ArticleEdit(_Request):
    title: Short | None = None
    symptoms: Long | None = None
    resolution: Long | None = None
    cause: Long | None = None
    environment: Short | None = None
    labels: Labels | None = None
    severity: Short | None = Field(None, description="'' removes the severity")
    audience: Audience | None = Field(None, description="external: customers may read it "
                                      "on the portal once it is validated")


class ArticleOut(BaseModel):
    """An article; `version` is its ETag (the record's change counter), `revision` the
    number of its stored versions."""

    id: str
    version: int
    revision: int
    state: str | None
    title: str
    symptoms: str
    resolution: str
    cause: str
    environment: str
    labels: dict[str, str]
    severity: str | None
    author: str | None
    source_case: str | None
    reviewed_at: str | None
    created_at: str | None
    updated_at: str | None
    duplicate_of: str | None
    related_to: str | None = Field(None, description="The article drafted earlier from the "
                                   "same case, when a re-close found another cause")
    audience: Audience = Field("internal", description="internal: the team alone; "
                               "external: customers too, once validated")


class Duplicate(BaseModel):
    id: str
    title: str
    state: str | None
    similarity: float


class ArticleSaved(BaseModel):
    article: ArticleOut
    duplicates: list[Duplicate] = Field(description="Live articles that say nearly the "
                                        "same (to merge)")


class ArticlePage(BaseModel):
    items: list[ArticleOut]
    next_cursor: str | None


class Reason(_Request):
    reason: Long = ""


class NeedReason(_Request):
    reason: Long


class Merge(_Request):
    into: Short = Field(description="The article that stays")


class VersionOut(BaseModel):
    version: int
    action: str
    title: str | None
    text: str | None
    fix: str | None
    state: str | None
    severity: str | None
    labels: dict[str, Any]
    extra: dict[str, Any]
    at: str | None
    actor: str | None


# -- users, settings, health -----------------------------------------------------------------
Role = Literal["first_line", "engineer", "manager", "admin"]
Lang = Literal["zh", "en"]


class UserIn(_Request):
    username: Short = Field(min_length=1)
    password: Short = Field(min_length=8)
    role: Role
    display_name: Short = ""
    lang: Lang = "zh"
    team: Short = ""
    timezone: Short = Field("", description="The user's own time zone, an IANA name such "
                            "as Asia/Shanghai; empty: the server's `timezone` setting")


class UserChange(_Request):
    role: Role | None = None
    display_name: Short | None = None
    team: Short | None = None
    lang: Lang | None = None
    timezone: Short | None = Field(None, description="An IANA time zone name; empty: the "
                                   "server's `timezone` setting")
    active: bool | None = Field(None, description="false disables the user (and their "
                                "API tokens); true enables them again")


class UserOut(BaseModel):
    username: str
    role: str
    display_name: str
    lang: str
    team: str
    timezone: str = ""
    active: bool
    created_at: str | None = None


SettingsChange = dict[Short, AnyJson]


class SettingOut(BaseModel):
    name: str
    value: Any
    default: Any
    pinned: bool
    help: str


class SettingsOut(BaseModel):
    settings: list[SettingOut]


class SettingsSaved(BaseModel):
    changed: list[str]
    path: str
    note: str


class HealthDb(BaseModel):
    reachable: bool
    error: str | None


class HealthIndex(BaseModel):
    records: int | None
    up_to_date: bool | None


class HealthOut(BaseModel):
    ok: bool
    model: str | None
    index: HealthIndex
    db: HealthDb
