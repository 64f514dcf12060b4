"""Does the broker keep a persistent session's subscription over its own restart, plain and
shared? One message is published while the subscriber is away (and, in the second pair,
after the broker restarted from its persistence file); the subscriber then reconnects to
its session without subscribing again.

Mosquitto 2.0.11 (Debian's) keeps a plain subscription but not a shared one
(``$share/g/t``): after a restart, what is published before the ingest workers reconnect
and subscribe again reaches nobody, and the speakers resend it on their acknowledgement
timeout (docs/fleet.md, two workers and a broker restart). It also keeps giving a gone
worker's session its share of a shared subscription: those wait until it reconnects.

    .venv/bin/python -m bench.shared_restart
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.harness.broker import Broker


def _client(client_id: str, port: int, got: list[bytes] | None = None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5)  # fmt: skip
    if got is not None:
        c.on_message = lambda _c, _u, m: got.append(m.payload)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.loop_start()
    time.sleep(0.5)
    return c


def _close(*clients: mqtt.Client) -> None:
    for c in clients:
        c.loop_stop()
        c.disconnect()


@contextmanager
def _broker() -> Iterator[Broker]:
    broker = Broker(Path(tempfile.mkdtemp(prefix="moodspeaker-shared-")) / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def delivered(topic: str, restart: bool) -> int:
    """Messages the subscriber to ``topic`` gets after reconnecting (0 or 1)."""
    got: list[bytes] = []
    with _broker() as broker:
        sub = _client("sub", broker.port, got)
        sub.subscribe(topic, 1)
        time.sleep(0.3)
        _close(sub)
        if restart:
            broker.stop()
            broker.start()
        pub = _client("pub", broker.port)
        pub.publish("t", b"hello", qos=1).wait_for_publish(3)
        again = _client("sub", broker.port, got)
        time.sleep(1.0)
        _close(pub, again)
    return len(got)


def shared_with_one_away(n: int = 10) -> int:
    """Two workers on ``$share/g/t``, one gone (its session kept): of ``n`` messages, how
    many reach the one still connected."""
    got: list[bytes] = []
    with _broker() as broker:
        away = _client("away", broker.port)
        away.subscribe("$share/g/t", 1)
        here = _client("here", broker.port, got)
        here.subscribe("$share/g/t", 1)
        time.sleep(0.3)
        _close(away)
        pub = _client("pub", broker.port)
        for i in range(n):
            pub.publish("t", str(i).encode(), qos=1).wait_for_publish(3)
        time.sleep(1.0)
        _close(pub, here)
    return len(got)


def main() -> int:
    print("| subscription | broker restarted while away | delivered after reconnecting |")
    print("|---|---|---|")
    for restart in (False, True):
        for topic in ("t", "$share/g/t"):
            print(f"| `{topic}` | {'yes' if restart else 'no'} | {delivered(topic, restart)} |")
    print(f"\nshared by two, one away (session kept): {shared_with_one_away()} of 10 reach the"
          " one connected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
