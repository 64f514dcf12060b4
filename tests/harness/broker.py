"""A real Mosquitto for the MQTT tests: started on a free port in a temp dir, stoppable and
restartable on the same port with its persistence (QoS 1 state survives a restart).

Variants: plain (anonymous), password (``mosquitto_passwd -b``), TLS (certificates made
here with the ``openssl`` CLI; optionally requiring a client certificate), and an ACL file.
Nothing is faked: the tests talk to the real broker over loopback TCP.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from device.shared.mqtt_client import MqttSettings
from trainer.provision import acl as provision_acl

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or (
    "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
)
SKIP_REASON = (
    "mosquitto is not installed: `bash bootstrap.sh test` installs it (apt package mosquitto)"
)

# The ACL docs/mqtt.md shows: what `moodspeaker-train speakers add kitchen` writes (the three
# service users, made with the broker folder, and one speaker). tests/test_mqtt_acl.py checks
# that provisioning writes exactly this and that the docs show it.
README_ACL_USERS = {"ingest": "ingest", "publisher": "publisher",
                    "homeassistant": "homeassistant", "kitchen": "speaker"}
README_ACL = provision_acl.render(README_ACL_USERS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    def key(name: str) -> None:
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name)

    key("ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=moodspeaker test CA",
        "-out", "ca.crt")
    for name, cn, ext in (
        ("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "speaker1", "extendedKeyUsage=clientAuth"),
    ):
        key(f"{name}.key")
        run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr")
        (folder / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return Certs(folder / "ca.crt", folder / "server.crt", folder / "server.key",
                 folder / "client.crt", folder / "client.key")


class Broker:
    """One mosquitto process; ``stop()`` then ``start()`` brings it back on the same port."""

    host = "127.0.0.1"

    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        certs: Certs | None = None,
        require_client_cert: bool = False,
        acl: str | None = None,
    ):
        if MOSQUITTO is None:
            raise RuntimeError(SKIP_REASON)
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.certs = certs
        self.users = users or {}
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if users else 'true'}",
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 1",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "max_queued_messages 100000",
            "set_tcp_nodelay true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' and loses folder
        if users:
            if MOSQUITTO_PASSWD is None:
                raise RuntimeError("mosquitto_passwd is not installed (apt package mosquitto)")
            pw = folder / "passwd"
            pw.touch()
            for name, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), name, password], check=True,
                               capture_output=True)
            lines.append(f"password_file {pw}")
        if certs is not None:
            lines += [
                f"cafile {certs.ca}",
                f"certfile {certs.server_cert}",
                f"keyfile {certs.server_key}",
                f"require_certificate {'true' if require_client_cert else 'false'}",
            ]
        if acl is not None:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def settings(self, **overrides) -> MqttSettings:
        base = {"host": self.host, "port": self.port}
        if self.certs is not None:
            base["tls_ca"] = self.certs.ca
        base.update(overrides)
        return MqttSettings(**base)

    def start(self, timeout: float = 10.0) -> Broker:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError(f"mosquitto exited: {err}{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file (sessions, queued QoS 1) and exits."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class V311Front:
    """A TCP front to Mosquitto that answers an MQTT 5 CONNECT the way a 3.1.1-only broker
    does (CONNACK return code 1, then close) and passes 3.1.1 connections through."""

    def __init__(self, port: int):
        self.backend = port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.levels: list[int] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while len(buf) < 12:  # fixed header (2-5) + "\x00\x04MQTT" + level
            chunk = conn.recv(64)
            if not chunk:
                conn.close()
                return
            buf += chunk
        n = 1
        while buf[n] & 0x80:
            n += 1
        level = buf[n + 1 + 6]
        self.levels.append(level)
        if level == 5:
            conn.sendall(b"\x20\x02\x00\x01")
            conn.close()
            return
        back = socket.create_connection(("127.0.0.1", self.backend))
        back.sendall(buf)
        threading.Thread(target=self._pump, args=(back, conn), daemon=True).start()
        self._pump(conn, back)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def subscribed_client(settings: MqttSettings, client_id: str, topic: str, on_message, *,
                      max_inflight: int | None = None):
    """A plain paho client (its network thread started) subscribed to ``topic`` at QoS 1,
    returned once the broker has confirmed the subscription: for the tests' and benches'
    remote controls and stand-in speakers."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls_ca:
        client.tls_set(ca_certs=str(settings.tls_ca))
    if max_inflight is not None:
        client.max_inflight_messages_set(max_inflight)
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(settings.host, settings.port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    if not subscribed.wait(10):
        client.loop_stop()
        raise RuntimeError(f"{client_id}: {topic} not subscribed within 10 s")
    return client


class ProvisionedBroker(Broker):
    """Mosquitto started from a broker folder that ``moodspeaker-train speakers`` made: its
    ``moodspeaker.conf`` as written, plus only the test's log file (and ``user root``
    when the tests run as root). Provision with ``--port`` (and ``--tls-port``) set to free
    ports and ``--persistence-dir`` inside the test's temp folder."""

    def __init__(self, broker_dir: Path, *, certs: Certs | None = None):
        if MOSQUITTO is None:
            raise RuntimeError(SKIP_REASON)
        import json

        state = json.loads((broker_dir / "broker.json").read_text())["listeners"]
        self.folder = broker_dir
        self.port = int(state["port"])
        self.tls_port = int(state["tls"]["port"]) if state["tls"] else None
        self.certs = certs
        self.users = {}
        self.proc = None
        self.log = broker_dir / "mosquitto.log"
        Path(state["persistence"]).mkdir(parents=True, exist_ok=True)
        extra = [f"log_dest file {self.log}", "log_type all"]
        if os.geteuid() == 0:
            extra.append("user root")
        self.conf = broker_dir / "test-mosquitto.conf"
        self.conf.write_text((broker_dir / "moodspeaker.conf").read_text()
                             + "\n# test only\n" + "\n".join(extra) + "\n")

    def settings(self, **overrides) -> MqttSettings:
        base: dict = {"host": self.host, "port": self.port}
        base.update(overrides)
        return MqttSettings(**base)

    def tls_settings(self, **overrides) -> MqttSettings:
        assert self.tls_port is not None and self.certs is not None
        return self.settings(port=self.tls_port, tls_ca=self.certs.ca, **overrides)

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads the password file and the ACL again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)


