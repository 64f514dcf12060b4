"""Valence and arousal for every indexed track: in the foreground (``library scan``) or on
a low-priority background thread while music already plays (the speaker's first start).

Scores are cached in the index rows (see ``device.library.index``), so only new, changed
or never-scored tracks cost audio decoding. A file the decoder cannot read gets
``va_error`` instead of scores and stays playable by genre.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..audio_features import AudioDecodeError
from ..music_mood import MusicMoodModel
from .index import LibraryIndex, Scored

log = logging.getLogger(__name__)

BATCH = 16
LOG_EVERY_S = 30.0


@dataclass(frozen=True)
class ScoreProgress:
    done: int = 0  # scored in this run, undecodable included
    failed: int = 0  # undecodable in this run
    total: int = 0  # to score in this run
    finished: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        return (f"music mood: {self.done}/{self.total} tracks scored in {self.seconds:.1f} s"
                f" ({rate:.1f}/s), {self.failed} undecodable (kept, picked by genre only)")

    @property
    def short(self) -> str:
        """For the status line while the background scorer runs."""
        return f"scoring {self.done}/{self.total}"


def score_one(model: MusicMoodModel, path: str) -> tuple[float | None, float | None, str | None]:
    try:
        s = model.score_file(path)
    except AudioDecodeError as exc:
        return None, None, str(exc)
    except Exception as exc:  # a decoder or DSP failure on one odd file must not stop the scan
        return None, None, f"cannot analyse audio: {type(exc).__name__}: {exc}"
    return s.valence, s.arousal, None


def score_library(
    index: LibraryIndex,
    model: MusicMoodModel,
    *,
    stop: threading.Event | None = None,
    on_batch: Callable[[list[Scored]], None] | None = None,
    progress: Callable[[ScoreProgress], None] | None = None,
) -> ScoreProgress:
    """Score every playable row this model has not scored yet; returns the final progress.

    BLAS runs single-threaded meanwhile: its thread pool spinning on a second core cost
    more than it saved (12 against 6 tracks per CPU-second in ``bench/music_mood.py``)."""
    with _one_blas_thread():
        return _score_all(index, model, stop, on_batch, progress)


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with librosa's scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _score_all(index, model, stop, on_batch, progress) -> ScoreProgress:
    todo = index.to_score(model.version)
    t0 = time.perf_counter()
    done = failed = 0
    batch: list[Scored] = []
    last_log = t0

    def flush() -> None:
        if batch:
            index.save_scores(model.version, batch)
            if on_batch:
                on_batch(list(batch))
            batch.clear()

    for row in todo:
        if stop is not None and stop.is_set():
            break
        valence, arousal, error = score_one(model, row.path)
        if error:
            failed += 1
            log.warning("library: no mood scores for %s: %s", row.path, error)
        batch.append(Scored(row.track_id, row.mtime, row.size, valence, arousal, error))
        done += 1
        if len(batch) >= BATCH:
            flush()
            now = time.perf_counter()
            state = ScoreProgress(done, failed, len(todo), False, now - t0)
            if progress:
                progress(state)
            if now - last_log >= LOG_EVERY_S:
                log.info("library: %s", state.summary())
                last_log = now
    flush()
    state = ScoreProgress(done, failed, len(todo), True, time.perf_counter() - t0)
    if progress:
        progress(state)
    return state


def lower_thread_priority(niceness: int) -> None:
    """Linux schedules threads individually: renice only this thread (best effort)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (OSError, AttributeError) as exc:
        log.debug("cannot lower the scorer's priority: %s", exc)


class BackgroundScorer:
    """Scores the index on its own thread and connection, at low CPU priority.

    ``on_batch`` receives each batch of results on the scorer thread: hand them to the
    picker with ``Picker.offer_scores`` (thread-safe). ``progress`` is the latest state,
    for the status line."""

    def __init__(self, index_path: Path, model: MusicMoodModel, *,
                 on_batch: Callable[[list[Scored]], None] | None = None,
                 niceness: int = 19):
        self.index_path = Path(index_path)
        self.model = model
        self.on_batch = on_batch
        self.niceness = niceness
        self.progress = ScoreProgress()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mood-scorer", daemon=True)

    def start(self) -> BackgroundScorer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _set(self, state: ScoreProgress) -> None:
        self.progress = state

    def _run(self) -> None:
        lower_thread_priority(self.niceness)
        try:
            with LibraryIndex(self.index_path) as index:
                pending = len(index.to_score(self.model.version))
                if pending:
                    log.info("library: scoring the mood of %d tracks in the background", pending)
                final = score_library(index, self.model, stop=self._stop,
                                      on_batch=self.on_batch, progress=self._set)
        except Exception:  # the speaker keeps playing by genre; say why scores stopped
            log.exception("library: background mood scoring stopped")
            return
        if final.total:
            log.info("library: %s", final.summary())
