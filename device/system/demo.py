"""``moodspeaker demo``: the whole speaker without a camera or a music collection.

It replays the bundled face frames (happy, then sad, ...) through the real detector and
classifier, and plays a small library it synthesises: a few seconds of tones per genre,
written as WAV files with ID3 tags (title, artist, album, genre) by mutagen, some tagged,
some only sorted into genre folders, so the scanner's fallbacks run too.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
from mutagen.id3 import TALB, TCON, TIT2, TPE1
from mutagen.wave import WAVE

from device.system.config import Config, config_from_dict

FRAMES_DIR = Path(__file__).resolve().parent / "demo_frames"
RATE = 16_000

#: genre -> (root Hz, chord intervals in semitones, beats per second): distinct by ear.
VOICES = {
    "pop": (262.0, (0, 4, 7), 2.0),
    "folk": (196.0, (0, 7, 12), 1.5),
    "jazz": (220.0, (0, 3, 7, 10), 2.5),
    "light": (330.0, (0, 4, 7, 11), 0.75),
    "classical": (294.0, (0, 4, 7, 12), 1.0),
    "rock": (147.0, (0, 7), 3.0),
    "rap": (110.0, (0, 3), 3.5),
}


def synth(genre: str, variant: int, seconds: float) -> np.ndarray:
    root, chord, bps = VOICES[genre]
    root *= 2 ** (variant * 2 / 12)
    t = np.arange(int(seconds * RATE)) / RATE
    sig = sum(np.sin(2 * math.pi * root * 2 ** (s / 12) * t) for s in chord) / len(chord)
    pulse = 0.6 + 0.4 * np.abs(np.sin(math.pi * bps * t))
    edge = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)  # no clicks at either end
    return (sig * pulse * edge * 0.5 * 32767).astype(np.int16)


def write_tagged_wav(path: Path, samples: np.ndarray, *, title: str, artist: str,
                     album: str, genre: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    audio = WAVE(str(path))
    audio.add_tags()
    tags = audio.tags
    assert tags is not None  # add_tags() made them
    tags.add(TIT2(encoding=3, text=title))
    tags.add(TPE1(encoding=3, text=artist))
    tags.add(TALB(encoding=3, text=album))
    if genre:
        tags.add(TCON(encoding=3, text=genre))
    audio.save()


#: How each genre is labelled in the demo: a raw tag the alias table maps, or None (the
#: folder name must then carry the genre).
RAW_TAGS = {"pop": "Synthpop", "folk": "Folk", "jazz": "Acid Jazz", "light": "Easy Listening",
            "classical": None, "rock": "Hard Rock", "rap": "Hip-Hop"}


def make_library(root: Path, *, per_genre: int = 2, seconds: float = 15.0) -> Path:
    """Write the demo library under ``root`` once (kept if already there)."""
    for genre, raw in RAW_TAGS.items():
        folder = root / ("Classical" if raw is None else "Mixed")
        for v in range(per_genre):
            path = folder / f"{genre}-{v + 1}.wav"
            if path.exists():
                continue
            write_tagged_wav(path, synth(genre, v, seconds),
                             title=f"{genre.title()} study {v + 1}", artist="Moodspeaker Demo",
                             album="Synthesised tones", genre=raw)
    return root


def demo_config(state_dir: Path, *, audio: str = "dummy", fps: float = 2.0) -> Config:
    """Headless, self-contained config: replayed faces, the synthesised library, dummy audio.
    Each frame is held for 10 camera frames (5 s) so a mood lasts long enough to switch."""
    return config_from_dict({
        "camera": {"source": f"replay:{FRAMES_DIR}", "fps": fps, "replay_repeat": 10},
        "library": {"path": str(state_dir / "library")},
        "audio": {"output": audio, "fade_s": 1.0},
        "state": {"dir": str(state_dir)},
        "user": {"active": "demo"},
        "mood": {"switch_after_s": 3.0, "switch_confidence": 0.5},
        "resume": {"enabled": False},
        "picker": {"no_repeat": 4},
    })
