"""The outbox with several app servers on one PostgreSQL (issue 14): each server's sender
claims rows with FOR UPDATE SKIP LOCKED, so two servers never send one notification
twice and a claim never waits for rows another server holds.  (Two senders on one
SQLite file: tests/service/test_notify_delivery.py.)"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine
from service.notify.outbox import Outbox
from settings import load_settings
from tests.service.notify_servers import Receiver
from tests.service.test_notify_rules import BASE, make_desk

N = 300


def _server(data_dir: Path, url: str) -> Desk:
    """A second app server: its own data folder (index) and connections, the same
    database."""
    return Desk(Engine(load_settings(str(data_dir), model="hash:256", vector_backend="numpy",
                                     base_url=BASE, timezone="UTC", database_url=url)))


@pytest.fixture
def servers(tmp_path: Path, pg_cluster) -> Iterator[tuple[Desk, Desk]]:
    url = pg_cluster.new_database()
    a = make_desk(tmp_path / "a", database_url=url)
    b = _server(tmp_path / "b", url)
    yield a, b
    b.close()
    a.close()


def _due(desk: Desk, url: str, n: int) -> None:
    """`n` import events for the manager, each with its webhook notification."""
    desk.notify.set_prefs(SYSTEM, "mgr", webhook=url)
    kb = desk.engine.kb
    with kb.transaction():
        for i in range(n):
            kb.log("mgr", "import", f"file:batch-{i}.csv", {"taken": i, "rejected": 0})


def test_two_servers_drain_one_outbox_and_send_each_notification_once(servers, receiver):
    a, b = servers
    _due(a, receiver.url(), N)
    receiver.delay = 0.002
    senders = [a.notify.sender(name="server-a", scans=False),
               b.notify.sender(name="server-b", scans=False)]
    start, sent = threading.Barrier(2), Counter()

    def drain(sender) -> None:
        start.wait()
        while (report := sender.run_once()).sent:  # until a pass finds nothing to send
            sent[sender.name] += report.sent

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids = Counter(r.event_id for r in receiver.received)
    assert len(ids) == N and max(ids.values()) == 1  # every notification once, none twice
    assert sum(sent.values()) == N
    assert sent["server-a"] > 0 and sent["server-b"] > 0, sent  # both servers sent
    assert a.notify.counts(SYSTEM) == b.notify.counts(SYSTEM) == \
        {"pending": 0, "sent": N, "dead": 0}


def test_a_claim_passes_over_rows_another_server_holds_without_waiting(servers):
    a, b = servers
    unreachable = Receiver()
    unreachable.close()  # nothing is delivered here: only claims are looked at
    _due(a, unreachable.url(), 10)
    kb_a = a.engine.kb
    held, release, taken = threading.Event(), threading.Event(), []

    def hold() -> None:  # server A claims 4 rows and keeps its transaction open
        with kb_a.transaction(serial=False):
            taken.extend(r.id for r in Outbox(kb_a).claim("server-a", 4, lease=60))
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        mine = [r.id for r in Outbox(b.engine.kb).claim("server-b", 10, lease=60)]
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert len(taken) == 4 and len(mine) == 6
    assert not set(taken) & set(mine)  # the rows A holds, uncommitted, are passed over
    assert waited < 5  # no wait for A's transaction (a lock wait lasts up to 30 s)
    assert Outbox(b.engine.kb).claim("server-b", 10, lease=60) == []  # A's are leased now
