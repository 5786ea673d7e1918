"""Health (no token needed) and the caller's own account."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import PUBLIC, SIGNED_IN, Caller, DeskDep, needs
from api.schemas import HealthOut, UserOut

router = APIRouter(tags=["system"])


@router.get("/health", response_model=HealthOut,
            openapi_extra={"x-permission": PUBLIC, "x-roles": []},
            summary="Is KnownFix serving? (no token needed)",
            responses={503: {"model": HealthOut, "description": "The database does not "
                             "answer"}})
def health(desk: DeskDep) -> JSONResponse:
    """ok, the model in use, records in the search index, whether the database answers."""
    found = HealthOut(**desk.status.health())
    return JSONResponse(found.model_dump(mode="json"), status_code=200 if found.ok else 503)


@router.get("/me", response_model=UserOut, openapi_extra=needs(SIGNED_IN),
            summary="The user the token acts as")
def me(user: Caller) -> UserOut:
    return UserOut(username=user.username, role=user.role, display_name=user.display_name,
                   lang=user.lang, team=user.team, timezone=user.timezone, active=True)
