"""What every handler needs: the Desk, the caller (from the bearer token), the record
versions of If-Match, and how a route says which permission it needs.

A route declares the permission the service checks for it (`needs("case.view")`): that
puts `x-permission` and the roles that hold it into the OpenAPI document, for clients
and for the role-matrix test, which checks the declaration against what the service
really does.  The check itself is the service's `require`, never a second copy here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from errors import BadInput
from service.auth import PERMISSIONS, ROLES, User
from service.desk import Desk

bearer = HTTPBearer(auto_error=False, bearerFormat="kf_…",
                    description="A personal API token: `knownfix token create USER`")
_ETAG = re.compile(r'\s*"(\d{1,18})"\s*')


def get_desk(request: Request) -> Desk:
    return request.app.state.desk


def caller(request: Request,
           creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The user the bearer token acts as (401 problem otherwise)."""
    user = get_desk(request).tokens.authenticate(creds.credentials if creds else None)
    request.state.user = user  # for the problem's language
    return user


DeskDep = Annotated[Desk, Depends(get_desk)]
Caller = Annotated[User, Depends(caller)]


def etag(version: int) -> str:
    """The ETag of a record version: its seq, quoted (a strong validator)."""
    return f'"{version}"'


def if_match(value: str | None) -> int | None:
    """The record version an If-Match header asks for: None when absent or `*` (any
    version of the record, which the action finds or not).  A weak tag never matches
    (If-Match compares strongly), so it is refused with anything else."""
    if value is None or value.strip() == "*":
        return None
    found = _ETAG.fullmatch(value)
    if not found:
        raise BadInput('If-Match takes one ETag as this API sent it, e.g. "42", or *',
                       "if_match_form")
    return int(found.group(1))


IfMatch = Annotated[str | None, Header(
    alias="If-Match", description='The ETag the change is based on, e.g. "42": a record '
    "changed since gets 412 and nothing is written")]
IdemKey = Annotated[str | None, Header(
    alias="Idempotency-Key", description="Any unique string (a UUID): the same key from "
    "the same user within 24 h returns the first response and creates nothing twice")]


SIGNED_IN = "authenticated"  # x-permission of a route any valid token may use
PUBLIC = "public"  # x-permission of a route that needs no token


def needs(permission: str) -> dict[str, Any]:
    """openapi_extra of a route: the permission the service checks (SIGNED_IN: any valid
    token) and the roles that hold it."""
    if permission != SIGNED_IN and permission not in PERMISSIONS:
        raise KeyError(f"no permission rule for {permission!r}")
    roles = [r for r in ROLES if permission == SIGNED_IN or r in PERMISSIONS[permission]]
    return {"x-permission": permission, "x-roles": roles}
