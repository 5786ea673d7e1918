"""Users, roles and the permission check every service action goes through.

Passwords are hashed with Argon2id (argon2-cffi); sign-in attempts are rate-limited per
user name; sessions are tokens that expire.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from errors import BadInput, NotFound, PermissionDenied
from kb.store import KnowledgeBase, now_utc

ROLES = ("first_line", "engineer", "manager", "admin")
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
}

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


SYSTEM = User("system", "admin", "KnownFix")


def require(actor: User, action: str) -> None:
    """Raise PermissionDenied unless the actor's role allows `action`."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise KeyError(f"no permission rule for {action!r}")
    if actor.role not in allowed:
        raise PermissionDenied(f"{actor.username} ({actor.role}) may not {action}",
                               "forbidden", user=actor.username, role=actor.role,
                               action=action)


class Users:
    """The user table, sign-in with rate limiting, and expiring sessions."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        db = kb.db
        if not db["users"].exists():
            with kb.transaction():  # a write lock first: processes may start together
                if not db["users"].exists():
                    db["users"].create({"username": str, "display_name": str, "role": str,
                                        "password_hash": str, "lang": str, "team": str,
                                        "created_at": str, "active": int}, pk="username")
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._sessions: dict[str, tuple[str, float]] = {}

    def add(self, actor: User, username: str, password: str, role: str,
            display_name: str = "", lang: str = "zh", team: str = "") -> User:
        require(actor, "user.manage")
        if role not in ROLES:
            raise BadInput(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not username.strip() or len(password) < 8:
            raise BadInput("a user needs a name and a password of at least 8 characters")
        with self.kb.transaction():
            self.kb.db["users"].upsert({
                "username": username, "display_name": display_name or username, "role": role,
                "password_hash": _hasher.hash(password), "lang": lang, "team": team,
                "created_at": now_utc(), "active": 1}, pk="username")
            self.kb.log(actor.username, "user:add", f"user:{username}", {"role": role})
        return self.get(username)

    def get(self, username: str) -> User:
        row = self.kb.db.execute(
            "SELECT username, role, display_name, lang, team FROM users "
            "WHERE username = ? AND active = 1", [username]).fetchone()
        if row is None:
            raise NotFound(f"no user {username!r}", "no_user", username=username)
        return User(*row)

    def all(self) -> list[User]:
        return [User(*r) for r in self.kb.db.execute(
            "SELECT username, role, display_name, lang, team FROM users WHERE active = 1 "
            "ORDER BY username")]

    def set_lang(self, user: User, lang: str) -> User:
        self.kb.db.execute("UPDATE users SET lang = ? WHERE username = ?", [lang, user.username])
        return self.get(user.username)

    def sign_in(self, username: str, password: str, now: float | None = None) -> str:
        """Check the password; return a session token. MAX_FAILURES failures within
        LOCK_SECONDS lock the name for LOCK_SECONDS (the right password included)."""
        now = time.time() if now is None else now
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
        token = secrets.token_urlsafe(24)
        self._sessions[token] = (username, now + SESSION_SECONDS)
        self.kb.log(username, "signin", f"user:{username}")
        return token

    def session(self, token: str, now: float | None = None) -> User:
        """The user of a live session; expired or unknown tokens are refused."""
        now = time.time() if now is None else now
        entry = self._sessions.get(token)
        if entry is None or entry[1] < now:
            self._sessions.pop(token, None)
            raise PermissionDenied("the session has expired; please sign in again",
                                   "session_expired")
        return self.get(entry[0])

    def sign_out(self, token: str) -> None:
        self._sessions.pop(token, None)
