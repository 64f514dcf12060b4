"""Assemble a Speaker from a Config: library, taste, camera + estimator, player, journal.

Kept apart from the loop so that the loop can be tested with fakes and ``run``/``demo``
share one wiring. ``serve()`` adds what a process needs: signals, the status line and a
clean shutdown on SIGTERM/SIGINT or after ``--seconds``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .camera import open_source
from .config import Config
from .errors import UserError
from .journal import Journal
from .learning import FeedbackTable, LearningRule
from .library import IndexCatalog, LibraryIndex, scan_library
from .mood_watch import Backoff, FixedMood, MoodSource, MoodWatcher
from .picker import Picker
from .sdnotify import Notifier
from .speaker import (
    MoodPolicy,
    ResumePolicy,
    Speaker,
    SpeakerStats,
    SpeakerStatus,
    VolumePolicy,
)
from .status import StatusLine, format_short

log = logging.getLogger(__name__)


class FlatTaste:
    """Every genre 5/10: used only when the models folder has no taste artifact at all."""

    def __init__(self, genres: tuple[str, ...]):
        self.genres = genres

    def genre_scores(self, user: str, mood: str) -> dict[str, float]:
        return dict.fromkeys(self.genres, 5.0)

    def track_scores(self, user, mood, track_ids) -> dict[str, float]:
        return {}


def load_taste_or_flat(models_dir: Path):
    """The taste artifact; a flat table (with a warning) only if none is shipped at all.
    A taste artifact that is present but broken is an error, never silently replaced."""
    from .genres import GENRES
    from .manifest import load_manifest
    from .taste import load_taste

    manifest = load_manifest(models_dir) if (Path(models_dir) / "manifest.json").exists() else None
    if manifest is None or manifest.taste is None:
        log.warning("%s: no taste model; every genre scores 5/10", models_dir)
        return FlatTaste(GENRES)
    return load_taste(models_dir)


def make_mood_watcher(cfg: Config) -> MoodWatcher:
    from .perception.estimator import MoodEstimator
    from .perception.smoothing import MoodSmoother

    estimator = MoodEstimator.from_models_dir(cfg.models.dir, threads=cfg.models.threads)
    c = cfg.camera

    def make_source():
        return open_source(c.source, width=c.width, height=c.height, fps=c.fps,
                           replay_repeat=c.replay_repeat, replay_loop=c.replay_loop)

    make_source()  # a malformed source spec fails now, at start, not in the thread
    return MoodWatcher(
        make_source, estimator.analyze, MoodSmoother(), fps=c.fps,
        backoff=Backoff(c.retry_initial_s, c.retry_max_s),
        snapshot_dir=cfg.state.dir / "snapshots" if c.debug_snapshots else None,
        snapshot_keep=c.debug_snapshots_keep,
    )


def user_file(cfg: Config) -> Path:
    """Where ``moodspeaker user NAME`` records the active user for a running speaker."""
    return cfg.state.dir / "active_user"


@dataclass
class Parts:
    speaker: Speaker
    journal: Journal
    index: LibraryIndex
    player: object
    mood: MoodSource


def scan(cfg: Config, index: LibraryIndex) -> None:
    report = scan_library(cfg.library.path, index, genre_overrides=cfg.library.genre_overrides)
    log.info("library: %s", report.summary())
    for path, err in report.broken[:20]:
        log.warning("library: broken file %s: %s", path, err)


@contextlib.contextmanager
def build(
    cfg: Config,
    *,
    mood: MoodSource | None = None,
    on_status: Callable | None = None,
) -> Iterator[Parts]:
    """Open everything a Speaker needs; closes it all (journal last) on exit."""
    from .player import VlcPlayer, make_output

    cfg.state.dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(cfg.journal_path)
    index = LibraryIndex(cfg.library_index_path)
    player = None
    try:
        if cfg.library.rescan_on_start or not index.tracks(playable_only=False):
            scan(cfg, index)
        tracks = index.tracks()
        if not tracks:
            raise UserError(
                f"library.path: no playable tracks in {cfg.library.path} "
                "(mp3, ogg, flac, m4a, wav with a genre tag or a genre folder name)"
            )
        taste = load_taste_or_flat(cfg.models.dir)
        rule = LearningRule(cfg.learning.enabled, cfg.learning.skip_within_s,
                            cfg.learning.max_adjust, cfg.learning.shrinkage)
        import random

        picker = Picker(
            tracks, taste, temperature=cfg.picker.temperature, no_repeat=cfg.picker.no_repeat,
            candidates=cfg.picker.candidates,
            feedback=FeedbackTable(rule, journal.feedback_counts(cfg.user.active)),
            rng=random.Random(cfg.picker.seed),
        )
        if mood is None:
            mood = FixedMood() if cfg.camera.source == "none" else make_mood_watcher(cfg)
        player = VlcPlayer(make_output(cfg.audio.output))
        speaker = Speaker(
            player=player, picker=picker, journal=journal, mood=mood,
            library=IndexCatalog(index, cfg.library.path), user=cfg.user.active,
            user_file=user_file(cfg), learning=rule,
            mood_policy=MoodPolicy(cfg.mood.switch_confidence, cfg.mood.switch_after_s),
            resume=ResumePolicy(cfg.resume.enabled, cfg.resume.after_stop,
                                cfg.resume.max_age_s, cfg.resume.rewind_s),
            volume=VolumePolicy(cfg.audio.volume, cfg.audio.startup_volume_cap,
                                cfg.audio.fade_s),
            position_interval_s=cfg.journal.position_interval_s, on_status=on_status,
            first_mood_wait_s=cfg.mood.first_wait_s if isinstance(mood, MoodWatcher) else 0.0,
        )
        yield Parts(speaker, journal, index, player, mood)
    finally:
        if player is not None:
            player.release()
        index.close()
        journal.close()


def serve(cfg: Config, *, seconds: float | None = None, mood: MoodSource | None = None,
          status: StatusLine | None = None, notifier: Notifier | None = None) -> SpeakerStats:
    """Run the speaker in this process until SIGTERM/SIGINT or ``seconds``; under systemd,
    report readiness, watchdog pings and a short status over $NOTIFY_SOCKET."""
    status = status or StatusLine()
    notifier = notifier or Notifier()
    stop = threading.Event()

    def on_status(st: SpeakerStatus) -> None:
        status(st)
        notifier.tick(format_short(st))

    def on_signal(signum, _frame):
        log.info("signal %d: stopping", signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with build(cfg, mood=mood, on_status=on_status) as parts:
            watcher = parts.mood if isinstance(parts.mood, MoodWatcher) else None
            if watcher is not None:
                watcher.start()
            notifier.ready(f"{parts.speaker.picker.size} tracks; starting")
            try:
                return parts.speaker.run(stop, seconds)
            finally:
                notifier.stopping()
                if watcher is not None:
                    watcher.stop()
                status.close()
    finally:
        notifier.close()
        for s, h in previous.items():
            signal.signal(s, h)
