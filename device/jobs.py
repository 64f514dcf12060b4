"""Slow work the speaker loop must not do itself: a library rescan and a model reload.

One worker thread runs them in turn, each with its own SQLite connection; the result goes
to the ``then`` callback, which the loop has wrapped so that it runs back on the loop
thread. A failure comes back as the exception, never as a dead thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .library import LibraryIndex, Track

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(
        self,
        *,
        scan: Callable[[LibraryIndex], None],
        index_path: Path,
        load_models: Callable[[], object],
    ):
        self._scan = scan
        self._index_path = index_path
        self._load_models = load_models
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")
        self._scanning = threading.Event()

    def rescan(self, then: Callable[[list[Track] | Exception], None]) -> bool:
        if self._scanning.is_set():
            return False
        self._scanning.set()

        def job() -> None:
            try:
                with LibraryIndex(self._index_path) as index:
                    self._scan(index)
                    result: list[Track] | Exception = index.tracks()
            except Exception as exc:
                log.exception("rescan failed")
                result = exc
            finally:
                self._scanning.clear()
            then(result)

        self._pool.submit(job)
        return True

    def reload(self, then: Callable[[object | Exception], None]) -> None:
        def job() -> None:
            try:
                result = self._load_models()
            except Exception as exc:
                result = exc
            then(result)

        self._pool.submit(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