def read_credentials(path: Path) -> dict:
    """The ``[mqtt]`` table of a provisioned ``speakers/NAME.toml`` or ``clients/NAME.toml``."""
    import tomllib

    return tomllib.loads(path.read_text())["mqtt"]


def provision(broker_dir: Path, *argv: str) -> str:
    """``moodspeaker-train speakers ARGV --broker-dir DIR`` in process; its stdout. A user
    error raises (the exit status is 2)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from trainer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["speakers", *argv, "--broker-dir", str(broker_dir)])
    if rc != 0:
        raise ProvisionError(rc, err.getvalue())
    return out.getvalue()


class ProvisionError(Exception):
    def __init__(self, rc: int, message: str):
        super().__init__(f"exit {rc}: {message}")
        self.rc, self.message = rc, message


def provision_broker(broker_dir: Path, speakers: list[str], *extra: str,
                     certs: Certs | None = None) -> ProvisionedBroker:
    """A broker folder with ``speakers`` (and the service users) on free loopback ports,
    persistence inside it; started."""
    args = ["--host", "127.0.0.1", "--bind", "127.0.0.1", "--port", str(free_port()),
            "--persistence-dir", str(broker_dir / "data"), *extra]
    if certs is not None:
        args += ["--tls-ca", str(certs.ca), "--tls-cert", str(certs.server_cert),
                 "--tls-key", str(certs.server_key), "--tls-port", str(free_port())]
    for n, name in enumerate(speakers):
        provision(broker_dir, "add", name, *(args if n == 0 else ()))
    return ProvisionedBroker(broker_dir, certs=certs).start()


def credentials(broker_dir: Path, user: str) -> tuple[str, str]:
    """(username, password) of a provisioned user."""
    path = broker_dir / "speakers" / f"{user}.toml"
    if not path.exists():
        path = broker_dir / "clients" / f"{user}.toml"
    mqtt = read_credentials(path)
    return mqtt["username"], mqtt["password"]


class Peer:
    """A plain MQTT 5 client (``device.shared.mqtt_client``) logged in as one user,
    subscribed to ``subscribe`` once connected; it records what it receives and the
    broker's answer to each of its publishes (PUBACK reason: ``is_failure`` when the ACL
    refused it)."""

    def __init__(self, settings: MqttSettings, client_id: str, subscribe=(), *,
                 persistent: bool = False):
        import queue

        from device.shared.mqtt_client import connect, make_client

        self.messages: queue.Queue = queue.Queue()
        self.granted: list = []
        self.published: dict[int, object] = {}
        self.disconnects: list[object] = []
        self.connected = threading.Event()
        done = threading.Event()
        topics = list(subscribe)

        def on_connect(c, u, f, rc, p):
            self.connected.set()
            if topics:
                c.subscribe([(t, 1) for t in topics])
            else:
                done.set()

        def on_subscribe(c, u, mid, reason_codes, p):
            self.granted = list(reason_codes)
            done.set()

        def on_publish(c, u, mid, reason, p):
            self.published[mid] = reason

        def on_disconnect(c, u, f, reason, p):
            self.connected.clear()
            self.disconnects.append(reason)

        def build():
            c = make_client(settings, client_id, persistent=persistent)
            c.on_connect, c.on_subscribe, c.on_publish = on_connect, on_subscribe, on_publish
            c.on_disconnect = on_disconnect
            c.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload)))
            return c

        self.client = connect(build(), settings, timeout=5)
        if not done.wait(5):
            raise RuntimeError(f"{client_id}: not subscribed within 5 s")

    def publish(self, topic: str, payload: bytes | str, retain: bool = False):
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return self.published.get(info.mid)

    def received(self, timeout: float = 0.5) -> list[tuple[str, bytes]]:
        import queue

        out = []
        try:
            while True:
                out.append(self.messages.get(timeout=timeout))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
