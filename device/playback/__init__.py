"""Audio playback: libvlc behind a small player, with interchangeable audio outputs."""

from device.playback.outputs import (
    AudioOutput,
    DefaultOutput,
    DummyOutput,
    WavFileOutput,
    make_output,
)
from device.playback.vlc_player import PlaybackError, PlayerStatus, VlcPlayer

__all__ = [
    "AudioOutput", "DefaultOutput", "DummyOutput", "PlaybackError", "PlayerStatus",
    "VlcPlayer", "WavFileOutput", "make_output",
]
