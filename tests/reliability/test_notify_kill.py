"""Notifications survive SIGKILL (issue 11): 1,000 notifications are due, `knownfix notify
run` delivers them to a webhook receiver on loopback and is killed with SIGKILL part of
the way through; started again, it delivers the rest.

The receiver must end up with every one of the 1,000 event ids; a notification that
arrived twice (sent, then killed before it was marked sent) must carry the same event id
both times — so a receiver dedupes it — and the same content; and the outbox must end
with all 1,000 rows sent, none pending or dead.  It runs on both stores.  The numbers
are printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from service.auth import SYSTEM
from service.desk import Desk
from service.engine import Engine
from settings import load_settings
from tests.reliability.checks import reading
from tests.reliability.conftest import PYTHON, ROOT, child_env
from tests.service.notify_servers import Receiver

N = 1000
KILL_AFTER = 300  # distinct deliveries seen before the kill
SETTINGS = {"model": "hash:256", "vector_backend": "numpy", "notify_lease": 3.0,
            "notify_timeout": 1.0, "notify_backoff": 0.5, "notify_backoff_max": 2.0,
            "notify_interval": 0.2}
BUDGET = 55.0  # seconds for the whole test


def seed(data_dir: Path, database_url: str, url: str) -> set[str]:
    """A knowledge base (in `data_dir`, or at `database_url`) with N import events for
    user kt, whose webhook is `url`: N outbox rows, written by the event hook.  Returns
    their event ids."""
    desk = Desk(Engine(load_settings(str(data_dir), database_url=database_url or None,
                                     **SETTINGS), background=False))
    try:
        desk.users.add(SYSTEM, "kt", "password-123", "manager", lang="en")
        desk.notify.set_prefs(SYSTEM, "kt", webhook=url, events="import")
        kb = desk.engine.kb
        with kb.transaction():
            ids = {kb.log("kt", "import", f"file:part-{n:04d}.csv", {"taken": n, "rejected": 0})
                   for n in range(N)}
        assert desk.notify.counts(SYSTEM) == {"pending": N, "sent": 0, "dead": 0}
        return {f"e{i}/kt/webhook" for i in ids}
    finally:
        desk.close()


def start_sender(data_dir: Path, database_url: str, log: Path) -> subprocess.Popen:
    env = child_env()
    env.update({f"KNOWNFIX_{k.upper()}": str(v) for k, v in SETTINGS.items()})
    env["KNOWNFIX_DATABASE_URL"] = database_url
    return subprocess.Popen([PYTHON, "-m", "cli.main", "notify", "run", "--data-dir",
                             str(data_dir)], cwd=ROOT, env=env, stdout=log.open("a"),
                            stderr=subprocess.STDOUT)


def wait_for(check, until: float, step: float = 0.05) -> bool:
    while time.monotonic() < until:
        if check():
            return True
        time.sleep(step)
    return False


def outbox_counts(location: str) -> dict[str, int]:
    with reading(location) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))


@pytest.mark.reliability
def test_a_sigkilled_sender_loses_nothing_and_repeats_only_with_the_same_event_id(
        tmp_path: Path, store: str, report) -> None:
    start = time.monotonic()
    deadline = start + BUDGET
    receiver = Receiver(delay=0.004)  # about 4 ms a delivery: the kill lands mid-way
    data_dir, log = tmp_path / "data", tmp_path / "sender.log"
    where = store or str(data_dir / "knownfix.db")
    try:
        expected = seed(data_dir, store, receiver.url())

        def distinct() -> int:
            return len({r.event_id for r in list(receiver.received)})

        first = start_sender(data_dir, store, log)
        try:
            assert wait_for(lambda: distinct() >= KILL_AFTER, deadline), \
                f"the sender delivered {distinct()} in time; log: {log.read_text()[-2000:]}"
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = distinct()
        assert at_kill < N, "the sender finished before it was killed: nothing was tested"
        left = outbox_counts(where)

        second = start_sender(data_dir, store, log)
        try:
            assert wait_for(lambda: outbox_counts(where).get("sent") == N, deadline, 0.2), \
                f"not all sent: {outbox_counts(where)}; log: {log.read_text()[-2000:]}"
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
    finally:
        receiver.close()

    received = list(receiver.received)
    by_id: dict[str, list[str]] = defaultdict(list)
    for r in received:  # the content, less the time of sending (each attempt's own)
        body = {k: v for k, v in r.json.items() if k != "sent_at"}
        assert body["event_id"] == r.event_id  # the header and the body agree
        by_id[r.event_id].append(json.dumps(body, sort_keys=True))
    repeats = len(received) - len(by_id)
    assert set(by_id) == expected  # every notification arrived, under its own id
    for event_id, bodies in by_id.items():  # a repeat is the same notification again
        assert len(set(bodies)) == 1, event_id
    subjects = {r.json["subject"] for r in received}
    assert len(subjects) == N  # no notification arrived under two different ids
    assert outbox_counts(where) == {"sent": N}
    seconds = time.monotonic() - start
    report(f"notify kill test ({'postgresql' if store else 'sqlite'}): {N} due, killed "
           f"after {at_kill} delivered (outbox then {left}), {len(received)} deliveries, "
           f"{len(by_id)} distinct event ids, "
           f"{repeats} repeat(s) (each with an id seen before), outbox {N} sent, "
           f"{seconds:.1f} s")
    assert seconds < 60
    assert os.path.exists(log)
