"""One way to build and connect a paho-mqtt 2.x client, for the speaker and the trainer.

Everything that talks to the broker (the speaker's bridge, ``moodspeaker-train ingest`` and
``publish``) builds its client here, so that authentication, TLS, the last will, reconnect
backoff and the MQTT 5 -> 3.1.1 fallback behave the same everywhere. Nothing here blocks
the caller except :func:`connect`, which the trainer commands call to wait for the
broker's first answer.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from device.shared.errors import UserError

log = logging.getLogger(__name__)

MQTTv5 = MQTTProtocolVersion.MQTTv5
MQTTv311 = MQTTProtocolVersion.MQTTv311

# CONNACK 0x84 in MQTT 5; paho reports a 3.1.1 broker's "unacceptable protocol version"
# (return code 1) to a v5 client under the same name.
_UNSUPPORTED_PROTOCOL = "Unsupported protocol version"
# A persistent session outlives a restart of its client by this long (MQTT 5 only; a 3.1.1
# broker keeps a non-clean session until it is told otherwise).
SESSION_EXPIRY_S = 7 * 24 * 3600

PASSWORD_ENV = "MOODSPEAKER_MQTT_PASSWORD"

Will = tuple[str, "bytes | str", int, bool]  # topic, payload, qos, retain


class ConnectError(UserError):
    """The broker could not be reached, or refused us (bad credentials, TLS, protocol)."""


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is and how to log in; shared by the speaker's [mqtt] and the CLIs."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive: int = 30

    @property
    def tls(self) -> bool:
        return self.tls_ca is not None or self.tls_cert is not None

    def where(self) -> str:
        return f"mqtt{'s' if self.tls else ''}://{self.host}:{self.port}"


def check_settings(settings: MqttSettings) -> None:
    """Raise :class:`ConnectError` naming the setting at fault, before any network use."""
    if not settings.host:
        raise ConnectError("mqtt: host is empty")
    if not 0 < settings.port < 65536:
        raise ConnectError(f"mqtt: port {settings.port} is not a TCP port")
    if settings.password is not None and settings.username is None:
        raise ConnectError("mqtt: a password was given without a username")
    if settings.tls_key is not None and settings.tls_cert is None:
        raise ConnectError("mqtt: tls_key was given without tls_cert")
    if settings.keepalive < 5:
        raise ConnectError(f"mqtt: keepalive {settings.keepalive} s is below 5 s")
    for name in ("tls_ca", "tls_cert", "tls_key"):
        path = getattr(settings, name)
        if path is not None and not Path(path).is_file():
            raise ConnectError(f"mqtt: {name} {path} is not a readable file")


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    will: Will | None = None,
    protocol: MQTTProtocolVersion = MQTTv5,
    persistent: bool = False,
    max_inflight: int = 20,
) -> mqtt.Client:
    """A configured, unconnected client; set its callbacks, then :func:`start` or
    :func:`connect` it.

    ``persistent`` keeps the broker-side session (subscriptions and queued QoS 1
    messages) across reconnects and restarts; it is set here because MQTT 3.1.1 fixes it
    in the client's constructor (MQTT 5 sends it with CONNECT, see :func:`start`)."""
    check_settings(settings)
    kwargs: dict[str, Any] = {}
    if protocol != MQTTv5:
        kwargs["clean_session"] = not persistent
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs
    )
    client.user_data_set({"persistent": persistent})
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=str(settings.tls_ca) if settings.tls_ca else None,
                certfile=str(settings.tls_cert) if settings.tls_cert else None,
                keyfile=str(settings.tls_key) if settings.tls_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConnectError(f"mqtt: cannot load the TLS files: {exc}") from None
    if will is not None:
        topic, payload, qos, retain = will
        client.will_set(topic, payload, qos=qos, retain=retain)
    client.on_socket_open = _no_delay
    client.reconnect_delay_set(min_delay=1, max_delay=60)
    client.max_inflight_messages_set(max_inflight)
    return client


def start(client: mqtt.Client, settings: MqttSettings, *, max_packet: int | None = None) -> None:
    """Connect in the background (``connect_async`` + ``loop_start``); never blocks.

    paho's network thread then reconnects with the 1-60 s backoff on its own. A broker
    that refuses MQTT 5 for its protocol version gets 3.1.1 on the next attempt: the
    client switches in place (see :class:`_ProtocolFallback`), so a caller's own
    ``on_connect`` (set before this call) sees only the outcome that counts."""
    _ProtocolFallback(client)
    kwargs: dict[str, Any] = {}
    if client.protocol == MQTTv5:
        persistent = _persistent(client)
        kwargs["clean_start"] = not persistent
        props = Properties(PacketTypes.CONNECT)
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        if max_packet is not None:  # the broker then drops larger messages for us
            props.MaximumPacketSize = max_packet
        if persistent or max_packet is not None:
            kwargs["properties"] = props
    client.connect_async(settings.host, settings.port, settings.keepalive, **kwargs)
    client.loop_start()


