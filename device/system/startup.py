"""What must hold before the speaker starts: it alone owns its state folder, and its music
folder is there.

Two speakers on one state folder would close each other's listens; an exclusive ``flock``
on ``<state>/moodspeaker.lock`` (released by the kernel whatever way the process ends)
prevents it, and the refusal names the PID that holds it. A music folder that is not
mounted yet at boot is waited for, with backoff, the reason in the status and the log,
and watchdog pings meanwhile, instead of exiting and being restarted every few seconds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from device.music.library.catalog import library_reachable
from device.shared.backoff import Backoff
from device.shared.errors import UserError

log = logging.getLogger(__name__)

LOCK_NAME = "moodspeaker.lock"


class StateLock:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(
                f"{self.path.parent}: another Moodspeaker (PID {holder}) is already using this"
                " state folder; stop it first (systemctl stop moodspeaker), or give this one"
                " its own [state] dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (harmless)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def wait_for_library(
    path: Path,
    stop: threading.Event,
    *,
    say: Callable[[str], None],
    ping: Callable[[], None],
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Block until ``path`` is reachable (True) or ``stop`` is set (False). ``say`` gets
    the reason for the status line and systemd; ``ping`` keeps the watchdog fed."""
    backoff = backoff or Backoff(2.0, 60.0)
    attempt = 0
    while not library_reachable(path):
        attempt += 1
        delay = backoff.delay(attempt)
        why = (f"library.path {path} is missing or empty (not mounted yet?); "
               f"looking again in {delay:.0f} s")
        log.warning("%s", why)
        say(f"waiting: {why}")
        until = clock() + delay
        while clock() < until:
            ping()
            if stop.wait(min(1.0, max(0.0, until - clock()))):
                return False
    if attempt:
        log.info("library.path %s is there now", path)
    return True
