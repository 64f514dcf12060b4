"""Valence and arousal for every indexed track: in the foreground (``library scan``) or on
a low-priority background thread while music already plays (the speaker's first start).

Scores are cached in the index rows (see ``device.music.library.index``), so only new, changed
or never-scored tracks cost audio decoding. A file the decoder cannot read gets
``va_error`` instead of scores and stays playable by genre.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

from device.music.library.index import LibraryIndex, Scored
from device.shared.audio_features import AudioDecodeError
from device.shared.music_mood import MusicMoodModel, load_music_mood

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
        from threadpoolctl import threadpool_limits  # optional: else BLAS keeps its threads
    except ImportError:  # pragma: no cover - installed with librosa's scikit-learn
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


class BackgroundScorer:
    """Scores the index in a child process at low priority, while the music plays.

    librosa's decoders and numba's compiled kernels take about 300 MB once a file has been
    scored; in a child process that memory is returned when the scoring is done (a Pi's
    speaker stays near 150 MB), and the child, not the speaker, is the one the kernel
    kills if memory runs out (its ``oom_score_adj`` is 1000). The child writes the scores
    to the index itself and reports each batch on its stdout as a JSON line; ``on_batch``
    receives them on this object's thread (hand them to ``Picker.offer_scores``, which is
    thread-safe). ``progress`` is the latest state, for the status line."""

    def __init__(self, index_path: Path, models_dir: Path, *,
                 on_batch: Callable[[list[Scored]], None] | None = None,
                 niceness: int = 19):
        self.index_path = Path(index_path)
        self.models_dir = Path(models_dir)
        self.on_batch = on_batch
        self.niceness = niceness
        self.progress = ScoreProgress()
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a stop during the child's start still reaches it
        self._thread = threading.Thread(target=self._run, name="mood-scorer", daemon=True)

    def start(self) -> BackgroundScorer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        cmd = [sys.executable, "-m", "device.music.library.scoring", str(self.index_path),
               str(self.models_dir)]
        with self._lock:
            if self._stop.is_set():  # stopped before it started: start nothing
                return
            try:
                self._proc = subprocess.Popen(
                    [*cmd, str(self.niceness)], stdout=subprocess.PIPE, stderr=None, text=True,
                    cwd=Path(__file__).resolve().parents[3])
            except OSError as exc:
                log.error("library: cannot start the mood scorer: %s", exc)
                return
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.progress = ScoreProgress(*msg["progress"])
            batch = [Scored(*row) for row in msg.get("batch", ())]
            if batch and self.on_batch is not None:
                self.on_batch(batch)
        code = self._proc.wait()
        if code and not self._stop.is_set():
            log.error("library: the mood scorer stopped (exit %d); tracks without scores are"
                      " picked by genre only", code)
        elif self.progress.total:
            log.info("library: %s", self.progress.summary())


def _lower_priority(niceness: int) -> None:
    """In the child: low CPU priority, and first in line for the OOM killer."""
    with contextlib.suppress(OSError):
        os.nice(niceness)
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


def _child(index_path: str, models_dir: str, niceness: str = "19") -> int:
    """``python -m device.music.library.scoring INDEX MODELS [NICE]``: score, one JSON line a
    batch."""
    _lower_priority(int(niceness))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = load_music_mood(models_dir)
    if model is None:
        return 0
    out: list[Scored] = []

    def keep(batch: list[Scored]) -> None:
        out.extend(batch)

    def report(state: ScoreProgress) -> None:
        rows = [[r.track_id, r.mtime, r.size, r.valence, r.arousal, r.error] for r in out]
        out.clear()
        print(json.dumps({"progress": list(astuple(state)), "batch": rows}), flush=True)

    with LibraryIndex(Path(index_path)) as index:
        pending = len(index.to_score(model.version))
        if pending:
            log.info("library: scoring the mood of %d tracks in the background", pending)
        report(score_library(index, model, on_batch=keep, progress=report))
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
