"""Time zones in the service layer (issue 12): each user's own zone is stored (set by
themselves or an administrator; a database from before gains the column), and times
given without a zone — intake, dispatch, case filters, report periods — are read on the
clock of the `timezone` setting and stored in UTC."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

import service.auth
from errors import BadInput, PermissionDenied
from service.auth import SYSTEM, Users
from service.desk import Desk
from service.queries import CaseFilter
from settings import load_settings
from tests.helpers import small_kb_records

PASSWORD = "password-123"
FAULT = "NVR提示硬盘错误，录像回放查不到"


def _open(folder, **settings) -> Desk:
    d = Desk.open(load_settings(str(folder), model="hash:256", vector_backend="numpy",
                                auto_tune=False, **settings))
    if not d.engine.kb.counts().get("case"):
        d.engine.upsert(small_kb_records())
    return d


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service.auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                                parallelism=1))


@pytest.fixture
def shanghai(tmp_path) -> Iterator[Desk]:
    """A desk whose team works on Beijing time."""
    d = _open(tmp_path / "data", timezone="Asia/Shanghai")
    yield d
    d.close()


def test_a_users_own_zone_is_stored_and_changed(shanghai):
    users = shanghai.users
    alice = users.add(SYSTEM, "alice", PASSWORD, "first_line", timezone="Europe/Berlin")
    assert alice.timezone == "Europe/Berlin"
    bob = users.add(SYSTEM, "bob", PASSWORD, "engineer")
    assert bob.timezone == ""  # the setting's
    # her own choice: no admin needed, and "" goes back to the setting's
    assert users.set_timezone(alice, "Asia/Tokyo").timezone == "Asia/Tokyo"
    assert users.get("alice").timezone == "Asia/Tokyo"
    assert users.set_timezone(alice, "").timezone == ""
    # an administrator sets it for someone, as one audit event
    assert users.update(SYSTEM, "bob", timezone="America/New_York").timezone \
        == "America/New_York"
    event = shanghai.engine.kb.events("user:bob")[-1]
    assert event["action"] == "user:update" and "America/New_York" in event["detail"]
    with pytest.raises(PermissionDenied):
        users.update(alice, "bob", timezone="UTC")
    # the administration edge (HTTP API) sees and sets the same field
    assert shanghai.admin.account(SYSTEM, "bob").timezone == "America/New_York"
    assert shanghai.admin.update_user(SYSTEM, "bob", timezone="").timezone == ""


@pytest.mark.parametrize("bad", ["Mars/Olympus", "UTC+8", "../etc/passwd", "北京"])
def test_an_unknown_zone_is_refused_for_a_user(shanghai, bad):
    users = shanghai.users
    alice = users.add(SYSTEM, "alice", PASSWORD, "first_line")
    for attempt in (lambda: users.set_timezone(alice, bad),
                    lambda: users.update(SYSTEM, "alice", timezone=bad),
                    lambda: users.add(SYSTEM, "carol", PASSWORD, "engineer", timezone=bad)):
        with pytest.raises(BadInput) as refused:
            attempt()
        assert refused.value.key == "unknown_timezone"
    assert users.get("alice").timezone == ""
    assert [u.username for u in users.all()] == ["alice"]


def test_a_database_from_before_gains_the_column(tmp_path):
    """A users table made before time zones (no `timezone` column) gets it on opening;
    its users keep everything and use the setting's zone."""
    folder = tmp_path / "data"
    d = _open(folder)
    d.users.add(SYSTEM, "old", PASSWORD, "engineer", "老王", team="east")
    d.close()
    db = sqlite3.connect(folder / "knownfix.db")
    db.execute("ALTER TABLE users DROP COLUMN timezone")
    db.commit()
    db.close()
    d = _open(folder)
    try:
        old = d.users.get("old")
        assert (old.display_name, old.team, old.timezone) == ("老王", "east", "")
        assert d.users.set_timezone(old, "Asia/Hong_Kong").timezone == "Asia/Hong_Kong"
        Users(d.engine.kb)  # opening again changes nothing
        assert d.users.get("old").timezone == "Asia/Hong_Kong"
    finally:
        d.close()


def test_intake_times_without_zone_are_on_the_teams_clock(shanghai):
    case = shanghai.cases.open(SYSTEM, FAULT, received_at="2026-11-30 09:00",
                               last_service_at="2026-05-01")
    assert case.fields["received_at"] == "2026-11-30T01:00:00Z"
    assert case.fields["last_service_at"] == "2026-04-30T16:00:00Z"
    zoned = shanghai.cases.open(SYSTEM, FAULT, received_at="2026-11-30T09:00:00Z")
    assert zoned.fields["received_at"] == "2026-11-30T09:00:00Z"  # said its zone: kept
    moved = shanghai.cases.update(SYSTEM, case.id, received_at="2026-11-30 10:30")
    assert moved.fields["received_at"] == "2026-11-30T02:30:00Z"
    with pytest.raises(BadInput) as refused:
        shanghai.cases.open(SYSTEM, FAULT, received_at="yesterday morning")
    assert refused.value.key == "bad_time"


def test_dispatch_stores_the_planned_time_in_utc(shanghai):
    eng = shanghai.users.add(SYSTEM, "eng", PASSWORD, "engineer")
    case = shanghai.cases.open(SYSTEM, FAULT)
    done = shanghai.cases.dispatch(SYSTEM, case.id, eng.username, "2026-12-03 14:30",
                                   "3号仓库")
    assert done.fields["dispatch"]["planned_at"] == "2026-12-03T06:30:00Z"
    with pytest.raises(BadInput) as refused:
        shanghai.cases.dispatch(SYSTEM, case.id, eng.username, "", "3号仓库")
    assert refused.value.key == "dispatch_when"


def test_case_filters_and_report_periods_read_days_on_the_teams_clock(shanghai):
    # 07:30 in Shanghai on 1 December is still 30 November in UTC
    early = shanghai.cases.open(SYSTEM, FAULT, received_at="2026-12-01 07:30")
    assert early.fields["received_at"] == "2026-11-30T23:30:00Z"
    assert early.id == "KF-20261201-1"  # numbered by the team's day
    found = shanghai.queries.case_page(SYSTEM, CaseFilter(received_from="2026-12-01",
                                                          received_to="2026-12-02"))
    assert [c.id for c in found.items] == [early.id]
    report = shanghai.reports.summary(SYSTEM, "2026-12-01", "2026-12-02")
    assert report["period"]["start"] == "2026-11-30T16:00:00Z"
    assert report["period"]["cases"] == 1
    assert shanghai.reports.summary(SYSTEM, "2026-11-30", "2026-12-01")["period"]["cases"] == 0
