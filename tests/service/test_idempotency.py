"""Idempotency claims (service/idempotency.py) on their own: a running claim holds the
key, a stored answer is replayed, a different body is refused, a claim left by a dead
process is taken over after its lease, answers older than 24 h are forgotten, and an
error frees the key."""

from __future__ import annotations

import pytest

from errors import BadInput, KeyReused, RequestInProgress
from kb.store import KnowledgeBase
from service.idempotency import Claim, Idempotency, Stored


@pytest.fixture
def idem(tmp_path) -> Idempotency:
    return Idempotency(KnowledgeBase(tmp_path / "kb.db"))


def test_claim_store_and_replay(idem):
    claim = idem.begin("li", "k1", "body-a")
    assert isinstance(claim, Claim)
    with pytest.raises(RequestInProgress):
        idem.begin("li", "k1", "body-a", wait=0.1)
    assert isinstance(idem.begin("zhao", "k1", "body-a"), Claim)  # another user's key
    idem.finish(claim, 201, b'{"id": "KF-1"}', {"etag": '"7"'})
    again = idem.begin("li", "k1", "body-a")
    assert again == Stored(201, b'{"id": "KF-1"}', {"etag": '"7"'})
    with pytest.raises(KeyReused):
        idem.begin("li", "k1", "body-b")


def test_a_dead_claim_is_taken_over_and_old_answers_forgotten(idem):
    idem.begin("li", "k2", "x")
    db = idem.kb.db
    with idem.kb.transaction():
        db.execute("UPDATE api_idempotency SET lease_until = '2000-01-01T00:00:00.000000Z'")
    taken = idem.begin("li", "k2", "x", wait=0)
    assert isinstance(taken, Claim)
    idem.finish(taken, 201, b"{}", {})
    with idem.kb.transaction():
        db.execute("UPDATE api_idempotency SET created_at = '2000-01-01T00:00:00.000000Z'")
    assert isinstance(idem.begin("li", "k2", "other body"), Claim)  # expired: a new key


def test_an_error_frees_the_key_and_bad_keys_are_refused(idem):
    claim = idem.begin("li", "k3", "x")
    idem.release(claim)
    assert isinstance(idem.begin("li", "k3", "y"), Claim)
    for bad in ("", "with space", "键", "x" * 256):
        with pytest.raises(BadInput):
            idem.begin("li", bad, "x")
