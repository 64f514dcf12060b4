"""The event bus: a closed subscription leaves it, a slow one loses its oldest events."""

from __future__ import annotations

import threading
import time

from device.loop.events import EventBus, SpeakerStatus, StateChanged

STATUS = SpeakerStatus(state="playing", user="u", mood="happy", confidence=1.0, camera_ok=True,
                       music_mood="happy", override=None, override_until=None, volume=50,
                       muted=False)


def event(n: int) -> StateChanged:
    return StateChanged(STATUS, what=str(n))


def test_closed_subscription_gets_nothing_more_and_leaves_the_bus():
    bus = EventBus()
    got: list[str] = []
    sub = bus.subscribe("t", lambda e: got.append(e.what))
    other = bus.subscribe("other", lambda e: None)
    bus.publish(event(1))
    sub.close()  # delivers what was queued first
    assert got == ["1"]
    assert sub not in bus._subs and other in bus._subs
    bus.publish(event(2))
    time.sleep(0.05)
    assert got == ["1"]
    assert sub.queue.empty()
    sub.close()  # a second close is a no-op
    bus.close()  # and so is the bus's, for a subscription already gone
    assert bus._subs == []


def test_slow_subscriber_drops_oldest_without_blocking_publish():
    bus = EventBus()
    got: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def slow(e: StateChanged) -> None:
        busy.set()
        release.wait(10)
        got.append(e.what)

    sub = bus.subscribe("slow", slow, maxsize=3)
    bus.publish(event(1))
    assert busy.wait(5)  # the listener holds event 1; its queue is empty
    t0 = time.monotonic()
    for n in range(2, 11):
        bus.publish(event(n))
    assert time.monotonic() - t0 < 1.0  # publish never waited for the listener
    assert sub.dropped == 6  # 2..7 dropped, the newest three kept
    release.set()
    bus.close()
    assert got == ["1", "8", "9", "10"]
