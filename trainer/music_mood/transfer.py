"""Does the model see the same music in a full-quality file and in a training-grade copy?

The 4Q clips the model learnt from are mono 22.05 kHz 40 kbps MP3s; a listener's library
is 44.1 kHz stereo at 128-320 kbps. For each Emotify clip (full quality) this scores the
file as it is and a copy re-encoded the way the 4Q clips were (mono, 22.05 kHz, 40 kbps
CBR, libsndfile's LAME), and reports the differences. It also checks the scores against
what Emotify's listeners felt on those clips (``evidence.GEMS_VA``): Spearman correlation
of the model's arousal with felt arousal, and of valence with felt valence.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from device.shared.errors import UserError
from device.shared.music_mood import MusicMoodModel, load_music_mood

from .evidence import GEMS_VA

#: libsndfile's MP3 compression level that gives 40 kbps CBR for mono 22.05 kHz.
LEVEL_40KBPS = 0.8
#: The sample's clips are numbered within their genre folder; annotations number the 400
#: tracks 1-100 classical, 101-200 rock, 201-300 electronic, 301-400 pop.
GENRE_OFFSET = {"classical": 0, "rock": 100, "electronic": 200, "pop": 300}


def reencode_like_4q(src: Path, dst: Path) -> None:
    y, sr = sf.read(str(src), dtype="float32", always_2d=True)
    y = soxr.resample(y.mean(axis=1), sr, 22050)
    sf.write(str(dst), y, 22050, format="MP3", compression_level=LEVEL_40KBPS,
             bitrate_mode="CONSTANT")


def felt_va(annotations: Path) -> dict[str, tuple[float, float]]:
    """Emotify track id -> the mean felt (valence, arousal) of its listeners."""
    place = np.array(list(GEMS_VA.values()))
    sums: dict[str, np.ndarray] = {}
    with open(annotations, encoding="utf-8") as fh:
        for r in csv.DictReader(fh, skipinitialspace=True):
            r = {k.strip(): v.strip() for k, v in r.items()}
            flags = np.array([float(r[g]) for g in GEMS_VA])
            sums[r["track id"]] = sums.get(r["track id"], np.zeros(len(GEMS_VA))) + flags
    return {t: tuple((f @ place) / max(f.sum(), 1.0)) for t, f in sums.items()}


@dataclass
class TransferResult:
    clips: list[str]
    original: np.ndarray  # (n, 2) valence, arousal
    reencoded: np.ndarray
    felt: np.ndarray  # (n, 2)

    @property
    def diff(self) -> np.ndarray:
        return np.abs(self.original - self.reencoded)

    def within(self, tolerance: float) -> bool:
        return bool(self.diff.max() <= tolerance)

    def spearman(self, axis: int) -> float:
        from scipy.stats import spearmanr  # heavy (scipy.stats, ~0.9 s): only this needs it

        return float(spearmanr(self.original[:, axis], self.felt[:, axis]).statistic)

    def summary(self) -> str:
        d = self.diff
        corr = np.corrcoef(self.original[:, 1], self.reencoded[:, 1])[0, 1]
        return "\n".join([
            f"{len(self.clips)} Emotify clips, full quality vs 40 kbps mono re-encode:",
            f"  |valence difference| mean {d[:, 0].mean():.3f}, max {d[:, 0].max():.3f}",
            f"  |arousal difference| mean {d[:, 1].mean():.3f}, max {d[:, 1].max():.3f}",
            f"  arousal correlation original vs re-encode {corr:.3f}",
            "model vs what Emotify listeners felt (Spearman):",
            f"  arousal {self.spearman(1):+.2f}, valence {self.spearman(0):+.2f}",
        ])


def transfer(models: Path, emotify: Path, *, limit: int | None = None,
             model: MusicMoodModel | None = None) -> TransferResult:
    model = model or load_music_mood(models)
    if model is None:
        raise UserError(f"{models}/manifest.json: no music_mood entry (train one first)")
    clips = sorted(emotify.glob("*/*.mp3"), key=lambda p: (p.parent.name, int(p.stem)))
    if not clips:
        raise UserError(f"{emotify}: no clips (<genre>/<id>.mp3)")
    clips = clips[:limit] if limit else clips
    felt = felt_va(emotify / "annotations.csv")
    orig, re_, fv = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            copy = Path(tmp) / clip.name
            reencode_like_4q(clip, copy)
            a, b = model.score_file(clip), model.score_file(copy)
            orig.append((a.valence, a.arousal))
            re_.append((b.valence, b.arousal))
            track = str(GENRE_OFFSET.get(clip.parent.name, 0) + int(clip.stem))
            fv.append(felt.get(track, (np.nan, np.nan)))
    return TransferResult([str(c) for c in clips], np.array(orig), np.array(re_), np.array(fv))
