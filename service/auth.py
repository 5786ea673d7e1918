"""Users, roles and the permission check every service action goes through.

Passwords are hashed with Argon2id (argon2-cffi); sign-in attempts are rate-limited per
user name; sessions are tokens that expire.  A session is a row of the `sessions` table
(the SHA-256 of its token, never the token), so it outlives a browser refresh and a
restart of the app, and signing out or changing the password revokes it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from errors import BadInput, NotFound, PermissionDenied
from kb.store import KnowledgeBase, now_utc
from zones import known_zone

ROLES = ("first_line", "engineer", "manager", "admin")
LANGS = ("zh", "en")
_ALL = frozenset(ROLES)
_STAFF = frozenset({"engineer", "manager"})

# action -> roles allowed to do it
PERMISSIONS: dict[str, frozenset[str]] = {
    "case.open": _ALL, "case.update": _ALL, "case.link": _ALL, "case.escalate": _ALL,
    "case.resolve": _ALL, "case.confirm": _ALL, "case.close": _ALL, "case.reopen": _ALL,
    "case.follow_up": _ALL, "case.delay": _ALL, "case.view": _ALL,
    "case.dispatch": frozenset({"engineer", "manager", "admin"}),
    "case.service_record": frozenset({"engineer", "manager", "admin"}),
    "article.draft": _ALL, "article.view": _ALL,
    "article.submit": _ALL,
    "article.validate": _STAFF, "article.archive": _STAFF, "article.merge": _STAFF,
    "report.view": frozenset({"manager", "admin"}),
    "kb.import": frozenset({"manager", "admin"}), "kb.export": frozenset({"manager", "admin"}),
    "index.rebuild": frozenset({"admin"}), "settings.manage": frozenset({"admin"}),
    "user.manage": frozenset({"admin"}), "backup": frozenset({"admin"}),
    # notifications (issue 11): one's own preferences; others' and the outbox
    "notify.prefs": _ALL, "notify.manage": frozenset({"admin"}),
    # customer and asset records (issue 13): agents look up, add and edit them; managers
    # and admins merge duplicates (importing a file is kb.import, as for cases)
    "customer.view": _ALL, "customer.edit": _ALL,
    "customer.merge": frozenset({"manager", "admin"}),
    # scheduled maintenance (issue 13, service/maintenance.py): managers plan
    "plan.view": _ALL, "plan.manage": frozenset({"manager", "admin"}),
}

# Work handed to someone makes them the case's assignee, so it goes only to an active user
# whose role can do that work: a dispatch (on-site visit) to someone who may write the
# on-site service record, an escalation to second line, who may send someone on site.
# Both are engineers, managers and admins; first-line agents hand work on, not take it.
# A maintenance plan's cases (定期维护) are on-site work too.
WORK_NEEDS: dict[str, str] = {"dispatch": "case.service_record", "escalate": "case.dispatch",
                              "maintenance": "case.service_record"}
# A sign-in name: no spaces (so never a display name such as "王工 (工程师)"), and starting
# with a letter, digit or _ (never with = + - @, which spreadsheets read as a formula).
USERNAME = re.compile(r"\w[\w.@+-]{0,63}")
# names users cannot take: the built-in administrator the command line acts as, and the
# customer acting through the portal (CUSTOMER), whom events name as their actor
RESERVED = frozenset({"system", "customer"})
_COLUMNS = "username, role, display_name, lang, team, timezone, active"

MAX_FAILURES = 5
LOCK_SECONDS = 300
SESSION_SECONDS = 8 * 3600
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    username: str
    role: str
    display_name: str = ""
    lang: str = "zh"
    team: str = ""
    timezone: str = ""  # the user's own time zone (an IANA name); "": the setting's
    active: bool = True

    @classmethod
    def from_row(cls, row: tuple) -> User:
        """A User from a row of `SELECT {_COLUMNS}`."""
        *head, zone, active = row
        return cls(*head, timezone=zone or "", active=bool(active))


SYSTEM = User("system", "admin", "KnownFix")
# The customer acting through the portal (portal/): opens a web request, confirms and
# rates by link.  Not a user of the users table; pages name it from the catalogue.
CUSTOMER = User("customer", "first_line", "customer")

# The app's pages and the permission each needs: the one place that decides who sees a
# page (the router lists a user's pages from it, and each page checks it again).
PAGE_NEEDS: dict[str, str] = {
    "intake": "case.open", "queue": "case.view", "case": "case.view",
    "customers": "customer.view",
    "search": "article.view", "knowledge": "article.validate", "coverage": "report.view",
    "reports": "report.view", "plans": "plan.manage", "admin": "settings.manage"}


def can(actor: User, action: str) -> bool:
    """Whether the actor's role allows `action` (a PERMISSIONS key)."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise KeyError(f"no permission rule for {action!r}")
    return actor.role in allowed


