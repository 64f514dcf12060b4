"""The listening-log sync: the journal is the outbox, the trainer's ack is the receipt.

A broker's PUBACK only says the broker has the message, and paho keeps unacknowledged
messages in memory only, so neither can mark a listen as delivered. This thread sends
closed, unsynced listens in ``sync_seq`` order, in batches, a few batches in flight, and
marks rows synced only when the ingest's own acknowledgement (sent after it committed
them) arrives on ``listens/ack``. Anything not acknowledged in time, and everything after a
reconnect or a restart, is sent again from the oldest unsynced row: the ingest stores by
(device, event_id), so a resend makes duplicates on the wire, never in the store. Memory
stays bounded by ``in_flight x batch`` rows whatever the backlog.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from device.shared.listens import Listen
from device.shared.mqtt_protocol import Ack, ProtocolError, check_listen, encode_listens, new_id
from device.storage.journal import Journal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxSettings:
    batch: int = 100
    in_flight: int = 4
    ack_timeout_s: float = 30.0


@dataclass
class _Sent:
    event_ids: list[str]
    sent_at: float


class Outbox:
    """Runs on its own thread with its own journal connection."""

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
        self._publish = publish
        self.settings = settings or OutboxSettings()
        self._clock = clock
        self._inbox: queue.Queue[tuple[str, object]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._connected = False
        self._in_flight: dict[str, _Sent] = {}
        self._cursor = 0  # highest sync_seq sent and not yet known to be lost
        self._timeouts = 0  # in a row, since the last acknowledgement

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
            self._connected = bool(value)
            self._restart()
        if not journal.flush_pending():  # not open yet: the disk was full at start
            return
        if kind == "ack":
            assert isinstance(value, Ack)
            self._acked(journal, value)
        now = self._clock()
        # no ingest running: resend ever more rarely (30 s, 1, 2 ... 16 min), not in a loop
        timeout = self.settings.ack_timeout_s * 2 ** min(self._timeouts, 5)
        if any(now - s.sent_at > timeout for s in self._in_flight.values()):
            self._timeouts += 1
            log.warning("sync: no acknowledgement within %.0f s; sending again", timeout)
            self._restart()
        self._pump(journal)

    def _acked(self, journal: Journal, ack: Ack) -> None:
        """An acknowledgement counts only for the listens of a batch in flight: a forged or
        stale one (a batch this speaker did not send, or sent before a restart) must not
        mark listens as stored that the trainer never stored."""
        sent = self._in_flight.pop(ack.batch, None)
        if sent is None:
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
        self._timeouts = 0
        if done != expected:  # some were neither stored nor rejected: send them again
            log.warning("sync: batch %s: %d listens not acknowledged; sending again",
                        ack.batch, len(expected - done))
            self._restart()

    def _restart(self) -> None:
        """Forget what is in flight: the next pump starts again at the oldest unsynced."""
        self._in_flight.clear()
        self._cursor = 0

    def _pump(self, journal: Journal) -> None:
        while self._connected and len(self._in_flight) < self.settings.in_flight:
            rows = journal.unsynced(self.settings.batch, after_seq=self._cursor)
            if not rows:
                return
            self._cursor = rows[-1].sync_seq or 0
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
                self._connected = False
                return
            self._in_flight[batch] = _Sent([r["event_id"] for r in good], self._clock())


def _row(listen: Listen) -> dict:
    """A journal row as the protocol carries it. A clock set back while a track played
    (a Pi without a real-time clock meeting NTP) must not make it unsendable."""
    d = asdict(listen)
    d.pop("synced")
    d["seq"] = d.pop("sync_seq")
    if d["ended_at"] is not None and d["ended_at"] < d["started_at"]:
        d["ended_at"] = d["started_at"]
    return d
