"""The mood vocabulary, in one place: the four moods the product knows, and "unknown".

Everything that names a mood (the FER manifest, the taste model, the picker, the speaker,
MQTT commands and Home Assistant options) imports it from here.
"""

from __future__ import annotations

MOODS: tuple[str, ...] = ("happy", "sad", "angry", "neutral")
UNKNOWN = "unknown"  # no face, no camera, or not confident yet
