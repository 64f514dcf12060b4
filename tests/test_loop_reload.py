"""A new taste model makes the loop rebuild the listener's on-device counts (from the new
model's cutoff, so nothing counts twice); a user switch does the same for the new user.
The loop runs with stand-ins for its parts: the player is never used here."""

from __future__ import annotations

from device.loop.context import LoopParts, LoopSettings
from device.loop.speaker import Speaker
from device.perception.mood_watch import FixedMood


class Picker:
    def __init__(self) -> None:
        self.taste = "old taste"
        self.learning: list[tuple] = []

    def set_learning(self, feedback, fit) -> None:
        self.learning.append((feedback, fit))


class Jobs:
    """Answers at once, as the jobs thread would (through the loop's call_soon)."""

    def __init__(self) -> None:
        self.learnt_for: list[str] = []

    def reload(self, then) -> None:
        then("new taste")

    def learning(self, user: str, then) -> None:
        self.learnt_for.append(user)
        then((f"counts of {user}", f"fit of {user}"))

    def rescan(self, then) -> bool:
        return False


def _speaker() -> tuple[Speaker, Picker, Jobs]:
    picker, jobs = Picker(), Jobs()
    parts = LoopParts(player=None, picker=picker, journal=None,  # type: ignore[arg-type]
                      mood=FixedMood(), library=None, jobs=jobs)  # type: ignore[arg-type]
    return Speaker(parts, LoopSettings(user="ann")), picker, jobs


def _settle(sp: Speaker) -> None:
    for _ in range(5):
        sp.handle_pending()


def test_a_reload_rebuilds_the_listeners_counts_with_the_new_model():
    sp, picker, jobs = _speaker()
    answer = sp.command("reload")
    _settle(sp)
    assert answer.result(timeout=1).ok and picker.taste == "new taste"
    assert jobs.learnt_for == ["ann"]
    assert picker.learning == [("counts of ann", "fit of ann")]


def test_a_user_switch_loads_the_new_users_counts_and_not_the_old_ones():
    sp, picker, jobs = _speaker()
    answer = sp.command("user", "bob")
    _settle(sp)
    assert answer.result(timeout=1).ok and sp.user == "bob"
    assert jobs.learnt_for == ["bob"] and picker.learning[-1][0] == "counts of bob"
