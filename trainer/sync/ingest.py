"""``moodspeaker-train ingest``: every speaker's listens into the store, then the receipt.

Subscribes to ``<base>/+/listens`` (or ``$share/<group>/...`` so several workers split the
load, MQTT 5). For each batch: validate, store in one transaction (FULL sync), and only then
publish the acknowledgement on ``<base>/<device>/listens/ack``; the speaker marks rows
synced on that, never on the broker's PUBACK. paho acknowledges the QoS 1 delivery itself
after the handler returns, i.e. after the commit. The session is persistent, so the
broker queues batches while the ingest is down. A malformed message is logged with its
topic and skipped; the speaker will send it again, and the ingest never dies of it.

The acknowledgement goes at QoS 0. It counts only for a batch still in flight, and a
speaker that reconnects sends everything unsynced again, so an acknowledgement kept for
an offline speaker would be stale when it arrived; QoS 1 bought nothing and cost a window
of 20 unconfirmed publishes (Mosquitto's Receive Maximum) that a draining backlog kept
full: at 10,000 speakers the acknowledgements waited until the whole backlog was stored
(``bench/fleet.py``; 5,000 batches: 47 acknowledged while stored, against all at QoS 0).
A lost one costs the speaker a resend after its timeout, absorbed by the store's key.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from device.shared.mqtt_client import ConnectError, MqttSettings, MQTTv5, connect, make_client
from device.shared.mqtt_protocol import (
    BASE_TOPIC,
    Ack,
    ProtocolError,
    Topics,
    decode_listens,
    device_of_listens_topic,
    encode_ack,
    listens_subscription,
)

from .store import Store, open_store

log = logging.getLogger(__name__)


def default_client_id(share: str | None) -> str:
    """Stable across restarts (the broker keeps the session's queue for it), distinct per
    host; give each worker of a shared group its own ``--client-id``."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"moodspeaker-ingest-{host}" + (f"-{share}" if share else "")


@dataclass
class IngestStats:
    batches: int = 0
    rows: int = 0
    new_rows: int = 0
    rejected: int = 0
    malformed: int = 0
    failed: int = 0


class Ingest:
    """One worker: its own MQTT connection, its network thread owning the store."""

    def __init__(
        self,
        settings: MqttSettings,
        db: str | Path,
        *,
        base_topic: str = BASE_TOPIC,
        share: str | None = None,
        client_id: str | None = None,
    ):
        self.settings = settings
        self.base_topic = base_topic
        self.subscription = listens_subscription(base_topic, share)
        self.share = share
        self.client_id = client_id or default_client_id(share)
        self.store: Store = open_store(db)
        self.stats = IngestStats()
        self.subscribed = threading.Event()
        self._client: mqtt.Client | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self, *, timeout: float | None = 30.0, cancel: threading.Event | None = None
              ) -> None:
        """Connect and subscribe; returns once the broker accepted the connection."""
        self._client = connect(self._make(), self.settings, timeout=timeout, cancel=cancel)
        if self.share and self._client.protocol != MQTTv5:
            log.warning("ingest: the broker speaks MQTT 3.1.1 only; $share/%s relies on"
                        " the broker supporting shared subscriptions there", self.share)
        log.info("ingest: connected to %s as %s, listening on %s", self.settings.where(),
                 self.client_id, self.subscription)

    def stop(self) -> None:
        """Disconnect cleanly (the session stays on the broker) and close the store."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self.store.close()

    def run(self, stop: threading.Event) -> None:
        """The service: start, serve until ``stop`` is set, stop."""
        try:
            try:
                self.start(timeout=None, cancel=stop)
            except ConnectError:
                if stop.is_set():  # stopped while the broker was still away: a clean stop
                    return
                raise
            stop.wait()
        finally:
            self.stop()
            log.info("ingest: stopped after %d batches, %d new listens, %d rejected,"
                     " %d malformed messages", self.stats.batches, self.stats.new_rows,
                     self.stats.rejected, self.stats.malformed)

    # --- the network thread ----------------------------------------------------------

    def _make(self) -> mqtt.Client:
        client = make_client(self.settings, self.client_id, persistent=True)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.error("ingest: %s refused the connection: %s", self.settings.where(), reason)
            return
        # Subscribe every time: a broker that lost its state (no persistence) forgets it.
        client.subscribe(self.subscription, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("ingest: connection lost (%s); reconnecting", reason)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            device = device_of_listens_topic(msg.topic, self.base_topic)
            batch = decode_listens(bytes(msg.payload))
            if batch.device != device:
                raise ProtocolError(f"payload names device {batch.device!r}, topic {device!r}")
        except ProtocolError as exc:
            self.stats.malformed += 1
            log.warning("ingest: %s: malformed message skipped: %s", msg.topic, exc)
            return
        try:
            outcome = self.store.add_batch(device, batch.listens)
        except Exception:  # disk full, locked file: no ack, so the speaker sends it again
            self.stats.failed += 1
            log.exception("ingest: %s: could not store batch %s", msg.topic, batch.batch)
            return
        self.stats.batches += 1
        self.stats.rows += len(batch.listens)
        self.stats.new_rows += outcome.new_rows
        self.stats.rejected += len(outcome.rejected)
        for r in outcome.rejected:
            log.warning("ingest: %s: listen %s rejected (kept in 'rejected'): %s", msg.topic,
                        r["event_id"], r["error"])
        ack = Ack(batch.batch, outcome.event_ids, outcome.rejected)
        client.publish(Topics(device, self.base_topic).listens_ack, encode_ack(ack), qos=0)