def why_unreachable(settings: MqttSettings, timeout: float = 3.0) -> str:
    """The cause of a failed connection, in words: the name, the port, or TLS. Blocking
    (up to ``timeout`` per step): call it off the speaker loop, e.g. on paho's thread."""
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {settings.host}: {exc.strerror or exc}"
    family, kind, proto, _name, address = infos[0]
    try:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        sock.connect(address)
    except OSError as exc:
        return f"cannot connect to {settings.host}:{settings.port}: {exc.strerror or exc}"
    with sock:
        if not settings.tls:
            return f"{settings.host}:{settings.port} accepts TCP, but the MQTT connect failed"
        context = ssl.create_default_context(
            cafile=str(settings.tls_ca) if settings.tls_ca else None)
        try:
            if settings.tls_cert is not None:
                context.load_cert_chain(str(settings.tls_cert),
                                        str(settings.tls_key) if settings.tls_key else None)
            with context.wrap_socket(sock, server_hostname=settings.host):
                return f"{settings.host}:{settings.port} accepts TLS, but the MQTT connect failed"
        except (ssl.SSLError, OSError) as exc:
            return f"TLS with {settings.host}:{settings.port} failed: {exc}"


def _persistent(client: mqtt.Client) -> bool:
    return bool((client.user_data_get() or {}).get("persistent"))


def fallback_protocol(
    protocol: MQTTProtocolVersion, reason: ReasonCode | int
) -> MQTTProtocolVersion | None:
    """The protocol to retry with after a refused CONNACK, or None when retrying cannot help.

    Only a v5 CONNECT refused for its protocol version is worth one more try, with 3.1.1."""
    if protocol != MQTTv5:
        return None
    if isinstance(reason, ReasonCode):
        refused = reason.getName() == _UNSUPPORTED_PROTOCOL or reason.value in (1, 0x84)
    else:
        refused = int(reason) in (1, 0x84)
    return MQTTv311 if refused else None


def _no_delay(_client, _userdata, sock) -> None:
    """Send each packet at once: with Nagle's algorithm on, a command's result waited
    ~40 ms for the broker's delayed ACK of the PUBACK before it (bench/mqtt.py)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ProtocolFallback:
    """Wraps ``on_connect``: a v5 CONNECT refused for its protocol version switches the
    client to 3.1.1 in place, and paho's own reconnect then speaks 3.1.1.

    paho fixes the protocol at construction and has no public setter; the two attributes
    set here are the ones its CONNECT packet is built from (paho-mqtt 2.x, pinned <3;
    ``tests/test_mqtt_client.py`` checks the switch against a front that refuses v5)."""

    def __init__(self, client: mqtt.Client):
        self._then: Callable[..., None] | None = client.on_connect
        client.on_connect = self

    def __call__(self, client, userdata, flags, reason, properties) -> None:
        retry = fallback_protocol(client.protocol, reason)
        if retry is not None:
            log.info("mqtt: the broker refused MQTT 5 (%s); using MQTT 3.1.1", reason)
            client._protocol = retry
            client._clean_session = not _persistent(client)
            return
        if self._then is not None:
            self._then(client, userdata, flags, reason, properties)


class _FirstConnack:
    """Records the first CONNACK that counts, then hands over to the caller's on_connect."""

    def __init__(self, client: mqtt.Client):
        self.reason: ReasonCode | None = None
        self.event = threading.Event()
        self._then: Callable[..., None] | None = client.on_connect
        client.on_connect = self

    def __call__(self, client, userdata, flags, reason, properties) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()
        if self._then is not None:
            self._then(client, userdata, flags, reason, properties)


def connect(
    client: mqtt.Client,
    settings: MqttSettings,
    *,
    timeout: float | None = 10.0,
    cancel: threading.Event | None = None,
) -> mqtt.Client:
    """:func:`start` a client (callbacks already set) and wait for the broker's answer.

    For the trainer's commands and the tests, which cannot work without the broker.
    Returns the client, connected, its network thread running. Raises
    :class:`ConnectError` on a refusal, or when ``timeout`` passes (None: wait until
    ``cancel`` is set) with no answer."""
    first = _FirstConnack(client)
    start(client, settings)
    if not _wait(first.event, timeout, cancel):
        client.disconnect()
        client.loop_stop()
        raise ConnectError(
            f"{settings.where()}: no answer from the broker"
            + (f" within {timeout:g} s" if timeout is not None else "")
        )
    assert first.reason is not None
    if first.reason.is_failure:
        client.disconnect()
        client.loop_stop()
        raise ConnectError(f"{settings.where()}: the broker refused us: {first.reason}")
    return client


def _wait(event: threading.Event, timeout: float | None, cancel: threading.Event | None) -> bool:
    if cancel is None:
        return event.wait(timeout)
    waited = 0.0
    while not cancel.is_set() and (timeout is None or waited < timeout):
        if event.wait(0.2):
            return True
        waited += 0.2
    return event.is_set()


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """The broker options every trainer command that talks MQTT takes."""
    g = parser.add_argument_group("MQTT broker")
    g.add_argument("--host", required=True, help="broker host name or address")
    g.add_argument("--port", type=int, default=None, help="broker port (1883, 8883 with TLS)")
    g.add_argument("--username", default=None)
    g.add_argument("--password", default=os.environ.get(PASSWORD_ENV) or None,
                   help=f"broker password (default: ${PASSWORD_ENV}, which keeps it out of ps)")
    g.add_argument("--tls-ca", type=Path, default=None, help="CA certificate (PEM): use TLS")
    g.add_argument("--tls-cert", type=Path, default=None, help="client certificate (PEM)")
    g.add_argument("--tls-key", type=Path, default=None, help="client certificate's key")


def settings_from_args(args: argparse.Namespace) -> MqttSettings:
    tls = args.tls_ca is not None or args.tls_cert is not None
    settings = MqttSettings(
        host=args.host,
        port=args.port if args.port is not None else (8883 if tls else 1883),
        username=args.username,
        password=args.password,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    check_settings(settings)
    return settings
