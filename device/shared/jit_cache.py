"""One process at a time writes numba's on-disk JIT cache.

Why: librosa compiles its numba kernels with ``cache=True``, and numba stores a
guvectorize kernel as two cache files. Two processes compiling on a cold cache at once can
leave halves of different builds side by side, and every process that loads them later
dies with a segmentation fault (numba issue #10128). Reproduced here: four extractions
started together on an empty cache crashed in three of six rounds. A first boot does just
that when the speaker's background scorer and a ``library scan`` start together, and so
did the test suite on a fresh clone.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".moodspeaker-jit.lock"


def cache_dir(package: str = "librosa") -> Path:
    """Where numba writes ``package``'s cache, in numba's own order: ``NUMBA_CACHE_DIR``,
    else beside the package's sources when writable, else the user-wide cache folder."""
    if env := os.environ.get("NUMBA_CACHE_DIR"):
        return Path(env)
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin:
        sources = Path(spec.origin).parent
        if os.access(sources, os.W_OK):
            return sources
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


@contextmanager
def compile_lock(package: str = "librosa") -> Iterator[None]:
    """Hold an exclusive lock beside ``package``'s JIT cache while importing and first
    calling it. Where no lock file can be made, numba cannot write a cache there either,
    so there is nothing to serialise."""
    directory = cache_dir(package)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock; so does the death of the process
