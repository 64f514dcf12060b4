"""device.shared.mqtt_client against a real Mosquitto: plain, password, TLS (server and mutual),
and the MQTT 5 -> 3.1.1 fallback through a front that refuses MQTT 5 like a 3.1.1 broker."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from device.shared.mqtt_client import (
    ConnectError,
    MqttSettings,
    MQTTv5,
    MQTTv311,
    add_connection_args,
    connect,
    fallback_protocol,
    make_client,
    settings_from_args,
)
from tests.harness.broker import V311Front


def _roundtrip(settings: MqttSettings, client_id: str = "t1", timeout: float = 5) -> int:
    """Connect, publish to ourselves at QoS 1, receive it; returns the protocol used."""
    got = threading.Event()

    def build():
        c = make_client(settings, client_id)
        c.on_connect = lambda c, u, f, rc, p: c.subscribe("moodspeaker/t1/#", qos=1)
        c.on_subscribe = lambda c, u, mid, rcs, p: c.publish("moodspeaker/t1/x", b"hi", qos=1)
        c.on_message = lambda c, u, m: got.set() if m.payload == b"hi" else None
        return c

    client = connect(build(), settings, timeout=timeout)
    try:
        assert got.wait(5), "own message not received"
        return client.protocol
    finally:
        client.disconnect()
        client.loop_stop()


def test_plain_broker_speaks_mqtt5(mqtt_broker):
    assert _roundtrip(mqtt_broker.settings()) == MQTTv5


def test_password(mqtt_broker_factory):
    broker = mqtt_broker_factory(users={"speaker1": "s3cret"})
    assert _roundtrip(broker.settings(username="speaker1", password="s3cret")) == MQTTv5
    with pytest.raises(ConnectError, match="refused us"):
        _roundtrip(broker.settings(username="speaker1", password="wrong"))
    with pytest.raises(ConnectError, match="refused us"):
        _roundtrip(broker.settings())  # anonymous


def test_tls_server_certificate(mqtt_broker_factory, mqtt_certs):
    broker = mqtt_broker_factory(certs=mqtt_certs)
    assert _roundtrip(broker.settings()) == MQTTv5
    # Plain TCP to a TLS listener never gets a CONNACK.
    with pytest.raises(ConnectError, match="no answer"):
        connect(make_client(MqttSettings(broker.host, broker.port), "t2"),
                MqttSettings(broker.host, broker.port), timeout=2)


def test_tls_client_certificate_required(mqtt_broker_factory, mqtt_certs):
    broker = mqtt_broker_factory(certs=mqtt_certs, require_client_cert=True)
    with_cert = broker.settings(tls_cert=mqtt_certs.client_cert, tls_key=mqtt_certs.client_key)
    assert _roundtrip(with_cert) == MQTTv5
    with pytest.raises(ConnectError):
        _roundtrip(broker.settings(), client_id="nocert", timeout=1.5)


def test_falls_back_to_311_when_the_broker_refuses_mqtt5(mqtt_broker):
    front = V311Front(mqtt_broker.port)
    try:
        protocol = _roundtrip(MqttSettings("127.0.0.1", front.port))
    finally:
        front.close()
    assert protocol == MQTTv311
    assert front.levels[:2] == [5, 4]


def test_fallback_decision():
    refused = ReasonCode(PacketTypes.CONNACK, aName="Unsupported protocol version")
    assert fallback_protocol(MQTTv5, refused) == MQTTv311
    assert fallback_protocol(MQTTv5, 1) == MQTTv311
    assert fallback_protocol(MQTTv311, refused) is None  # nothing older to try
    bad_pw = ReasonCode(PacketTypes.CONNACK, aName="Bad user name or password")
    assert fallback_protocol(MQTTv5, bad_pw) is None
    assert fallback_protocol(MQTTv5, 0x87) is None  # not authorized


def test_connection_args(tmp_path):
    p = argparse.ArgumentParser()
    add_connection_args(p)
    s = settings_from_args(p.parse_args(["--host", "h", "--username", "u", "--password", "x"]))
    assert (s.host, s.port, s.username, s.password, s.tls) == ("h", 1883, "u", "x", False)
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    s = settings_from_args(p.parse_args(["--host", "h", "--tls-ca", str(ca)]))
    assert (s.port, s.tls_ca) == (8883, ca)
    with pytest.raises(ConnectError, match=r"tls_ca .*missing\.crt"):
        settings_from_args(p.parse_args(["--host", "h", "--tls-ca", str(tmp_path / "missing.crt")]))
    with pytest.raises(ConnectError, match="password was given without a username"):
        settings_from_args(p.parse_args(["--host", "h", "--password", "x"]))


def test_will_is_published_when_the_client_dies(mqtt_broker):
    settings = mqtt_broker.settings()
    will = ("moodspeaker/dev1/availability", "offline", 1, True)
    dying = make_client(settings, "dev1", will=will)
    connect(dying, settings, timeout=5)
    dying._sock.close()  # a crash: no DISCONNECT, so the broker sends the will
    dying.loop_stop()
    got: list[bytes] = []
    seen = threading.Event()

    def on_message(c, u, m):
        got.append(m.payload)
        seen.set()

    watcher = make_client(settings, "watcher")
    watcher.on_connect = lambda c, u, f, rc, p: c.subscribe("moodspeaker/dev1/availability", 1)
    watcher.on_message = on_message
    connect(watcher, settings, timeout=5)
    try:
        assert seen.wait(settings.keepalive * 2), "no last will"
        assert got[0] == b"offline"
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def test_make_client_rejects_bad_settings(tmp_path: Path):
    with pytest.raises(ConnectError, match="tls_key was given without tls_cert"):
        make_client(MqttSettings("h", tls_key=tmp_path / "k"), "x")
    with pytest.raises(ConnectError, match="port 0"):
        make_client(MqttSettings("h", port=0), "x")
