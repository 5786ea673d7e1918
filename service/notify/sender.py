"""The sender: delivers the outbox with retries and back-off.

One pass (`run_once`): run the scans (deadlines, follow-ups), then claim due rows in
batches under a lease and deliver each through its channel; a delivered row is marked
sent at once (so a kill repeats at most the rows in flight), a failed one waits
`notify_backoff · 2^(attempts-1)` (at most `notify_backoff_max`) or goes dead after
`notify_max_attempts` or a permanent refusal.  `run` repeats passes every
`notify_interval` seconds (sooner when `wake` is set) until `stop`; `start` does that in
a daemon thread (for `knownfix serve`).

Any number of senders may run against one knowledge base, in threads or processes: the
lease keeps them off each other's rows, and a killed sender's rows are taken up again
when its lease runs out.  Delivery is at least once; a repeat (after a kill, or a
lease outlived by a hung receiver) carries the same event id, so the receiver drops it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from errors import KnownFixError
from kb.store import KnowledgeBase
from service.notify.channels import Channel, Delivery, make_channel
from service.notify.messages import Message
from service.notify.outbox import Outbox, OutboxRow
from service.notify.prefs import Preferences
from settings import Settings

TEAM = "team"  # the recipient name of the team channel
log = logging.getLogger("knownfix.notify")
MAX_BATCH = 50
Scan = Callable[[float], int]


@dataclass
class PassReport:
    """What one pass did."""

    logged: int = 0  # events the scans logged
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] | None = None

    def line(self) -> str:
        return (f"sent {self.sent}, retrying {self.retrying}, dead {self.dead}"
                + (f", {self.logged} deadline/follow-up events" if self.logged else ""))


def sender_name() -> str:
    """host:pid:random — unique per sender, readable in `claimed_by`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _log_error(exc: Exception) -> None:
    log.warning("notification sender: %s: %s", exc.__class__.__name__, exc)


class Sender:
    """Delivers due outbox rows of one knowledge base."""

    def __init__(self, kb: KnowledgeBase, settings: Callable[[], Settings],
                 scans: Iterable[Scan] = (), name: str | None = None,
                 channels: Callable[[str, str, Settings], Channel] = make_channel) -> None:
        self.kb, self.settings = kb, settings
        self.outbox, self.prefs = Outbox(kb), Preferences(kb)
        self.scans = list(scans)
        self.name = name or sender_name()
        self.channels = channels
        self.wake = threading.Event()
        self._stop = threading.Event()

    def run_once(self, now: float | None = None, clock: Callable[[], float] = time.time
                 ) -> PassReport:
        """One pass at `now` (default: the clock).  Delivery errors are recorded on
        their rows; a scan that fails is reported in `errors` and the pass goes on."""
        s = self.settings()
        now_fn = (lambda: now) if now is not None else clock
        report = PassReport(errors=[])
        for scan in self.scans:
            try:
                report.logged += scan(now_fn())
            except Exception as exc:  # a bad row in one scan must not stop the delivery
                report.errors.append(f"scan: {exc.__class__.__name__}: {exc}")
        batch = max(1, min(MAX_BATCH, int(s.notify_lease // (2 * s.notify_timeout))))
        channels: dict[tuple[str, str], Channel] = {}
        while not self._stop.is_set():
            rows = self.outbox.claim(self.name, batch, s.notify_lease, now_fn())
            if not rows:
                break
            lease_until = now_fn() + s.notify_lease
            for n, row in enumerate(rows):
                if self._stop.is_set():
                    break  # the rest of the batch is taken up when the lease runs out
                self._deliver(row, s, channels, now_fn, report)
                left = [r.id for r in rows[n + 1:]]
                if left and now_fn() > lease_until - s.notify_lease / 2:  # keep the rest
                    self.outbox.renew(self.name, left, s.notify_lease, now_fn())
                    lease_until = now_fn() + s.notify_lease
        return report

    def _deliver(self, row: OutboxRow, s: Settings, channels: dict, now_fn: Callable,
                 report: PassReport) -> None:
        try:
            key = (row.channel, row.format)
            if key not in channels:
                channels[key] = self.channels(row.channel, row.format, s)
            channels[key].send(Delivery(row.event_id, row.address,
                                        Message.from_json(row.payload), self._secret(row, s)))
        except Exception as exc:  # any failure is the row's, not the sender's
            # DeliveryFailed says whether to retry; a bad channel or format (BadInput)
            # stays bad; anything else (a bug in a channel) is retried and shown on the row
            permanent = getattr(exc, "permanent", isinstance(exc, KnownFixError))
            state = self.outbox.failed(row.id, str(exc), permanent, s.notify_max_attempts,
                                       s.notify_backoff, s.notify_backoff_max, now_fn())
            report.dead += state == "dead"
            report.retrying += state == "pending"
            return
        self.outbox.sent(row.id, now_fn())
        report.sent += 1

    def _secret(self, row: OutboxRow, s: Settings) -> str:
        if row.channel != "webhook":
            return ""
        if row.recipient == TEAM:
            return os.environ.get(s.team_webhook_secret_env, "")
        return self.prefs.secret(row.recipient)

    # -- running -------------------------------------------------------------------------
    def run(self, interval: float | None = None,
            on_pass: Callable[[PassReport], None] | None = None,
            on_error: Callable[[Exception], None] | None = None) -> None:
        """Pass after pass until `stop()`: every `interval` seconds (default the setting
        notify_interval), or at once when `wake` is set."""
        while not self._stop.is_set():
            try:
                report = self.run_once()
                if on_pass:
                    on_pass(report)
            except Exception as exc:  # e.g. the database busy: the next pass tries again
                (on_error or _log_error)(exc)
            self.wake.wait(interval or self.settings().notify_interval)
            self.wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def start(self, interval: float | None = None) -> threading.Thread:
        """`run` in a daemon thread; `stop()` ends it after the row in hand.  A pass's
        scan errors and failures go to the `knownfix.notify` logger."""
        def logged(report: PassReport) -> None:
            for error in report.errors or []:
                log.warning("notification sender: %s", error)

        thread = threading.Thread(target=self.run, args=(interval, logged),
                                  name="notify-sender", daemon=True)
        thread.start()
        return thread
