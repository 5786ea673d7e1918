"""The role matrix through the API: every operation of the OpenAPI document × every
caller — a token of each role, a revoked token, a token of a disabled user, a token of a
removed user, and no token.

The expected outcome is not written here: each operation declares the permission the
service checks (`x-permission` in the document), and service.auth.PERMISSIONS says which
roles hold it.  A role that holds it gets a 2xx (and, for a change, an audit event in its
own name); a role that does not gets 403 problem+json and nothing is written; the tokens
that must not work get 401.  If a route declared a permission other than the one its
service really checks, the matrix would disagree with the server and fail.

What is written here is only how to make a valid request for each operation (REQUESTS):
a fresh record in the state the action needs, made through the Desk.  An operation in the
document without a row here fails `test_every_operation_has_a_request`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from api.deps import PUBLIC, SIGNED_IN
from api.problems import PROBLEM
from service.auth import PERMISSIONS, ROLES, SYSTEM
from service.desk import Desk

CALLERS = (*ROLES, "revoked", "disabled", "removed", None)
_n = itertools.count()


@dataclass
class Call:
    """One request: method, path, JSON body and query."""

    method: str
    path: str
    json: dict | None = None
    params: dict | None = None


def fault() -> str:
    return f"NVR提示硬盘错误，录像回放查不到 {next(_n)}"


def triaged(d: Desk) -> str:
    return d.cases.open(SYSTEM, fault(), channel="phone").id


def resolved(d: Desk) -> str:
    case_id = triaged(d)
    d.cases.resolve(SYSTEM, case_id, "换了硬盘 replaced the disk")
    return case_id


def closed(d: Desk) -> str:
    case_id = resolved(d)
    d.cases.close(SYSTEM, case_id)
    return case_id


def wip(d: Desk) -> str:
    return d.knowledge.create(SYSTEM, f"硬盘报警 {next(_n)}", "NVR 硬盘报警", "更换硬盘")[0]


def submitted(d: Desk) -> str:
    article_id = wip(d)
    d.knowledge.submit(SYSTEM, article_id)
    return article_id


def new_user(d: Desk) -> str:
    name = f"matrix_{next(_n)}"
    d.users.add(SYSTEM, name, "a-long-password", "first_line")
    return name


C, A, V = "/api/v1/cases", "/api/v1/articles", "/api/v1"
PERIOD = {"start": "2026-01-01", "end": "2027-01-01"}
REQUESTS: dict[tuple[str, str], Callable[[Desk], Call]] = {
    ("POST", "/api/v1/triage"): lambda d: Call("POST", f"{V}/triage", {"text": fault()}),
    ("GET", "/api/v1/search"): lambda d: Call("GET", f"{V}/search", params={"q": "硬盘"}),
    ("GET", "/api/v1/labels"): lambda d: Call("GET", f"{V}/labels"),
    ("GET", "/api/v1/cases"): lambda d: Call("GET", C, params={"limit": 5}),
    ("POST", "/api/v1/cases"): lambda d: Call("POST", C, {"description": fault()}),
    ("GET", "/api/v1/cases/{case_id}"): lambda d: Call("GET", f"{C}/{triaged(d)}"),
    ("PATCH", "/api/v1/cases/{case_id}"):
        lambda d: Call("PATCH", f"{C}/{triaged(d)}", {"customer": "某某公司"}),
    ("GET", "/api/v1/cases/{case_id}/events"): lambda d: Call("GET", f"{C}/{triaged(d)}/events"),
    ("GET", "/api/v1/cases/{case_id}/links"): lambda d: Call("GET", f"{C}/{triaged(d)}/links"),
    ("POST", "/api/v1/cases/{case_id}/links"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/links", {"target": "article:DEMO-A-01"}),
    ("POST", "/api/v1/cases/{case_id}/start"): lambda d: Call("POST", f"{C}/{triaged(d)}/start",
                                                              {}),
    ("POST", "/api/v1/cases/{case_id}/escalate"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/escalate",
                       {"to": "api_engineer", "reason": "no known fix"}),
    ("POST", "/api/v1/cases/{case_id}/delay"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/delay", {"code": "B", "note": "等备件"}),
    ("POST", "/api/v1/cases/{case_id}/dispatch"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/dispatch",
                       {"assignee": "api_engineer", "planned_at": "2026-12-03T09:00:00Z",
                        "place": "机房 3F", "tools": ["万用表"], "parts": ["4TB 硬盘"]}),
    ("POST", "/api/v1/cases/{case_id}/service-record"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/service-record",
                       {"cause": "硬盘坏道", "steps": "更换硬盘并重建阵列"}),
    ("POST", "/api/v1/cases/{case_id}/resolve"):
        lambda d: Call("POST", f"{C}/{triaged(d)}/resolve", {"fix": "更换硬盘", "confirm": True}),
    ("POST", "/api/v1/cases/{case_id}/confirm"):
        lambda d: Call("POST", f"{C}/{resolved(d)}/confirm", {"satisfaction": 5}),
    ("POST", "/api/v1/cases/{case_id}/close"): lambda d: Call("POST", f"{C}/{resolved(d)}/close",
                                                              {}),
    ("POST", "/api/v1/cases/{case_id}/reopen"):
        lambda d: Call("POST", f"{C}/{closed(d)}/reopen", {"reason": "又坏了"}),
    ("POST", "/api/v1/cases/{case_id}/follow-up"):
        lambda d: Call("POST", f"{C}/{resolved(d)}/follow-up", {"came_back": False}),
    ("GET", "/api/v1/articles"): lambda d: Call("GET", A, params={"limit": 5}),
    ("POST", "/api/v1/articles"):
        lambda d: Call("POST", A, {"title": f"录像丢失 {next(_n)}", "symptoms": "回放查不到",
                                   "resolution": "检查录像计划"}),
    ("GET", "/api/v1/articles/{article_id}"): lambda d: Call("GET", f"{A}/{wip(d)}"),
    ("PATCH", "/api/v1/articles/{article_id}"):
        lambda d: Call("PATCH", f"{A}/{wip(d)}", {"cause": "硬盘老化"}),
    ("POST", "/api/v1/articles/{article_id}/submit"):
        lambda d: Call("POST", f"{A}/{wip(d)}/submit", {}),
    ("POST", "/api/v1/articles/{article_id}/validate"):
        lambda d: Call("POST", f"{A}/{submitted(d)}/validate", {}),
    ("POST", "/api/v1/articles/{article_id}/reject"):
        lambda d: Call("POST", f"{A}/{submitted(d)}/reject", {"reason": "缺少步骤"}),
    ("POST", "/api/v1/articles/{article_id}/archive"):
        lambda d: Call("POST", f"{A}/{submitted(d)}/archive", {"reason": "过时"}),
    ("POST", "/api/v1/articles/{article_id}/merge"):
        lambda d: Call("POST", f"{A}/{submitted(d)}/merge", {"into": submitted(d)}),
    ("GET", "/api/v1/articles/{article_id}/versions"):
        lambda d: Call("GET", f"{A}/{wip(d)}/versions"),
    ("GET", "/api/v1/reports/summary"): lambda d: Call("GET", f"{V}/reports/summary",
                                                       params=PERIOD),
    ("GET", "/api/v1/reports/export"):
        lambda d: Call("GET", f"{V}/reports/export", params={**PERIOD, "format": "csv"}),
    ("GET", "/api/v1/users"): lambda d: Call("GET", f"{V}/users"),
    ("POST", "/api/v1/users"):
        lambda d: Call("POST", f"{V}/users", {"username": f"added_{next(_n)}",
                                              "password": "a-long-password",
                                              "role": "first_line"}),
    ("PATCH", "/api/v1/users/{username}"):
        lambda d: Call("PATCH", f"{V}/users/{new_user(d)}", {"team": "二线"}),
    ("GET", "/api/v1/settings"): lambda d: Call("GET", f"{V}/settings"),
    ("PATCH", "/api/v1/settings"): lambda d: Call("PATCH", f"{V}/settings", {"top_k": 6}),
    ("GET", "/api/v1/health"): lambda d: Call("GET", f"{V}/health"),
    ("GET", "/api/v1/me"): lambda d: Call("GET", f"{V}/me"),
}
READ_ONLY_POSTS = {("POST", "/api/v1/triage")}  # writes nothing, so logs nothing


@pytest.fixture(scope="module")
def declared(api_server) -> dict[tuple[str, str], str]:
    """(method, path) -> the permission the operation declares ('public': no token)."""
    with api_server.client() as c:
        doc = c.get("/api/v1/openapi.json").json()
    return {(m.upper(), p): op["x-permission"] for p, ops in doc["paths"].items()
            for m, op in ops.items()}


def test_every_operation_has_a_request(declared):
    assert set(declared) == set(REQUESTS)
    for (method, path), permission in declared.items():
        assert permission in (*PERMISSIONS, SIGNED_IN, PUBLIC), f"{method} {path}: {permission}"


def expected(permission: str, caller: str | None) -> int:
    """2 (any 2xx), 401 or 403, from PERMISSIONS alone."""
    if permission == PUBLIC:
        return 2
    if caller not in ROLES:
        return 401
    return 2 if permission == SIGNED_IN or caller in PERMISSIONS[permission] else 403


def last_event(desk: Desk) -> int:
    return desk.engine.kb.db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "no-token")
@pytest.mark.parametrize("operation", sorted(REQUESTS), ids=lambda op: f"{op[0]} {op[1]}")
def test_role_matrix(api_server, declared, operation, caller):
    desk = api_server.desk
    call = REQUESTS[operation](desk)
    before = last_event(desk)
    with api_server.client(caller) as c:
        r = c.request(call.method, call.path, json=call.json, params=call.params)
    want = expected(declared[operation], caller)
    got = r.status_code // 100 if want == 2 else r.status_code
    assert got == want, f"{caller}: {r.status_code} {r.text[:300]}"
    events = desk.engine.kb.db.execute("SELECT actor, action FROM events WHERE id > ?",
                                       [before]).fetchall()
    if want == 2 and call.method != "GET" and operation not in READ_ONLY_POSTS:
        assert (f"api_{caller}", ) in {(a,) for a, _ in events}, \
            f"no audit event in {caller}'s name: {events}"
    if want != 2:
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == want
        assert events == [], f"a refused request wrote: {events}"
    if want == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
