"""systemd's notify protocol (``Type=notify``), in a few lines of ``socket``.

The service tells systemd when it is really ready (library scanned, model loaded, player
up: ``READY=1``), that its main loop is alive (``WATCHDOG=1`` at half of ``WatchdogSec``:
a hung loop is killed and restarted), what it is doing (``STATUS=``, shown by
``systemctl status``) and that it is shutting down (``STOPPING=1``). Outside systemd
($NOTIFY_SOCKET unset) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic):
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket (a leading NUL byte); anything else is a path
        self.address: str | bytes | None = (
            b"\0" + addr[1:].encode() if addr.startswith("@") else addr or None
        )
        self.watchdog_s = self._watchdog_interval(env)
        self._clock = clock
        self._last_ping = float("-inf")
        self._last_status: str | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _watchdog_interval(env: Mapping[str, str]) -> float | None:
        """Half of $WATCHDOG_USEC, if the watchdog is on and meant for this process."""
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2e6 if int(usec) > 0 else None
        except ValueError:
            return None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; never raises (logs once instead).
        Called from the loop (watchdog) and a listener thread (status), hence the lock."""
        if self.address is None:
            return False
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX,
                                               socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s; notifications off", self.address, exc)
            self.address = None
            return False

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> None:
        """From the speaker loop, every tick: pings when due, so a hung loop is noticed."""
        now = self._clock()
        if self.watchdog_s is not None and now - self._last_ping >= self.watchdog_s:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """From an event listener: ``systemctl status`` shows the text when it changed."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
