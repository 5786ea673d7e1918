"""Crash safety: child processes importing, working cases, validating articles and
rebuilding the index are killed with SIGKILL at random moments, hundreds of times,
and after every kill the data folder is checked.

Children come from a fork server (workers.py serve), several at a time against one data
folder; whenever one is killed a new one takes its place.  After each kill:

- the database passes SQLite's quick_check and every rule of checks.check_database
  (no half-written case, article or import batch, no case number used twice);
- after every ENGINE_EVERY-th kill also: the Engine opens, its start-up check finds
  nothing to repair, and its index agrees with the database as of the change it
  reflects (the other children keep writing).

Every QUIESCE kills the remaining children are killed too, and with nobody writing the
database must pass the full integrity_check and the index must open strictly
(Index.open: the old or the new generation, never a broken one) and hold exactly the
database's records.

The loop runs on both stores (the knowledge base in SQLite, then on PostgreSQL; the
index in the data folder either way).  At the end, every piece of work a child
acknowledged is in the database (checks.check_ledger).

Bounds, on each store: RELIABILITY_KILLS kills (default 100) or RELIABILITY_SECONDS
seconds (default 90), whichever comes first; the number done is printed.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from indexer.encoder import make_encoder
from indexer.index import Index
from service.engine import Engine
from tests.reliability.checks import case_counts, check_database, check_index, check_ledger
from tests.reliability.conftest import ForkServer, Seeded

KILLS = int(os.environ.get("RELIABILITY_KILLS", "100"))
SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "90"))
MIN_KILLS = int(os.environ.get("RELIABILITY_MIN_KILLS", "100"))
CHILDREN = 4
QUIESCE = 12
ENGINE_EVERY = 3  # opening the Engine in the checker costs more than a kill
# what the children do, and how often (an import re-indexes 1000 rows for every reader)
OPS = {"import": 2, "cases": 4, "validate": 3, "reindex": 2, "mixed": 2}


def _lifetime(rng: random.Random, op: str) -> float:
    """Short lives land kills inside opening, a transaction or a save; longer ones let
    an import or a reindex finish now and then (they take seconds on a busy machine)."""
    if op in ("import", "reindex", "mixed"):
        return rng.uniform(0.1, 1.2) if rng.random() < 0.5 else rng.uniform(1.2, 3.0)
    return rng.uniform(0.05, 0.7) if rng.random() < 0.75 else rng.uniform(0.7, 2.0)


class Checker:
    def __init__(self, store: Seeded) -> None:
        self.store = store
        self.settings = store.settings
        self.generations: set[int] = set()
        self.checks = self.engine_checks = self.strict = 0
        self.seconds = self.db_seconds = 0.0

    def __call__(self, quiet: bool) -> None:
        """Check the folder; `quiet`: no child is running."""
        started = time.monotonic()
        try:
            self._check(quiet)
        finally:
            self.seconds += time.monotonic() - started

    def _check(self, quiet: bool) -> None:
        started = time.monotonic()
        problems = check_database(self.store.database, thorough=quiet)
        self.db_seconds += time.monotonic() - started
        assert not problems, "\n".join(problems[:20])
        self.checks += 1
        if not quiet and self.checks % ENGINE_EVERY:
            return
        if quiet:  # nobody writes: the saved index must open as it is
            index = Index.open(self.settings.index_dir, make_encoder("hash:256"), "faiss")
            self.generations.add(index.generation)
            self.strict += 1
        engine = Engine(self.settings, background=False)  # no tuning thread here
        try:
            assert engine.integrity is None, engine.integrity
            problems = check_index(engine, exact=quiet)
            assert not problems, "\n".join(problems)
        finally:
            engine.close()
        self.engine_checks += 1


@pytest.mark.reliability
def test_sigkill_at_random_moments_leaves_a_consistent_kb(seeded_kb: Seeded, report) -> None:
    work = seeded_kb.work
    rng = random.Random(20261127)
    check = Checker(seeded_kb)
    server = ForkServer(work / "server.log")
    live: dict[int, tuple[str, float]] = {}
    kills: Counter[str] = Counter()
    start = time.monotonic()

    def spawn() -> None:
        op = rng.choices(list(OPS), weights=list(OPS.values()))[0]
        pid = server.fork(op, rng.getrandbits(31), seeded_kb.data, seeded_kb.url)
        live[pid] = (op, time.monotonic() + _lifetime(rng, op))

    def kill_next() -> None:
        pid, (op, when) = min(live.items(), key=lambda kv: kv[1][1])
        time.sleep(max(0.0, when - time.monotonic()))
        os.kill(pid, signal.SIGKILL)
        status = server.wait(pid)
        del live[pid]
        errors = work / "errors.log"
        assert not errors.exists(), errors.read_text(encoding="utf-8")[-4000:]
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        kills[op] += 1

    def more() -> bool:
        return sum(kills.values()) < KILLS and time.monotonic() - start < SECONDS

    try:
        while more():
            for _ in range(CHILDREN - len(live)):
                spawn()
            for _ in range(QUIESCE - CHILDREN):
                if not more():
                    break
                kill_next()
                check(quiet=False)
                spawn()
            while live:  # the last kills of the round leave nobody writing
                kill_next()
                check(quiet=not live)
    finally:
        for pid in list(live):
            os.kill(pid, signal.SIGKILL)
            server.wait(pid)
        server.close()
    seconds = time.monotonic() - start
    lost, done = check_ledger(seeded_kb.database, work / "progress.log")
    counts = case_counts(seeded_kb.database)
    total = sum(kills.values())
    report(f"kill loop on {seeded_kb.store}: {total} SIGKILLs in {seconds:.0f} s "
           f"({', '.join(f'{k} {v}' for k, v in sorted(kills.items()))}); "
           f"operations completed between kills: "
           f"{', '.join(f'{k} {v}' for k, v in sorted(done.items())) or 'none'}; "
           f"{check.checks} database checks and {check.engine_checks} engine + index "
           f"checks taking {check.seconds:.0f} s (database {check.db_seconds:.0f} s; "
           f"{check.strict} with nobody writing, "
           f"{len(check.generations)} index generations seen); final KB {counts}")
    assert total >= min(MIN_KILLS, KILLS), f"only {total} kills in {seconds:.0f} s"
    assert check.strict >= 1
    assert not lost, "\n".join(lost[:20])
