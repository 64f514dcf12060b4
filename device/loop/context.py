"""What the loop's controllers share: the parts they drive, the settings, the clock.

One ``LoopContext`` per speaker, owned by the loop thread. The controllers
(``device.loop.playback``, ``picks``, ``mood``, ``session``, ``library_jobs``) each keep
their own state and reach the parts and each other only through it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from device.music.learning import LearningRule
from device.music.library import Track
from device.music.picker import Pick, Picker
from device.perception.mood_watch import MoodSource
from device.playback.base import Player
from device.shared.backoff import Backoff
from device.storage.journal import Journal
from device.system.config import AudioConfig, MoodConfig, ResumeConfig

if TYPE_CHECKING:  # the controllers; imported for annotations only (they import this)
    from device.loop.library_jobs import LibraryJobs
    from device.loop.mood import MoodFollower
    from device.loop.picks import Picks
    from device.loop.playback import PlaybackController
    from device.loop.session import Session


class Catalog(Protocol):
    """The library as the loop sees it (``device.music.library.IndexCatalog``)."""

    def get(self, track_id: str) -> Track | None: ...

    def available(self) -> bool:
        """Whether the music folder is reachable at all (an unplugged disk is not)."""
        ...

    def forget(self, track: Track, error: str) -> None:
        """This track failed to play: stop offering it until its file changes."""
        ...


class Jobs(Protocol):
    """Slow work the loop hands off (``device.loop.jobs.BackgroundJobs``): each job runs on
    another thread and its ``then`` comes back to the loop through ``call_soon``."""

    def rescan(self, then: Callable[[list[Track] | Exception], None]) -> bool:
        """Start a library rescan; False if one is already running."""
        ...

    def reload(self, then: Callable[[object | Exception], None]) -> None:
        """Load the models again (the taste model comes back to ``then``)."""
        ...

    def learning(self, user: str, then: Callable[[object | Exception], None]) -> None:
        """This listener's (feedback table, mood fit), rebuilt from the journal."""
        ...


@dataclass
class LoopParts:
    """What the loop drives. ``picker`` may be replaced (a reload brings a new taste)."""

    player: Player
    picker: Picker
    journal: Journal
    mood: MoodSource
    library: Catalog
    jobs: Jobs | None = None


@dataclass(frozen=True)
class LoopSettings:
    """The loop's configuration, handed over as the config's own typed sections."""

    user: str = "default"
    user_file: Path | None = None
    learning: LearningRule = field(default_factory=LearningRule)
    mood: MoodConfig = field(default_factory=MoodConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    position_interval_s: float = 5.0
    tick_s: float = 0.2
    first_mood_wait_s: float = 0.0
    retry: Backoff = field(default_factory=lambda: Backoff(30.0, 600.0))


@dataclass(frozen=True)
class Clock:
    """Monotonic time for the loop's timing, wall time for what is journalled."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


@dataclass
class SpeakerStats:
    played: int = 0
    completed: int = 0
    errors: int = 0
    mood_switches: int = 0
    commands: int = 0
    command_errors: int = 0
    picks: deque[Pick] = field(default_factory=lambda: deque(maxlen=1000))  # the latest


@dataclass
class LoopContext:
    parts: LoopParts
    settings: LoopSettings
    clock: Clock
    stats: SpeakerStats
    emit: Callable[..., None]  # emit(EventType, **detail): the loop adds its status
    call_soon: Callable[[Callable[[], None]], None]
    # the controllers, set by the loop once all exist
    playback: PlaybackController = field(init=False)
    picks: Picks = field(init=False)
    mood: MoodFollower = field(init=False)
    session: Session = field(init=False)
    library_jobs: LibraryJobs = field(init=False)

    def now(self) -> float:
        return self.clock.monotonic()

