"""Mood smoothing: odd frames do not flip the mood; absence holds, then decays to unknown."""

from __future__ import annotations

from dataclasses import dataclass

from device.perception.smoothing import MoodSmoother, SmootherConfig


@dataclass
class FakeFace:
    mood_probs: dict[str, float]


def face(mood: str, p: float = 0.85) -> FakeFace:
    rest = (1 - p) / 3
    return FakeFace({m: (p if m == mood else rest) for m in ("happy", "sad", "angry", "neutral")})


def test_first_face_sets_mood_and_one_odd_frame_does_not_flip():
    s = MoodSmoother()
    assert s.current.mood == "unknown"
    for t in range(4):
        est = s.update(face("happy"), now=t)
    assert est.mood == "happy" and est.since == 0 and est.confidence > 0.8
    est = s.update(face("sad", 0.99), now=4)  # a single odd frame
    assert est.mood == "happy"
    est = s.update(face("happy"), now=5)
    assert est.mood == "happy"


def test_lasting_change_switches_after_lead_updates():
    s = MoodSmoother(SmootherConfig(alpha=0.5, min_lead_updates=2))
    for t in range(5):
        s.update(face("happy"), now=t)
    moods = [s.update(face("sad"), now=5 + t).mood for t in range(5)]
    assert moods[0] == "happy"
    assert "sad" in moods and moods[-1] == "sad"
    switched_at = moods.index("sad")
    assert switched_at >= 1  # needed more than one frame
    assert s.current.since == 5 + switched_at


def test_no_face_holds_then_decays_to_unknown():
    s = MoodSmoother(SmootherConfig(hold_s=10, decay_s=20))
    for t in range(3):
        s.update(face("angry"), now=t)
    seen = s.current.confidence
    held = s.update(None, now=2 + 9)
    assert held.mood == "angry" and held.confidence == seen
    fading = s.update(None, now=2 + 20)
    assert fading.mood == "angry" and 0 < fading.confidence < seen
    gone = s.update(None, now=2 + 31)
    assert gone.mood == "unknown" and gone.confidence == 0.0
    back = s.update(face("neutral"), now=40)
    assert back.mood == "neutral"
