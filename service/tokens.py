"""Personal API tokens: a user's key to the HTTP API, acting with that user's role.

A token is `kf_` followed by 32 random bytes in URL-safe base64.  Only its SHA-256 is
stored (table `api_tokens`), so the token is shown once, when it is made, and a stolen
database gives no working token.  A token works while it is not revoked and its user
exists and is active: disabling a user (users.active = 0) stops every token of theirs at
once, with no second switch to forget.

Anyone may make and revoke their own tokens; making or revoking another user's needs
`user.manage` (administrators).  Every creation and revocation is an audit event; a
token's use is recorded as `last_used_at`, at most once a minute.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from errors import BadInput, BadToken, NotFound
from kb.store import KnowledgeBase, now_utc
from service.auth import User, Users, require

PREFIX = "kf_"
SECRET_BYTES = 32
TOKEN_CHARS = len(PREFIX) + 43  # 32 bytes in unpadded base64
SHOWN_CHARS = 8  # the start of a token kept to recognise it by: kf_ and 5 characters
USE_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
_COLUMNS = ("id, username, name, prefix, created_at, created_by, last_used_at, "
            "revoked_at, revoked_by")


@dataclass(frozen=True)
class TokenInfo:
    """What is kept about a token (never the token itself)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: str
    created_by: str
    last_used_at: str | None
    revoked_at: str | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict:
        return {"id": self.id, "username": self.username, "name": self.name,
                "prefix": self.prefix, "created_at": self.created_at,
                "created_by": self.created_by, "last_used_at": self.last_used_at,
                "revoked_at": self.revoked_at, "revoked_by": self.revoked_by,
                "active": self.active}


def digest(token: str) -> str:
    """The stored form of a token: the SHA-256 of its text, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh token: kf_ + 32 random bytes, URL-safe base64 without padding."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
    return PREFIX + raw.decode("ascii")


class Tokens:
    """Create, list, revoke and check personal API tokens."""

    def __init__(self, kb: KnowledgeBase, users: Users) -> None:
        self.kb = kb
        self.users = users

    def create(self, actor: User, username: str, name: str = "") -> tuple[TokenInfo, str]:
        """A new token for `username` (an active user); returns what is kept about it and
        the token itself, which is not stored and cannot be shown again."""
        _may_manage(actor, username)
        self.users.get(username)  # NotFound for an unknown or disabled user
        name = name.strip()[:100]
        token = new_secret()
        with self.kb.transaction():
            cur = self.kb.db.execute(
                "INSERT INTO api_tokens (username, name, token_hash, prefix, created_at, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?)",
                [username, name, digest(token), token[:SHOWN_CHARS], now_utc(),
                 actor.username])
            token_id = int(cur.lastrowid)
            self.kb.log(actor.username, "token:create", f"user:{username}",
                        {"token": token_id, "name": name})
        return self.get(token_id), token

    def get(self, token_id: int) -> TokenInfo:
        row = self.kb.db.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE id = ?",
                                 [token_id]).fetchone()
        if row is None:
            raise NotFound(f"no API token {token_id}", "no_token", id=token_id)
        return TokenInfo(*row)

    def list(self, actor: User, username: str | None = None,
             include_revoked: bool = False) -> list[TokenInfo]:
        """Tokens of one user (default: the actor), or of everyone (username "*", which
        needs user.manage), newest first."""
        username = username or actor.username
        _may_manage(actor, username)
        sql, args = f"SELECT {_COLUMNS} FROM api_tokens WHERE 1=1", []
        if username != "*":
            sql, args = sql + " AND username = ?", [username]
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        return [TokenInfo(*r) for r in self.kb.db.execute(sql + " ORDER BY id DESC", args)]

    def revoke(self, actor: User, token_id: int) -> TokenInfo:
        """Revoke a token (its owner, or an administrator); revoking twice is a no-op."""
        info = self.get(token_id)
        _may_manage(actor, info.username)
        if info.revoked_at:
            return info
        with self.kb.transaction():
            self.kb.db.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? "
                               "WHERE id = ? AND revoked_at IS NULL",
                               [now_utc(), actor.username, token_id])
            self.kb.log(actor.username, "token:revoke", f"user:{info.username}",
                        {"token": token_id})
        return self.get(token_id)

    def authenticate(self, token: str | None) -> User:
        """The user a token acts as; BadToken when it is missing, malformed, unknown or
        revoked, or its user no longer exists or is disabled."""
        if not token:
            raise BadToken("an API token is needed: Authorization: Bearer kf_…", "token_missing")
        if not token.startswith(PREFIX) or len(token) != TOKEN_CHARS:
            raise BadToken("this is not a KnownFix API token", "token_invalid")
        row = self.kb.db.execute(
            "SELECT id, username, revoked_at, last_used_at FROM api_tokens "
            "WHERE token_hash = ?", [digest(token)]).fetchone()
        if row is None or row[2] is not None:
            raise BadToken("unknown or revoked API token", "token_invalid")
        token_id, username, _revoked, last_used = row
        try:
            user = self.users.get(username)  # active users only
        except NotFound:
            raise BadToken(f"the user of this token ({username}) is disabled or removed",
                           "token_user_inactive", username=username) from None
        self._note_use(token_id, last_used)
        return user

    def _note_use(self, token_id: int, last_used: str | None) -> None:
        now = datetime.now(UTC)
        if last_used:
            seen = datetime.fromisoformat(last_used.replace("Z", "+00:00"))
            if now - seen < USE_EVERY:
                return
        with self.kb.transaction():
            self.kb.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                               [now_utc(), token_id])


def _may_manage(actor: User, username: str) -> None:
    """One's own tokens: anyone; another user's (or everyone's): user.manage."""
    if not username.strip():
        raise BadInput("say whose token: a user name")
    if username != actor.username:
        require(actor, "user.manage")
