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
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from device.shared.mqtt_client import MqttSettings

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or (
    "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
)
SKIP_REASON = (
    "mosquitto is not installed: `bash bootstrap.sh test` installs it (apt package mosquitto)"
)

# The README's ACL: each device (username = device id) only under its own tree and its own
# Home Assistant discovery topic; the trainer and Home Assistant see every device.
README_ACL = """\
pattern readwrite moodspeaker/%u/#
pattern readwrite homeassistant/device/%u/config
pattern read homeassistant/status

user trainer
topic readwrite moodspeaker/#

user homeassistant
topic readwrite moodspeaker/#
topic readwrite homeassistant/#
"""


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
