"""Administration for the edges that have no page of their own (the HTTP API): the
user list, changing or disabling a user, reading and changing the settings.

Everything here needs `user.manage` or `settings.manage` and writes an audit event,
like the Admin page.  A disabled user (users.active = 0) cannot sign in, and their API
tokens stop working; what they did stays theirs in the log.

TODO(issue 11, workflow branch): that branch adds `Users.update` / `Users.find` /
`Users.all(include_inactive=)` to service/auth.py with the same meaning (and a guard
for the last admin); once it is merged, `update_user` and `users` here should call it
and the SQL below goes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from errors import BadInput, NotFound
from service.auth import ROLES, User, Users, check_timezone, require
from service.engine import Engine
from settings import SETTINGS, Settings, SettingsError, load_settings, shown_value

LANGS = ("zh", "en")
FIXED = frozenset({"data_dir", "database_url"})  # settings the API never changes


@dataclass(frozen=True)
class Account:
    """A user as the administrator sees them: disabled ones too."""

    username: str
    role: str
    display_name: str
    lang: str
    team: str
    timezone: str  # "": the `timezone` setting's
    active: bool
    created_at: str | None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Administration:
    """Users and settings, for administrators."""

    def __init__(self, engine: Engine, users: Users) -> None:
        self.engine = engine
        self.kb = engine.kb
        self.users = users

    # -- users ----------------------------------------------------------------------------
    def accounts(self, actor: User, include_inactive: bool = False) -> list[Account]:
        """Every user by name (disabled ones only when asked)."""
        require(actor, "user.manage")
        where = "" if include_inactive else " WHERE active = 1"
        return [Account(r[0], r[1], r[2] or "", r[3] or "zh", r[4] or "", r[5] or "",
                        bool(r[6]), r[7])
                for r in self.kb.db.execute(
                    "SELECT username, role, display_name, lang, team, timezone, active, "
                    f"created_at FROM users{where} ORDER BY username")]

    def account(self, actor: User, username: str) -> Account:
        require(actor, "user.manage")
        for acc in self.accounts(actor, include_inactive=True):
            if acc.username == username:
                return acc
        raise NotFound(f"no user {username!r}", "no_user", username=username)

    def add_user(self, actor: User, username: str, password: str, role: str,
                 display_name: str = "", lang: str = "zh", team: str = "",
                 timezone: str = "") -> Account:
        """A new user; an existing name (active or disabled) is refused rather than
        replaced (Users.add on its own would overwrite it)."""
        require(actor, "user.manage")
        if lang not in LANGS:
            raise BadInput(f"unknown language {lang!r} (zh or en)")
        taken = self.kb.db.execute("SELECT 1 FROM users WHERE username = ?",
                                   [username]).fetchone()
        if taken:
            raise BadInput(f"user {username!r} exists: change it instead", "account_exists",
                           username=username)
        self.users.add(actor, username, password, role, display_name, lang, team, timezone)
        return self.account(actor, username)

    def update_user(self, actor: User, username: str, role: str | None = None,
                    display_name: str | None = None, team: str | None = None,
                    lang: str | None = None, active: bool | None = None,
                    timezone: str | None = None) -> Account:
        """Change what is given (None: unchanged) in one audit event ("user:update",
        each changed field's old and new value).  The last active admin stays one."""
        require(actor, "user.manage")
        wanted = {k: v for k, v in (("role", role), ("display_name", display_name),
                                    ("team", team), ("lang", lang), ("active", active),
                                    ("timezone", timezone))
                  if v is not None}
        if not wanted:
            raise BadInput("nothing to change: give a role, display name, team, language, "
                           "time zone or active", "account_nothing")
        if timezone is not None:
            wanted["timezone"] = check_timezone(timezone)
        if role is not None and role not in ROLES:
            raise BadInput(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if lang is not None and lang not in LANGS:
            raise BadInput(f"unknown language {lang!r} (zh or en)")
        with self.kb.transaction():
            before = self.account(actor, username)
            after = {**before.to_json(), **{k: v.strip() if isinstance(v, str) else v
                                           for k, v in wanted.items()}}
            after["display_name"] = after["display_name"] or username
            self._keep_an_admin(before, after)
            changed = {k: [getattr(before, k), after[k]] for k in wanted
                       if getattr(before, k) != after[k]}
            if changed:
                self.kb.db["users"].update(username, {
                    k: int(v[1]) if k == "active" else v[1] for k, v in changed.items()})
                self.kb.log(actor.username, "user:update", f"user:{username}",
                            {"changed": changed})
        return self.account(actor, username)

    def _keep_an_admin(self, before: Account, after: dict) -> None:
        if before.role != "admin" or not before.active:
            return
        if after["role"] == "admin" and after["active"]:
            return
        admins = self.kb.db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' "
                                    "AND active = 1").fetchone()[0]
        if admins <= 1:
            raise BadInput(f"{before.username} is the last active admin: make another user "
                           "admin first", "account_last_admin", username=before.username)

    # -- settings -------------------------------------------------------------------------
    def settings(self, actor: User) -> list[dict]:
        """Every setting: name, value in use, default, whether pinned (in settings.json
        or the environment) and help.  Values of secret settings are masked."""
        require(actor, "settings.manage")
        current = self.engine.settings
        return [{"name": s.name, "value": _shown(s.name, getattr(current, s.name)),
                 "default": _shown(s.name, s.default), "pinned": s.name in current.pinned,
                 "help": s.help} for s in SETTINGS]

    def settings_with(self, actor: User, changes: dict) -> Settings:
        """The settings as they would be with `changes` (name -> value, typed as the
        setting is) on top of the saved ones, checked as at start-up; for
        Desk.save_settings, which writes them with an audit event.  Saved values apply
        from the next start, as from the Admin page."""
        require(actor, "settings.manage")
        if not changes:
            raise BadInput("nothing to change: give one or more settings", "settings_nothing")
        known = {s.name for s in SETTINGS}
        bad = sorted(set(changes) - known)
        if bad:
            raise BadInput(f"unknown setting(s): {', '.join(bad)}", "settings_unknown",
                           names=", ".join(bad))
        fixed = sorted(set(changes) & FIXED)
        if fixed:
            raise BadInput(f"{', '.join(fixed)} cannot be changed here", "settings_fixed",
                           names=", ".join(fixed))
        try:
            current = self.engine.settings
            return load_settings(current.data_dir, database_url=current.database_url or None,
                                 **changes)
        except (SettingsError, TypeError, ValueError) as exc:  # a value of the wrong shape
            raise BadInput(str(exc), "settings_invalid", why=str(exc)) from None


def _shown(name: str, value: object) -> object:
    return shown_value(name, value)
