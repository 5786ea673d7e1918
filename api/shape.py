"""Service objects in the API's shapes (api/schemas.py), and JSON responses with their
ETag.  Nothing here decides anything: it only copies fields across."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import etag
from api.schemas import (
    Alternative,
    ArticleOut,
    CaseOut,
    EscalationOut,
    LabelOut,
    MatchOut,
    SearchHit,
    SeverityOut,
    TriageOut,
    finite,
)
from service.cases import Case
from service.desk import Desk
from service.engine import SearchResult
from service.knowledge import Article
from triage.result import TriageResult

_CASE_FIELDS = set(CaseOut.model_fields) - {
    "id", "version", "state", "title", "description", "fix", "labels", "severity",
    "priority", "deadline", "triage"}


def case_out(desk: Desk, case: Case) -> CaseOut:
    f = case.fields
    return CaseOut(id=case.id, version=int(f["seq"]), state=case.state, title=case.title,
                   description=case.description, fix=case.fix, labels=case.labels,
                   severity=case.severity, priority=case.priority,
                   deadline=desk.cases.deadline_status(case),
                   triage=case.triage.to_json() if case.triage else None,
                   **{k: f.get(k) for k in _CASE_FIELDS})


def article_out(article: Article, version: int) -> ArticleOut:
    """`version`: the record's seq, read before the article (so never newer than it)."""
    a = article
    return ArticleOut(id=a.id, version=version, revision=a.version, state=a.state,
                      title=a.title, symptoms=a.symptoms, resolution=a.resolution,
                      cause=a.cause, environment=a.environment, labels=a.labels,
                      severity=a.severity, author=a.author, source_case=a.source_case,
                      reviewed_at=a.reviewed_at, created_at=a.created_at,
                      updated_at=a.updated_at, duplicate_of=a.duplicate_of,
                      related_to=a.related_to, audience=a.audience)


def triage_out(result: TriageResult) -> TriageOut:
    labels = {name: LabelOut(value=p.value, confidence=finite(p.confidence),
                             alternatives=[Alternative(value=str(v), confidence=finite(c))
                                           for v, c in p.alternatives], given=p.given)
              for name, p in result.labels.items()}
    matches = [MatchOut(key=m.key, kind=m.kind, id=m.id, title=m.title, fix=m.fix,
                        score=finite(m.score), matched=list(m.matched), labels=m.labels,
                        severity=m.severity) for m in result.matches]
    return TriageOut(labels=labels,
                     severity=SeverityOut(level=result.severity,
                                          confidence=finite(result.severity_confidence),
                                          reason=result.severity_reason),
                     matches=matches,
                     escalation=EscalationOut(escalate=result.escalation.escalate,
                                              reasons=list(result.escalation.reasons)),
                     timings_ms={k: finite(v) for k, v in result.timings_ms.items()})


def hit_out(r: SearchResult) -> SearchHit:
    rec = r.record
    return SearchHit(key=rec.key, kind=rec.kind, id=rec.id, title=rec.title, text=rec.text,
                     fix=rec.fix, score=finite(r.hit.score), matched=list(r.hit.matched),
                     labels=rec.labels, severity=rec.severity)


def with_etag(model: BaseModel, version: int, status: int = 200,
              location: str | None = None) -> JSONResponse:
    """The model as JSON with the record version as its ETag (and a Location)."""
    headers = {"ETag": etag(version)}
    if location:
        headers["Location"] = location
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)