def pages_for(actor: User) -> list[str]:
    """The app pages this user may open, in the menu's order."""
    return [page for page, need in PAGE_NEEDS.items() if can(actor, need)]


def require(actor: User, action: str) -> None:
    """Raise PermissionDenied unless the actor's role allows `action`."""
    if not can(actor, action):
        raise PermissionDenied(f"{actor.username} ({actor.role}) may not {action}",
                               "forbidden", user=actor.username, role=actor.role,
                               action=action)


class Users:
    """The user table, sign-in with rate limiting, and expiring sessions."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        db = kb.db
        columns = {"username": str, "display_name": str, "role": str, "password_hash": str,
                   "lang": str, "team": str, "timezone": str, "created_at": str,
                   "active": int}
        if not db["users"].exists():
            with kb.transaction():  # a write lock first: processes may start together
                if not db["users"].exists():
                    db["users"].create(columns, pk="username")
        if not set(db["users"].columns_dict) >= set(columns):
            with kb.transaction():  # a database from an older version gains the new columns
                have = set(db["users"].columns_dict)
                for col, kind in columns.items():
                    if col not in have:
                        db["users"].add_column(col, kind)
        if not db["sessions"].exists():
            with kb.transaction():
                if not db["sessions"].exists():
                    db["sessions"].create({"token_hash": str, "username": str,
                                           "created_at": float, "expires_at": float},
                                          pk="token_hash")
                    db["sessions"].create_index(["username"])
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def add(self, actor: User, username: str, password: str, role: str,
            display_name: str = "", lang: str = "zh", team: str = "",
            timezone: str = "") -> User:
        """Create a user. An existing name (active or disabled) is refused: `update`
        changes a user, and nobody is replaced by accident.  `timezone`: the user's own
        zone (an IANA name), "" for the `timezone` setting."""
        require(actor, "user.manage")
        _check_role(role)
        _check_lang(lang)
        timezone = check_timezone(timezone)
        _check_username(username)
        if len(password) < 8:
            raise BadInput("a user needs a password of at least 8 characters",
                           "password_short", chars=8)
        taken = self._row(username, only_active=False)
        if taken is not None:
            raise _exists(taken)
        row = {"username": username, "display_name": display_name.strip() or username,
               "role": role, "password_hash": _hasher.hash(password), "lang": lang,
               "team": team.strip(), "timezone": timezone, "created_at": now_utc(),
               "active": 1}
        try:
            with self.kb.transaction():
                self.kb.db["users"].insert(row)
                self.kb.log(actor.username, "user:add", f"user:{username}", {"role": role})
        except sqlite3.IntegrityError:  # added by another process a moment ago
            raise _exists(self.find(username)) from None
        return self.get(username)

    def update(self, actor: User, username: str, role: str | None = None,
               display_name: str | None = None, team: str | None = None,
               lang: str | None = None, active: bool | None = None,
               timezone: str | None = None) -> User:
        """Change a user's role, display name, team, language, time zone ("" for the
        setting's) or whether they are active; returns the user as changed.  The change
        is one audit event ("user:update", each changed field's old and new value).  A
        disabled user cannot sign in, act or be given work, and keeps everything they
        did; the last active admin stays one."""
        require(actor, "user.manage")
        wanted = {k: v for k, v in (("role", role), ("display_name", display_name),
                                    ("team", team), ("lang", lang), ("active", active),
                                    ("timezone", timezone))
                  if v is not None}
        if not wanted:
            raise BadInput("nothing to change: give a role, display name, team, language, "
                           "time zone, or active / inactive", "user_nothing")
        if role is not None:
            _check_role(role)
        if lang is not None:
            _check_lang(lang)
        if timezone is not None:
            wanted["timezone"] = check_timezone(timezone)
        wanted = {k: v.strip() if isinstance(v, str) else v for k, v in wanted.items()}
        with self.kb.transaction():
            before = self.find(username)
            after = replace(before, **wanted)
            if not after.display_name:
                after = replace(after, display_name=username)
            self._keep_an_admin(before, after)
            changed = {k: [getattr(before, k), getattr(after, k)] for k in wanted
                       if getattr(before, k) != getattr(after, k)}
            if changed:
                self.kb.db["users"].update(username, {k: int(v[1]) if k == "active" else v[1]
                                                      for k, v in changed.items()})
                self.kb.log(actor.username, "user:update", f"user:{username}",
                            {"changed": changed})
        return after

    def _keep_an_admin(self, before: User, after: User) -> None:
        """Refuse to disable or demote the last active admin: nobody could manage users
        in the app any more."""
        if before.role != "admin" or not before.active:
            return
        if after.role == "admin" and after.active:
            return
        admins = self.kb.db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' "
                                    "AND active = 1").fetchone()[0]
        if admins <= 1:
            raise BadInput(f"{before.username} is the last active admin: make another user "
                           "admin first", "last_admin", username=before.username)

    def get(self, username: str) -> User:
        """An active user; NotFound for an unknown or disabled one."""
        user = self._row(username, only_active=True)
        if user is None:
            raise NotFound(f"no user {username!r}", "no_user", username=username)
        return user

    def find(self, username: str) -> User:
        """A user, active or disabled (for changing them); NotFound if there is none."""
        user = self._row(username, only_active=False)
        if user is None:
            raise NotFound(f"no user {username!r}", "no_user", username=username)
        return user

    def _row(self, username: str, only_active: bool) -> User | None:
        row = self.kb.db.execute(
            f"SELECT {_COLUMNS} FROM users WHERE username = ?"
            + (" AND active = 1" if only_active else ""), [username]).fetchone()
        return User.from_row(row) if row else None

    def all(self, include_inactive: bool = False) -> list[User]:
        """Active users by name (and disabled ones too when asked)."""
        where = "" if include_inactive else " WHERE active = 1"
        return [User.from_row(r) for r in self.kb.db.execute(
            f"SELECT {_COLUMNS} FROM users{where} ORDER BY username")]

    def assignee(self, username: str, work: str) -> User:
        """The user named to take `work` ("escalate" or "dispatch", see WORK_NEEDS): an
        existing, active user whose role can do it.  A display name, an unknown or a
        disabled user, or one whose role cannot take the work is refused (BadInput)."""
        name = (username or "").strip()
        if not name:
            raise BadInput("say who takes the case: a user name", "assignee_missing")
        user = self._row(name, only_active=False)
        if user is None:
            raise self._unknown_assignee(name, work)
        if not user.active:
            raise BadInput(f"user {name!r} is disabled and cannot be given work",
                           "assignee_inactive", username=name)
        if user.role not in PERMISSIONS[WORK_NEEDS[work]]:
            raise BadInput(f"{name} ({user.role}) cannot take this work ({work}): give it to "
                           f"a user who is {_either(taking_roles(work))}", "assignee_role",
                           username=name, role=user.role)
        return user

    def candidates(self, work: str) -> list[User]:
        """The active users who may be given `work` ("escalate" or "dispatch"): whom
        `assignee` accepts, by name (for a picker)."""
        able = taking_roles(work)
        return [u for u in self.all() if u.role in able]

    def _unknown_assignee(self, name: str, work: str) -> BadInput:
        """The error for a name that is no user: a display name is pointed to its user
        name; otherwise the users who could take the work are listed (a few)."""
        folded = name.casefold()
        for user in self.all():
            if user.display_name.casefold() == folded:
                return BadInput(f"{name!r} is the display name of {user.username!r}: give "
                                "the user name", "assignee_display_name", name=name,
                                username=user.username)
        names = [u.username for u in self.candidates(work)][:6]
        return BadInput(f"no user {name!r} (users who can take it: "
                        f"{', '.join(names) or 'none yet'})", "assignee_unknown",
                        username=name, candidates=", ".join(names) or "—")

    def set_lang(self, user: User, lang: str) -> User:
        """The user's own choice of interface language (no admin needed, no event)."""
        _check_lang(lang)
        self.kb.db.execute("UPDATE users SET lang = ? WHERE username = ?", [lang, user.username])
        return self.get(user.username)

    def set_timezone(self, user: User, timezone: str) -> User:
        """The user's own time zone (an IANA name; "" for the `timezone` setting), like
        set_lang: their own choice, no admin needed, no event."""
        zone = check_timezone(timezone)
        self.kb.db.execute("UPDATE users SET timezone = ? WHERE username = ?",
                           [zone, user.username])
        return self.get(user.username)

    def sign_in(self, username: str, password: str, now: float | None = None) -> str:
        """Check the password; return a session token. MAX_FAILURES failures within
        LOCK_SECONDS lock the name for LOCK_SECONDS (the right password included)."""
        now = time.time() if now is None else now
        self._verify(username, password, now)
        token = secrets.token_urlsafe(32)
        with self.kb.transaction():
            self.kb.db.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
            self.kb.db.execute("INSERT INTO sessions (token_hash, username, created_at, "
                               "expires_at) VALUES (?, ?, ?, ?)",
                               [_digest(token), username, now, now + SESSION_SECONDS])
            self.kb.log(username, "signin", f"user:{username}")
        return token

    def _verify(self, username: str, password: str, now: float) -> None:
        """PermissionDenied unless `password` is the active user's and the name is not
        locked; a wrong one counts towards the lock (sign-in and password change)."""
        if now < self._locked_until.get(username, 0.0):
            raise PermissionDenied("too many failed sign-ins; try again in a few minutes",
                                   "signin_locked")
        recent = [t for t in self._failures.get(username, []) if now - t < LOCK_SECONDS]
        self._failures[username] = recent
        row = self.kb.db.execute("SELECT password_hash FROM users WHERE username = ? "
                                 "AND active = 1", [username]).fetchone()
        try:
            if row is None:
                raise VerificationError
            _hasher.verify(row[0], password)
        except (VerificationError, InvalidHashError):
            recent.append(now)
            if len(recent) >= MAX_FAILURES:  # locked from now on, however spread out
                self._locked_until[username] = now + LOCK_SECONDS
                recent.clear()
            self.kb.log(username, "signin:failed", f"user:{username}")
            raise PermissionDenied("wrong user name or password", "signin_wrong") from None
        self._failures.pop(username, None)
        self._locked_until.pop(username, None)

    def session(self, token: str, now: float | None = None) -> User:
        """The user of a live session; expired, revoked or unknown tokens are refused
        (and so is the session of a user disabled meanwhile)."""
        now = time.time() if now is None else now
        row = self.kb.db.execute("SELECT username, expires_at FROM sessions WHERE "
                                 "token_hash = ?", [_digest(token)]).fetchone()
        if row is None or row[1] < now:
            if row is not None:
                self.sign_out(token)
            raise PermissionDenied("the session has expired; please sign in again",
                                   "session_expired")
        user = self._row(row[0], only_active=True)
        if user is None:
            raise PermissionDenied("the session has expired; please sign in again",
                                   "session_expired")
        return user

    def sign_out(self, token: str) -> None:
        """Revoke this session (an unknown token is a no-op)."""
        self.kb.db.execute("DELETE FROM sessions WHERE token_hash = ?", [_digest(token)])

    def set_password(self, actor: User, username: str, password: str,
                     current: str | None = None, now: float | None = None) -> None:
        """A new password for `username`: the user themselves, who gives the current one
        (checked and locked out as at sign-in), or an administrator.  Every session of
        the user is revoked: they sign in again."""
        if actor.username != username:
            require(actor, "user.manage")
        else:
            self._verify(username, current or "", time.time() if now is None else now)
        if len(password) < 8:
            raise BadInput("a user needs a password of at least 8 characters",
                           "password_short", chars=8)
        self.find(username)  # NotFound for an unknown user
        with self.kb.transaction():
            self.kb.db.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                               [_hasher.hash(password), username])
            ended = self.kb.db.execute("DELETE FROM sessions WHERE username = ?",
                                       [username]).rowcount
            self.kb.log(actor.username, "user:password", f"user:{username}",
                        {"sessions_ended": ended})


