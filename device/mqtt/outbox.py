"""The listening-log sync: the journal is the outbox, the trainer's ack is the receipt.

A broker's PUBACK only says the broker has the message, and paho keeps unacknowledged
messages in memory only, so neither can mark a listen as delivered. The outbox sends
closed, unsynced listens in ``sync_seq`` order, in batches, a few batches in flight, and
marks rows synced only when the ingest's own acknowledgement (sent after it committed
them) arrives on ``listens/ack``. Anything not acknowledged in time, and everything after a
reconnect or a restart, is sent again from the oldest unsynced row: the ingest stores by
(device, event_id), so a resend makes duplicates on the wire, never in the store. Memory
stays bounded by ``in_flight x batch`` rows whatever the backlog.

Two layers: :class:`SyncWindow` is the logic alone (no thread, no journal of its own:
given a journal that answers ``unsynced`` and ``mark_synced``, the acknowledgements and the
clock, it decides what to send and what to mark synced), and :class:`Outbox` runs one on
its own thread with its own journal connection, as the speaker does. ``bench/fleet.py``
runs thousands of windows in one process over in-memory journals.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from device.shared.listens import Listen
from device.shared.mqtt_protocol import Ack, ProtocolError, check_listen, encode_listens, new_id
from device.storage.journal import Journal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSettings:
    batch: int = 100
    in_flight: int = 4
    ack_timeout_s: float = 30.0


class SyncJournal(Protocol):
    """What the sync needs of a journal (``device.storage.journal.Journal`` has it)."""

    def unsynced(self, limit: int, *, after_seq: int = 0) -> list[Listen]: ...
    def mark_synced(self, event_ids: list[str]) -> int: ...


@dataclass
class SyncStats:
    """What one window did, for benches and reports."""

    batches: int = 0  # batches published
    rows: int = 0  # rows in them (a resent row counts again)
    acked: int = 0  # rows marked synced on an acknowledgement
    timeouts: int = 0  # restarts for want of an acknowledgement
    stale_acks: int = 0  # acknowledgements of no batch in flight


@dataclass
class _Sent:
    event_ids: list[str]
    sent_at: float


class SyncWindow:
    """The outbox's logic, one thread at a time: call :meth:`connection` on a connect or
    a drop, :meth:`acked` with an acknowledgement, and :meth:`pump` after either, when a
    listen was closed, and now and then (it resends what timed out)."""

    def __init__(
        self,
        device_id: str,
        publish: Callable[[bytes], bool],
        settings: OutboxSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.device_id = device_id
        self._publish = publish
        self.settings = settings or OutboxSettings()
        self._clock = clock
        self.connected = False
        self.in_flight: dict[str, _Sent] = {}
        self.cursor = 0  # highest sync_seq sent and not yet known to be lost
        self.timeouts = 0  # in a row, since the last acknowledgement
        self.stats = SyncStats()

    def connection(self, up: bool) -> None:
        self.connected = up
        self.restart()

    def restart(self) -> None:
        """Forget what is in flight: the next pump starts again at the oldest unsynced."""
        self.in_flight.clear()
        self.cursor = 0

    def acked(self, journal: SyncJournal, ack: Ack) -> None:
        """An acknowledgement counts only for the listens of a batch in flight: a forged or
        stale one (a batch this speaker did not send, or sent before a restart) must not
        mark listens as stored that the trainer never stored."""
        sent = self.in_flight.pop(ack.batch, None)
        if sent is None:
            self.stats.stale_acks += 1
            log.warning("sync: ignored an acknowledgement of batch %s: no such batch is in "
                        "flight (stale, or not from the trainer)", ack.batch)
            return
        expected = set(sent.event_ids)
        rejected = {r["event_id"]: r.get("error") for r in ack.rejected
                    if r.get("event_id") in expected}
        for event_id, error in rejected.items():
            log.warning("sync: the trainer rejected listen %s: %s", event_id, error)
        done = {e for e in ack.event_ids if e in expected} | set(rejected)
        strays = len(set(ack.event_ids) - expected)
        if strays:
            log.warning("sync: an acknowledgement of batch %s named %d listens that were not in"
                        " it; ignored", ack.batch, strays)
        journal.mark_synced(sorted(done))
        self.stats.acked += len(done)
        self.timeouts = 0
        if done != expected:  # some were neither stored nor rejected: send them again
            log.warning("sync: batch %s: %d listens not acknowledged; sending again",
                        ack.batch, len(expected - done))
            self.restart()

    def pump(self, journal: SyncJournal) -> None:
        """Resend from the oldest if an acknowledgement is overdue, then fill the window."""
        now = self._clock()
        # no ingest running: resend ever more rarely (30 s, 1, 2 ... 16 min), not in a loop
        timeout = self.settings.ack_timeout_s * 2 ** min(self.timeouts, 5)
        if any(now - s.sent_at > timeout for s in self.in_flight.values()):
            self.timeouts += 1
            self.stats.timeouts += 1
            log.warning("sync: no acknowledgement within %.0f s; sending again", timeout)
            self.restart()
        self._fill(journal)

    def _fill(self, journal: SyncJournal) -> None:
        while self.connected and len(self.in_flight) < self.settings.in_flight:
            rows = journal.unsynced(self.settings.batch, after_seq=self.cursor)
            if not rows:
                return
            self.cursor = rows[-1].sync_seq or 0
            good = []
            for listen in rows:
                try:
                    good.append(check_listen(_row(listen)))
                except ProtocolError as exc:  # never let one odd row block the rest
                    log.error("sync: listen %s cannot be sent (%s); it stays in the journal"
                              " only", listen.event_id, exc)
                    journal.mark_synced([listen.event_id])
            if not good:
                continue
            batch = new_id()
            payload = encode_listens(self.device_id, batch, good)
            if not self._publish(payload):
                self.connected = False
                return
            self.in_flight[batch] = _Sent([r["event_id"] for r in good], self._clock())
            self.stats.batches += 1
            self.stats.rows += len(good)


class Outbox:
    """A :class:`SyncWindow` on its own thread with its own journal connection."""

    def __init__(
        self,
        journal_path: Path,
        device_id: str,
        publish: Callable[[bytes], bool],
        settings: OutboxSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.journal_path = journal_path
        self.device_id = device_id
        self.window = SyncWindow(device_id, publish, settings, clock=clock)
        self.settings = self.window.settings
        self._inbox: queue.Queue[tuple[str, object]] = queue.Queue()
        self._thread: threading.Thread | None = None

    # --- other threads -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._inbox.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout)

    def connected(self, up: bool) -> None:
        self._inbox.put(("connected", up))

    def kick(self) -> None:
        """A listen was closed: send it soon."""
        self._inbox.put(("kick", None))

    def acked(self, ack: Ack) -> None:
        self._inbox.put(("ack", ack))

    # --- its thread ----------------------------------------------------------------

    def _run(self) -> None:
        with Journal(self.journal_path, hold_when_full=True) as journal:
            while True:
                try:
                    kind, value = self._inbox.get(timeout=1.0)
                except queue.Empty:
                    kind, value = "tick", None
                try:
                    if kind == "stop":
                        return
                    self._handle(journal, kind, value)
                except Exception:  # a full disk, a locked journal: try again later
                    log.exception("sync: %s failed; will retry", kind)

    def _handle(self, journal: Journal, kind: str, value: object) -> None:
        if kind == "connected":
            self.window.connection(bool(value))
        if not journal.flush_pending():  # not open yet: the disk was full at start
            return
        if kind == "ack":
            assert isinstance(value, Ack)
            self.window.acked(journal, value)
        self.window.pump(journal)


def _row(listen: Listen) -> dict:
    """A journal row as the protocol carries it. A clock set back while a track played
    (a Pi without a real-time clock meeting NTP) must not make it unsendable."""
    d = asdict(listen)
    d.pop("synced")
    d["seq"] = d.pop("sync_seq")
    if d["ended_at"] is not None and d["ended_at"] < d["started_at"]:
        d["ended_at"] = d["started_at"]
    return d
