"""systemd notify protocol over a real AF_UNIX datagram socket (what systemd listens on)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from device.system.sdnotify import Notifier
from tests.harness.libvlc import require_libvlc


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


def _drain(sock) -> list[str]:
    out = []
    sock.settimeout(0.05)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except TimeoutError:
        return out


def test_ready_watchdog_status_and_stopping(notify_socket):
    sock, path = notify_socket
    t = [0.0]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier(env, clock=lambda: t[0])
    assert n.enabled and n.watchdog_s == 5.0
    n.ready("12 tracks")
    assert sock.recv(4096) == b"READY=1\nSTATUS=12 tracks"
    n.watchdog()
    n.status("happy")
    assert _drain(sock) == ["WATCHDOG=1", "STATUS=happy"]
    t[0] = 1.0
    n.watchdog()  # nothing due, nothing new: no datagram
    n.status("happy")
    t[0] = 5.0
    n.watchdog()
    t[0] = 6.0
    n.status("sad")
    n.stopping()
    assert _drain(sock) == ["WATCHDOG=1", "STATUS=sad", "STOPPING=1"]
    n.close()


def test_abstract_socket_and_no_systemd():
    name = f"moodspeaker-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.watchdog_s is None  # no WatchdogSec in the unit
        n.ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()
    quiet = Notifier({})
    assert not quiet.enabled and quiet.send("READY=1") is False
    # a watchdog meant for another process (a child) is not ours to ping
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                     "WATCHDOG_PID": "1"}).watchdog_s is None


def test_a_dead_socket_turns_notifications_off_without_raising(tmp_path):
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.send("READY=1") is False and not n.enabled


def test_serve_notifies_ready_watchdog_and_stopping(notify_socket, tmp_path):
    require_libvlc()
    from device.perception.mood_watch import FixedMood
    from device.system.app import serve
    from device.system.config import config_from_dict
    from device.system.demo import make_library

    sock, path = notify_socket
    make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    cfg = config_from_dict({
        "library": {"path": str(tmp_path / "lib")}, "state": {"dir": str(tmp_path / "s")},
        "audio": {"output": "dummy", "fade_s": 0.1}, "camera": {"source": "none"},
    })
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}  # ping every 0.2 s
    got: list[str] = []

    def listen():
        sock.settimeout(10)
        while not got or got[-1] != "STOPPING=1":
            got.extend(sock.recv(4096).decode().split("\n"))

    t = threading.Thread(target=listen)
    t.start()
    serve(cfg, seconds=2.0, mood=FixedMood(), notifier=Notifier(env))
    t.join(10)
    assert got[0] == "READY=1" and got[-1] == "STOPPING=1"
    assert got.count("WATCHDOG=1") >= 5
    assert any(f.startswith("STATUS=user default, mood unknown") for f in got)
