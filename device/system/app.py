"""Assemble a Speaker from a Config: library, models, camera + estimator, player, journal,
background jobs; and run it with its listeners.

Kept apart from the loop so that the loop can be tested alone and ``run``/``demo`` share
one wiring. ``run_speaker()`` adds what a running speaker needs (the state lock, waiting
for the music folder, the status line and systemd as event listeners, the camera thread,
the MQTT bridge); ``serve()`` adds the signals: a clean shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from device.loop.context import Clock, LoopParts, LoopSettings, SpeakerStats
from device.loop.events import EventBus, TrackEnded
from device.loop.jobs import BackgroundJobs, MoodScoring
from device.loop.speaker import Speaker
from device.music.library import IndexCatalog, LibraryIndex, scan_library
from device.music.library.catalog import library_reachable
from device.music.picker_setup import (
    learning_for,
    learning_rule,
    learnt_until,
    load_mood_model,
    load_taste_or_flat,
    make_picker,
)
from device.perception.camera import open_source
from device.perception.estimator import MoodEstimator
from device.perception.mood_watch import FixedMood, MoodSource, MoodWatcher
from device.perception.smoothing import MoodSmoother
from device.playback import Player, VlcPlayer, make_output
from device.shared.backoff import Backoff
from device.shared.errors import UserError
from device.shared.manifest import load_manifest, verify_file
from device.shared.sqlite import disk_full, free_bytes
from device.shared.taste import load_taste
from device.storage.active_user import active_user, user_file
from device.storage.journal import Journal
from device.storage.model_store import ModelStore, manifest_files
from device.system.config import Config
from device.system.sdnotify import Notifier
from device.system.startup import StateLock, wait_for_library
from device.system.status import StatusLine, format_short

log = logging.getLogger(__name__)


def make_mood_watcher(cfg: Config, models_dir: Path) -> MoodWatcher:
    c = cfg.camera

    def make_source():
        return open_source(c.source, width=c.width, height=c.height, fps=c.fps,
                           replay_repeat=c.replay_repeat, replay_loop=c.replay_loop)

    make_source()  # a malformed source spec fails now, at start, not in the thread
    return MoodWatcher(
        make_source, load_estimator(cfg, models_dir).analyze, MoodSmoother(), fps=c.fps,
        backoff=Backoff(c.retry_initial_s, c.retry_max_s),
        snapshot_dir=cfg.state.dir / "snapshots" if c.debug_snapshots else None,
        snapshot_keep=c.debug_snapshots_keep,
    )


def load_estimator(cfg: Config, models_dir: Path):
    return MoodEstimator.from_models_dir(models_dir, threads=cfg.models.threads)


def check_models(cfg: Config, directory: Path) -> None:
    """Refuse a model set the speaker could not run: every file matches the manifest, the
    FER model loads in the TFLite runtime, the taste and music-mood models load (what a
    delivery must pass before it replaces the set in use)."""
    for name, sha in manifest_files(directory).items():
        verify_file(directory / name, sha)
    manifest = load_manifest(directory)
    if manifest.fer is not None:
        load_estimator(cfg, directory)
    if manifest.taste is not None:
        load_taste(directory)
    load_mood_model(directory)


@dataclass
class Parts:
    speaker: Speaker
    journal: Journal
    index: LibraryIndex
    player: Player
    mood: MoodSource
    bus: EventBus
    jobs: BackgroundJobs
    models: ModelStore


def scan(cfg: Config, index: LibraryIndex) -> None:
    """Rescan into the index; on a full disk the index stays as it was and the speaker
    plays from it (a warning names the disk)."""
    if index.read_only:
        log.warning("library: not rescanned: the index is read-only while the disk is full")
        return
    try:
        report = scan_library(cfg.library.path, index,
                              genre_overrides=cfg.library.genre_overrides)
    except sqlite3.OperationalError as exc:
        if not disk_full(exc, index.path.parent):
            raise
        log.warning("library: the index could not be updated, the disk holding %s is full"
                    " (%d KiB free); playing from the index as it was", index.path.parent,
                    free_bytes(index.path.parent) // 1024)
        return
    log.info("library: %s", report.summary())
    for path, err in report.broken[:20]:
        log.warning("library: broken file %s: %s", path, err)


@contextlib.contextmanager
def build(
    cfg: Config,
    *,
    mood: MoodSource | None = None,
    bus: EventBus | None = None,
    watchdog: Callable[[], None] | None = None,
    player: Player | None = None,
    clock: Clock | None = None,
) -> Iterator[Parts]:
    """Open everything a Speaker needs; closes it all (journal last) on exit. Tests may
    hand in a player (``FakePlayer``) and the clock it runs on; else libvlc plays."""

    cfg.state.dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(cfg.journal_path, hold_when_full=True)
    index = LibraryIndex(cfg.library_index_path)
    store = ModelStore(cfg.state.dir, cfg.models.dir)
    bus = bus or EventBus()
    jobs = None
    owned_player = None
    try:
        if cfg.library.rescan_on_start or not index.tracks(playable_only=False):
            scan(cfg, index)
        tracks = index.tracks()
        if not tracks:
            raise UserError(
                f"library.path: no playable tracks in {cfg.library.path} "
                "(mp3, ogg, flac, m4a, wav with a genre tag or a genre folder name)"
            )
        models_dir = store.current()
        user = active_user(cfg)
        rule = learning_rule(cfg)
        picker = make_picker(cfg, index, load_taste_or_flat(models_dir), user=user,
                             journal=journal)
        if mood is None:
            mood = FixedMood() if cfg.camera.source == "none" else make_mood_watcher(
                cfg, models_dir)
        watcher = mood if isinstance(mood, MoodWatcher) else None
        scoring = MoodScoring(cfg.library_index_path, picker.offer_scores)

        def load_models() -> object:
            """For ``reload``: the taste model for the loop; the FER model straight into
            the camera thread (which picks it up at its next frame); a new music-mood
            model rescores the library in the background."""
            directory = store.current()
            new_taste = load_taste_or_flat(directory)
            if watcher is not None:
                watcher.replace_analyzer(load_estimator(cfg, directory).analyze)
            scoring.start(directory, has_model=load_mood_model(directory) is not None)
            return new_taste

        def load_learning(name: str) -> object:
            with Journal(cfg.journal_path) as j, LibraryIndex(cfg.library_index_path) as ix:
                # counted from the taste model's cutoff: what it learnt is not counted twice
                return learning_for(name, j, ix, rule,
                                    learnt_until(speaker.picker.taste, name))

        jobs = BackgroundJobs(scan=lambda ix: scan(cfg, ix), index_path=cfg.library_index_path,
                              load_models=load_models, load_learning=load_learning,
                              scoring=scoring)
        if player is None:
            player = owned_player = VlcPlayer(make_output(cfg.audio.output))
        parts = LoopParts(player=player, picker=picker, journal=journal, mood=mood,
                          library=IndexCatalog(index, cfg.library.path), jobs=jobs)
        settings = LoopSettings(
            user=user, user_file=user_file(cfg), learning=rule, mood=cfg.mood,
            resume=cfg.resume, audio=cfg.audio,
            position_interval_s=cfg.journal.position_interval_s,
            first_mood_wait_s=cfg.mood.first_wait_s if watcher else 0.0,
        )
        speaker = Speaker(parts, settings, bus=bus, clock=clock, watchdog=watchdog,
                          activity=scoring.activity)
        # a broken model stops the start here; scoring itself runs in a child process
        scoring.start(models_dir, has_model=load_mood_model(models_dir) is not None)
        yield Parts(speaker, journal, index, player, mood, bus, jobs, store)
    finally:
        if jobs is not None:
            jobs.close()
        if owned_player is not None:
            owned_player.release()
        index.close()
        journal.close()


def run_speaker(cfg: Config, stop: threading.Event, *, seconds: float | None = None,
                mood: MoodSource | None = None, status: StatusLine | None = None,
                notifier: Notifier | None = None,
                on_ready: Callable[[Parts], None] | None = None) -> SpeakerStats:
    """Everything ``serve`` runs, minus the signal handlers (so a test can run it on a
    thread): the status line and systemd as event listeners, the camera thread, the MQTT
    bridge when ``[mqtt] host`` is set, and the loop until ``stop`` or ``seconds``."""
    status = status or StatusLine()
    notifier = notifier or Notifier()
    lock = StateLock(cfg.state.dir)
    lock.acquire()  # before anything is written: a second instance is refused here
    bus = EventBus()
    # a track's end is followed at once by the next start: not worth a "stopped" line
    bus.subscribe("status-line",
                  lambda e: None if isinstance(e, TrackEnded) else status(e.status))
    bus.subscribe("systemd", lambda e: notifier.status(format_short(e.status)))
    try:
        if not library_reachable(cfg.library.path):
            notifier.ready("waiting for the music folder")  # up, and fed by the watchdog
            if not wait_for_library(cfg.library.path, stop, say=notifier.status,
                                    ping=notifier.watchdog):
                return SpeakerStats()
        with build(cfg, mood=mood, bus=bus, watchdog=notifier.watchdog) as parts:
            watcher = parts.mood if isinstance(parts.mood, MoodWatcher) else None
            if watcher is not None:
                watcher.start()
            bridge = None
            if cfg.mqtt.host is not None:
                # optional feature: paho, ssl and http load only when [mqtt] host is set
                # (tests/test_layout.py OPTIONAL_FEATURES)
                from device.mqtt.bridge import MqttBridge

                bridge = MqttBridge.for_speaker(
                    cfg, loop=parts.speaker, bus=parts.bus, models=parts.models,
                    check=lambda d: check_models(cfg, d))
                bridge.start()
            notifier.ready(f"{parts.speaker.picker.size} tracks; starting")
            if on_ready is not None:
                on_ready(parts)
            try:
                return parts.speaker.run(stop, seconds)
            finally:
                notifier.stopping()
                bus.close()  # the last events (the final listen) reach every listener
                if bridge is not None:
                    bridge.stop()
                if watcher is not None:
                    watcher.stop()
                status.close()
    finally:
        bus.close()
        notifier.close()
        lock.release()


def serve(cfg: Config, *, seconds: float | None = None, mood: MoodSource | None = None,
          status: StatusLine | None = None, notifier: Notifier | None = None) -> SpeakerStats:
    """Run the speaker in this process until SIGTERM/SIGINT or ``seconds``."""
    stop = threading.Event()
    parts: list[Parts] = []

    def on_signal(signum, _frame):
        log.info("signal %d: stopping", signum)
        stop.set()
        if parts:
            parts[0].speaker.wake()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run_speaker(cfg, stop, seconds=seconds, mood=mood, status=status,
                           notifier=notifier, on_ready=parts.append)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
