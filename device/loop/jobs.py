"""Slow work the speaker loop must not do itself: a library rescan, a model reload,
another listener's learning state, and the tracks' mood scores.

One worker thread runs the first three in turn, each with its own SQLite connection; the
result goes to the ``then`` callback, which the loop has wrapped so that it runs back on
the loop thread. A failure comes back as the exception, never as a dead thread. Mood
scoring has its own low-priority thread (``device.music.library.scoring.BackgroundScorer``),
started again after a rescan or with a new model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from device.music.library import LibraryIndex, Track
from device.music.library.scoring import BackgroundScorer

log = logging.getLogger(__name__)


class MoodScoring:
    """The one background scorer (or none, without a music-mood model)."""

    def __init__(self, index_path: Path, on_batch: Callable):
        self.index_path = index_path
        self.on_batch = on_batch
        self.models_dir: Path | None = None
        self._scorer: BackgroundScorer | None = None
        self._lock = threading.Lock()

    def start(self, models_dir: Path | None = None, *, has_model: bool = True) -> None:
        """Score what the index lacks, with the model in ``models_dir`` (default: the one in
        use); ``has_model`` False: that folder has no music-mood model, nothing to score."""
        with self._lock:
            if models_dir is not None:
                self.models_dir = models_dir if has_model else None
            if self._scorer is not None:
                self._scorer.stop()
            self._scorer = None
            if self.models_dir is not None:
                self._scorer = BackgroundScorer(self.index_path, self.models_dir,
                                                on_batch=self.on_batch).start()

    def activity(self) -> str | None:
        """For the status line: "scoring 120/1000" while it runs."""
        scorer = self._scorer
        if scorer is None or not scorer.running or not scorer.progress.total:
            return None
        return scorer.progress.short

    def stop(self) -> None:
        with self._lock:
            if self._scorer is not None:
                self._scorer.stop()
                self._scorer = None


class BackgroundJobs:
    def __init__(
        self,
        *,
        scan: Callable[[LibraryIndex], None],
        index_path: Path,
        load_models: Callable[[], object],
        load_learning: Callable[[str], object],
        scoring: MoodScoring | None = None,
    ):
        self._scan = scan
        self._index_path = index_path
        self._load_models = load_models
        self._load_learning = load_learning
        self.scoring = scoring
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
            if self.scoring is not None and not isinstance(result, Exception):
                self.scoring.start()  # new and changed files get their scores
            then(result)

        self._pool.submit(job)
        return True

    def reload(self, then: Callable[[object | Exception], None]) -> None:
        self._run(self._load_models, then)

    def learning(self, user: str, then: Callable[[object | Exception], None]) -> None:
        """Another listener's learning state, rebuilt from the journal."""
        self._run(lambda: self._load_learning(user), then)

    def _run(self, fn: Callable[[], object], then: Callable[[object | Exception], None]
             ) -> None:
        def job() -> None:
            try:
                result = fn()
            except Exception as exc:
                result = exc
            then(result)

        self._pool.submit(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.scoring is not None:
            self.scoring.stop()
