"""Audio playback: libvlc behind a small player, with interchangeable audio outputs."""

from .outputs import AudioOutput, DefaultOutput, DummyOutput, WavFileOutput, make_output
from .vlc_player import PlaybackError, PlayerStatus, VlcPlayer

__all__ = [
    "AudioOutput", "DefaultOutput", "DummyOutput", "PlaybackError", "PlayerStatus",
    "VlcPlayer", "WavFileOutput", "make_output",
]