def _digest(token: str) -> str:
    """A session token as stored: the SHA-256 of its text (a stolen database holds no
    live session)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def taking_roles(work: str) -> list[str]:
    """The roles that may be given `work` ("escalate" or "dispatch"), in ROLES order."""
    return [r for r in ROLES if r in PERMISSIONS[WORK_NEEDS[work]]]


def _either(names: list[str]) -> str:
    """'a, b or c'."""
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r} (roles: {', '.join(ROLES)})", "unknown_role",
                       role=role, roles=", ".join(ROLES))


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise BadInput(f"unknown language {lang!r} ({' or '.join(LANGS)})", "unknown_lang",
                       lang=lang)


def check_timezone(name: str) -> str:
    """A user's time zone as stored: a known IANA name, or "" (the `timezone` setting);
    BadInput for any other name."""
    zone = (name or "").strip()
    if zone and known_zone(zone) is None:
        raise BadInput(f"unknown time zone {name[:60]!r}: give an IANA name such as "
                       "Asia/Shanghai, or nothing for the configured zone", "unknown_timezone",
                       zone=name[:60])
    return zone


def _check_username(username: str) -> None:
    """A sign-in name (USERNAME): 1-64 letters, digits and . _ @ + -, the first a letter,
    digit or _; no spaces; not reserved."""
    if not USERNAME.fullmatch(username):
        raise BadInput(f"bad user name {username[:80]!r}: use 1 to 64 letters, digits and "
                       ". _ @ + -, starting with a letter or digit (no spaces)", "username_form")
    if username in RESERVED:
        raise BadInput(f"{username!r} is reserved (the built-in administrator, the portal's "
                       "customer)", "username_reserved",
                       username=username)


def _exists(user: User) -> BadInput:
    state = "" if user.active else ", disabled"
    return BadInput(f"user {user.username!r} exists ({user.role}{state}): change it with "
                    f"`knownfix user update {user.username}`", "user_exists",
                    username=user.username)
