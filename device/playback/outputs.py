"""Audio outputs behind one interface: how libvlc is told where the sound goes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from device.shared.errors import UserError

_COMMON = ["--no-video", "--quiet", "--no-xlib", "--intf=dummy"]


class AudioOutput(ABC):
    """An audio sink: the libvlc instance arguments that select it."""

    name: str

    @abstractmethod
    def vlc_args(self) -> list[str]: ...


class DefaultOutput(AudioOutput):
    """The system's default device (ALSA/PulseAudio/PipeWire, whatever libvlc finds)."""

    name = "default"

    def vlc_args(self) -> list[str]:
        return list(_COMMON)


class AlsaOutput(AudioOutput):
    """Straight to an ALSA device: what a system service uses. PipeWire and PulseAudio live
    in a login session, which a service on Raspberry Pi OS Lite does not have."""

    name = "alsa"

    def __init__(self, device: str = "default"):
        self.device = device  # "default", "sysdefault:CARD=Headphones", "plughw:1,0" ...

    def vlc_args(self) -> list[str]:
        return [*_COMMON, "--aout=alsa", f"--alsa-audio-device={self.device}"]


class DummyOutput(AudioOutput):
    """Decodes in real time and discards the sound: headless demos and tests."""

    name = "dummy"

    def vlc_args(self) -> list[str]:
        return [*_COMMON, "--aout=adummy"]


class WavFileOutput(AudioOutput):
    """Writes what would be heard to a WAV file (libvlc's afile module; one track per file:
    libvlc reopens, hence rewrites, the file for each track)."""

    name = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def vlc_args(self) -> list[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return [*_COMMON, "--aout=afile", f"--audiofile-file={self.path}", "--audiofile-wav"]


def make_output(spec: str) -> AudioOutput:
    """``audio.output``: "default", "alsa", "alsa:DEVICE", "dummy" or "file:PATH.wav"."""
    if spec == "default":
        return DefaultOutput()
    if spec == "alsa" or (spec.startswith("alsa:") and spec[5:]):
        return AlsaOutput(spec[5:] or "default")
    if spec == "dummy":
        return DummyOutput()
    if spec.startswith("file:") and spec[5:]:
        return WavFileOutput(spec[5:])
    raise UserError(
        f"audio.output: {spec!r} is not 'default', 'alsa', 'alsa:DEVICE', 'dummy' "
        "or 'file:PATH.wav'"
    )
