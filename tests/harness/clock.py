"""A test clock and a driver that runs the speaker loop on it, with no real waiting.

With ``FakePlayer`` (``device.playback.fake``) on the same clock, a minute of listening
runs in milliseconds: the loop's own ``step`` and inbox handling are exactly the ones the
service runs; only ``Speaker.run``'s wait between ticks is replaced by advancing the clock.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from device.loop.context import Clock
from device.loop.speaker import Speaker
from device.perception.mood_watch import FixedMood
from device.shared.moods import UNKNOWN

EPOCH = 1_780_000_000.0  # the fake wall clock's start (a fixed date in 2026)


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.t = start
        self._start = start

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return EPOCH + (self.t - self._start)

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def loop_clock(self) -> Clock:
        return Clock(monotonic=self, wall=self.wall)


def fixed_mood(clock: FakeClock, mood: str = UNKNOWN, confidence: float = 0.0) -> FixedMood:
    """A ``FixedMood`` whose reading dates from ``clock``'s now (``FixedMood`` stamps its
    reading with the real ``time.monotonic()``, which the loop would compare with the test
    clock's time: a mood switch would never come due)."""
    fixed = FixedMood(mood, confidence)
    fixed.reading = dataclasses.replace(fixed.reading, since=clock())
    return fixed


def drive(speaker: Speaker, clock: FakeClock, seconds: float, *,
          at: dict[float, Callable[[], object]] | None = None,
          until: Callable[[], bool] | None = None, real_pause_s: float = 0.0,
          start: bool = True, shutdown: bool = True) -> None:
    """Run ``speaker`` for ``seconds`` of test-clock time, as ``Speaker.run`` would.

    ``at``: actions to take once the test clock has reached a time (seconds from the
    start), e.g. ``{2.0: lambda: speaker.command("next")}``. ``until``: stop early once it
    is true. ``real_pause_s``: really sleep this long per tick, for tests that wait on a
    background job's thread. ``start``/``shutdown`` False: go on from, or stop short of, a
    previous ``drive`` of the same speaker (a test in phases, checking between them).
    """
    pending = sorted((at or {}).items())
    t0 = clock()
    if start:
        speaker.start()
    try:
        while clock() - t0 < seconds:
            while pending and clock() - t0 >= pending[0][0]:
                pending.pop(0)[1]()
            speaker.handle_pending()
            speaker.step()
            if until is not None and until():
                break
            if real_pause_s:
                time.sleep(real_pause_s)
            speaker.handle_pending()
            clock.advance(speaker.tick_seconds())
    finally:
        if shutdown:
            speaker.shutdown()


def drive_until(speaker: Speaker, clock: FakeClock, cond: Callable[[], bool], seconds: float,
                what: str, **kw) -> None:
    """Go on driving a started speaker until ``cond`` holds (not shut down after); fail
    naming ``what`` if it does not within ``seconds`` of test-clock time (like
    ``tests.harness.speaker.until`` in real time)."""
    kw.setdefault("start", False)
    drive(speaker, clock, seconds, until=cond, shutdown=False, **kw)
    if not cond():
        raise AssertionError(f"not within {seconds} s (test clock): {what}")
