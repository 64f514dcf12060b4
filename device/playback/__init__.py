"""Audio playback behind one ``Player`` interface: libvlc, or an in-memory fake for tests."""

from device.playback.base import PlaybackError, Player, PlayerStatus
from device.playback.fake import FakePlayer
from device.playback.outputs import (
    AudioOutput,
    DefaultOutput,
    DummyOutput,
    WavFileOutput,
    make_output,
)
from device.playback.vlc_player import VlcPlayer

__all__ = [
    "AudioOutput", "DefaultOutput", "DummyOutput", "FakePlayer", "PlaybackError", "Player",
    "PlayerStatus", "VlcPlayer", "WavFileOutput", "make_output",
]
