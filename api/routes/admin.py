"""Administration: users (list, add, change or disable) and settings (read, change).
Administrators only: the service checks user.manage and settings.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from api.deps import Caller, DeskDep, needs
from api.schemas import (
    SettingOut,
    SettingsChange,
    SettingsOut,
    SettingsSaved,
    Short,
    UserChange,
    UserIn,
    UserOut,
)

router = APIRouter(tags=["administration"])
Username = Annotated[Short, Path(description="A user name")]


@router.get("/users", response_model=list[UserOut], openapi_extra=needs("user.manage"),
            summary="Users by name")
def list_users(user: Caller, desk: DeskDep,
               include_inactive: Annotated[bool, Query(
                   description="Disabled users too")] = False) -> list[UserOut]:
    return [UserOut(**a.to_json()) for a in desk.admin.accounts(user, include_inactive)]


@router.post("/users", status_code=201, response_model=UserOut,
             openapi_extra=needs("user.manage"), summary="Add a user")
def add_user(body: UserIn, user: Caller, desk: DeskDep) -> UserOut:
    acc = desk.admin.add_user(user, body.username, body.password, body.role,
                              body.display_name, body.lang, body.team, body.timezone)
    return UserOut(**acc.to_json())


@router.patch("/users/{username}", response_model=UserOut, openapi_extra=needs("user.manage"),
              summary="Change a user's role, name, team, language or time zone, or "
                      "disable them")
def update_user(username: Username, body: UserChange, user: Caller,
                desk: DeskDep) -> UserOut:
    acc = desk.admin.update_user(user, username, body.role, body.display_name, body.team,
                                 body.lang, body.active, body.timezone)
    return UserOut(**acc.to_json())


@router.get("/settings", response_model=SettingsOut, openapi_extra=needs("settings.manage"),
            summary="Every setting: value in use, default, pinned, help")
def read_settings(user: Caller, desk: DeskDep) -> SettingsOut:
    return SettingsOut(settings=[SettingOut(**s) for s in desk.admin.settings(user)])


@router.patch("/settings", response_model=SettingsSaved,
              openapi_extra=needs("settings.manage"),
              summary="Change settings (saved to settings.json, or on PostgreSQL in the "
                      "database for every server; applied at the next start)")
def change_settings(changes: Annotated[SettingsChange, Body(
                        examples=[{"top_k": 8, "escalate_at_severity": "high"}])],
                    user: Caller, desk: DeskDep) -> SettingsSaved:
    path = desk.save_settings(user, desk.admin.settings_with(user, changes))
    return SettingsSaved(changed=sorted(changes), path=str(path),
                         note="saved; the running server keeps its settings until it "
                              "is started again")
