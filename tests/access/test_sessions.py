"""Sessions that outlive a page refresh and a restart of the app (issue 12): a session is
a row holding the SHA-256 of its token; signing out, changing the password or disabling
the user ends it; the lock-out rules hold for the password change too."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from errors import BadInput, PermissionDenied
from kb.store import KnowledgeBase
from service import auth
from service.auth import MAX_FAILURES, SESSION_SECONDS, SYSTEM, Users

PASSWORD = "correct horse battery"
T0 = 1_900_000_000.0


@pytest.fixture
def kb(tmp_path, monkeypatch) -> Iterator[KnowledgeBase]:
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                        parallelism=1))
    base = KnowledgeBase(tmp_path / "kb.db", ["low", "medium", "high"])
    users = Users(base)
    users.add(SYSTEM, "li", PASSWORD, "first_line")
    users.add(SYSTEM, "wang", PASSWORD, "engineer")
    yield base
    base.close()


def test_a_session_survives_a_restart_and_only_its_digest_is_stored(kb, tmp_path):
    token = Users(kb).sign_in("li", PASSWORD, now=T0)
    stored = [r[0] for r in kb.db.execute("SELECT token_hash FROM sessions")]
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    again = KnowledgeBase(tmp_path / "kb.db", ["low", "medium", "high"])  # the app restarts
    try:
        assert Users(again).session(token, now=T0 + 60).username == "li"
        with pytest.raises(PermissionDenied, match="expired"):
            Users(again).session(token, now=T0 + SESSION_SECONDS + 1)
        assert again.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    finally:
        again.close()


def test_sign_out_ends_only_that_session(kb):
    users = Users(kb)
    phone, desk = users.sign_in("li", PASSWORD, now=T0), users.sign_in("li", PASSWORD, now=T0)
    users.sign_out(phone)
    with pytest.raises(PermissionDenied):
        users.session(phone, now=T0 + 1)
    assert users.session(desk, now=T0 + 1).username == "li"


def test_changing_the_password_ends_every_session_of_that_user(kb):
    users = Users(kb)
    mine, other = users.sign_in("li", PASSWORD, now=T0), users.sign_in("li", PASSWORD, now=T0)
    colleague = users.sign_in("wang", PASSWORD, now=T0)
    li = users.session(mine, now=T0)
    users.set_password(li, "li", "a new passphrase", current=PASSWORD, now=T0 + 1)
    for token in (mine, other):
        with pytest.raises(PermissionDenied):
            users.session(token, now=T0 + 2)
    assert users.session(colleague, now=T0 + 2).username == "wang"
    with pytest.raises(PermissionDenied):
        users.sign_in("li", PASSWORD, now=T0 + 3)
    assert users.session(users.sign_in("li", "a new passphrase", now=T0 + 4), now=T0 + 5)
    [event] = [e for e in kb.events(limit=1000) if e["action"] == "user:password"]
    assert event["actor"] == "li" and event["target"] == "user:li"


def test_a_password_change_needs_the_current_password_and_counts_towards_the_lock(kb):
    users = Users(kb)
    li = users.get("li")
    for i in range(MAX_FAILURES):
        with pytest.raises(PermissionDenied, match="wrong"):
            users.set_password(li, "li", "a new passphrase", current="guess", now=T0 + i)
    with pytest.raises(PermissionDenied, match="too many"):  # locked, right password or not
        users.set_password(li, "li", "a new passphrase", current=PASSWORD, now=T0 + 10)
    with pytest.raises(PermissionDenied, match="too many"):
        users.sign_in("li", PASSWORD, now=T0 + 10)


def test_only_an_admin_sets_someone_elses_password(kb):
    users = Users(kb)
    with pytest.raises(PermissionDenied):
        users.set_password(users.get("wang"), "li", "a new passphrase")
    with pytest.raises(BadInput):
        users.set_password(SYSTEM, "li", "short")
    token = users.sign_in("li", PASSWORD)
    users.set_password(SYSTEM, "li", "set by the admin")
    with pytest.raises(PermissionDenied):
        users.session(token)


def test_a_disabled_users_sessions_stop_working(kb):
    users = Users(kb)
    token = users.sign_in("wang", PASSWORD)
    users.update(SYSTEM, "wang", active=False)
    with pytest.raises(PermissionDenied):
        users.session(token)
