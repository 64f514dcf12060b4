"""Audio features of one track, identical on the trainer and on the speaker.

The music-mood model (``device.shared.music_mood``) learnt its coefficients from exactly these
numbers, so the trainer imports this module rather than computing its own: a change here
is a new ``EXTRACTOR_VERSION``, and the device refuses a model made for another version.

What is measured: the middle ``window_s`` seconds of the file, mixed to mono and resampled
to ``sample_rate``, then 95 summary statistics of loudness and dynamics, spectral shape,
contrast up to 3.2 kHz and a coarse band envelope, MFCCs and their rate of change,
harmonic/percussive balance, chroma (key strength and a major/minor estimate) and rhythm
(onset rate, tempo, pulse clarity). Every spectral feature is
computed below ``max_hz``: the training clips are 40 kbps MP3s with nothing above about
9.5 kHz, and a full-quality file must give the same numbers, so the band both share is the
only one looked at.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from device.shared.jit_cache import compile_lock

EXTRACTOR_VERSION = 1


class AudioDecodeError(Exception):
    """The file cannot be decoded to audio samples (or is too short to describe)."""


@dataclass(frozen=True)
class ExtractorParams:
    sample_rate: int = 22050
    window_s: float = 30.0
    n_fft: int = 2048
    hop: int = 512
    max_hz: float = 8000.0
    n_mels: int = 64
    n_mfcc: int = 13
    min_seconds: float = 3.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


DEFAULT_PARAMS = ExtractorParams()

# Krumhansl-Kessler key profiles (major, minor), for key strength and mode.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

_MEL_BANDS = 8  # the mel spectrogram pooled into this many bands: a coarse envelope
# Spectral contrast in octaves from 200 Hz; only the four up to 3.2 kHz are kept: above,
# the peak-to-valley ratio follows a codec's quantisation noise (a 40 kbps copy moved
# valence by up to 0.28 with them), below it is music.
_CONTRAST_BANDS, _CONTRAST_KEPT = 5, 4


def feature_names(params: ExtractorParams = DEFAULT_PARAMS) -> tuple[str, ...]:
    names = [
        "rms_mean", "rms_std", "loudness_db_mean", "loudness_db_range", "low_energy_ratio",
        "centroid_mean", "centroid_std", "rolloff_mean", "rolloff_std",
        "bandwidth_mean", "bandwidth_std", "flatness_mean", "flatness_std",
        "flux_mean", "flux_std",
    ]
    names += [f"contrast_{i}_mean" for i in range(_CONTRAST_KEPT)]
    names += [f"mfcc_{i}_mean" for i in range(params.n_mfcc)]
    names += [f"mfcc_{i}_std" for i in range(params.n_mfcc)]
    names += [f"mfcc_{i}_delta_std" for i in range(params.n_mfcc)]
    names += [f"band_{i}_db_mean" for i in range(_MEL_BANDS)]
    names += [f"band_{i}_db_std" for i in range(_MEL_BANDS)]
    names += ["percussive_ratio", "harmonic_flux", "rms_delta_mean"]
    names += ["loudness_db_p10", "loudness_db_p90", "centroid_p10", "centroid_p90",
              "spectral_flux_mean", "spectral_flux_std", "spectral_flux_p90",
              "bass_ratio", "onset_strength_mean",
              "flux_low_mean", "flux_mid_mean", "flux_high_mean", "high_ratio", "rms_p50"]
    names += [
        "chroma_entropy", "chroma_std", "key_strength", "mode_major_minus_minor",
        "chroma_change",
        "onset_rate", "tempo_bpm", "pulse_clarity", "onset_std",
    ]
    return tuple(names)


def read_window(path: str | Path, params: ExtractorParams = DEFAULT_PARAMS) -> np.ndarray:
    """The middle ``window_s`` seconds as mono float32 at ``sample_rate``."""
    # optional (device/trainer extras): only decoding audio needs libsndfile and soxr
    import soundfile as sf
    import soxr

    try:
        with sf.SoundFile(str(path)) as fh:
            sr = fh.samplerate
            frames = fh.frames
            want = int(params.window_s * sr)
            if 0 < frames > want:
                fh.seek((frames - want) // 2)
            y = fh.read(min(want, frames) if frames > 0 else want, dtype="float32",
                        always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, EOFError) as exc:
        raise AudioDecodeError(f"cannot decode audio: {exc}") from None
    y = y.mean(axis=1)
    if sr != params.sample_rate and y.size:
        y = soxr.resample(y, sr, params.sample_rate).astype(np.float32)
    if y.size < params.min_seconds * params.sample_rate:
        raise AudioDecodeError(f"only {y.size / params.sample_rate:.1f} s of audio decoded")
    if not np.isfinite(y).all() or float(np.abs(y).max()) == 0.0:
        raise AudioDecodeError("the decoded audio is silent or not finite")
    return y


def _stats(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x))


@functools.cache
def _librosa() -> ModuleType:
    """librosa with every kernel the extractor uses compiled, or read from numba's cache,
    under the JIT cache lock (``device.shared.jit_cache``): importing librosa compiles some kernels
    and the first extraction the rest, so both happen while the lock is held, once per
    process."""
    with compile_lock("librosa"):
        import librosa  # heavy (librosa + numba JIT, seconds): only extraction needs it

        warmup = np.random.default_rng(0).normal(size=3 * DEFAULT_PARAMS.sample_rate)
        _features(librosa, warmup.astype(np.float32), DEFAULT_PARAMS)
    return librosa


def features_of_signal(y: np.ndarray, params: ExtractorParams = DEFAULT_PARAMS) -> np.ndarray:
    """The feature vector (order of ``feature_names``) of a mono signal."""
    return _features(_librosa(), y, params)


def _features(librosa: ModuleType, y: np.ndarray, params: ExtractorParams) -> np.ndarray:
    sr, hop = params.sample_rate, params.hop
    y = y.astype(np.float32)
    spec = np.abs(librosa.stft(y, n_fft=params.n_fft, hop_length=hop))
    freqs = librosa.fft_frequencies(sr=sr, n_fft=params.n_fft)
    band = freqs <= params.max_hz
    s_band, f_band = spec[band], freqs[band]

    rms = librosa.feature.rms(S=spec, frame_length=params.n_fft)[0]
    db = librosa.amplitude_to_db(rms, ref=1.0, top_db=None)
    p5, p95 = np.percentile(db, [5, 95])
    low_energy = float(np.mean(rms < rms.mean()))

    # Centroid, bandwidth and 85 % roll-off (kHz) in one pass over the shared band.
    contrast = librosa.feature.spectral_contrast(
        S=s_band, freq=f_band, sr=sr, n_fft=params.n_fft, n_bands=_CONTRAST_BANDS, fmin=200.0
    )[:_CONTRAST_KEPT]
    weights = s_band / (s_band.sum(axis=0, keepdims=True) + 1e-12)
    khz = f_band[:, None] / 1000.0
    centroid = (weights * khz).sum(axis=0)
    bandwidth = np.sqrt((weights * (khz - centroid) ** 2).sum(axis=0))
    rolloff = f_band[np.argmax(np.cumsum(weights, axis=0) >= 0.85, axis=0)] / 1000.0
    flatness = librosa.feature.spectral_flatness(S=s_band)[0]

    mel = librosa.feature.melspectrogram(S=spec**2, sr=sr, n_mels=params.n_mels,
                                         fmax=params.max_hz)
    mel_db = librosa.power_to_db(mel)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=params.n_mfcc)
    mfcc_delta = np.diff(mfcc, axis=1)
    bands = librosa.power_to_db(
        mel.reshape(_MEL_BANDS, params.n_mels // _MEL_BANDS, -1).sum(axis=1) + 1e-10
    )
    # Every other frame is enough for the harmonic/percussive balance, at half the cost.
    harmonic, percussive = librosa.decompose.hpss(mel[:, ::2], kernel_size=(9, 17))
    percussive_ratio = float(percussive.sum() / (harmonic.sum() + percussive.sum() + 1e-12))
    h_db = librosa.power_to_db(harmonic + 1e-10)
    harmonic_flux = float(np.mean(np.maximum(np.diff(h_db, axis=1), 0.0)))
    rms_delta = float(np.mean(np.abs(np.diff(db))))
    # Unnormalised flux on the shared band: how much the spectrum changes, frame to frame.
    log_band = np.log1p(100.0 * s_band)
    spectral_flux = np.maximum(np.diff(log_band, axis=1), 0.0).mean(axis=0)
    bass = float(spec[freqs <= 250.0].sum() / (s_band.sum() + 1e-12))
    rises = np.maximum(np.diff(log_band, axis=1), 0.0)
    f_lo, f_mid = f_band <= 250.0, (f_band > 250.0) & (f_band <= 2000.0)
    f_hi = f_band > 2000.0
    band_flux = [float(rises[m].mean()) for m in (f_lo, f_mid, f_hi)]
    high_ratio = float(s_band[f_hi].sum() / (s_band.sum() + 1e-12))
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop)
    flux_norm = onset_env / (onset_env.max() + 1e-9)

    # Unnormalised chroma: a per-frame max-normalisation would flatten the key profile.
    chroma = librosa.feature.chroma_stft(S=spec**2, sr=sr, n_fft=params.n_fft, tuning=0.0,
                                         norm=None)
    profile = chroma.mean(axis=1)
    profile = profile / (profile.sum() + 1e-9)
    entropy = float(-(profile * np.log(profile + 1e-12)).sum() / math.log(12))
    major = [np.corrcoef(profile, np.roll(_MAJOR, k))[0, 1] for k in range(12)]
    minor = [np.corrcoef(profile, np.roll(_MINOR, k))[0, 1] for k in range(12)]
    key_strength = float(max(max(major), max(minor)))
    mode = float(max(major) - max(minor))
    chroma_n = chroma / (np.linalg.norm(chroma, axis=0, keepdims=True) + 1e-9)
    chroma_change = float(np.mean(1.0 - np.sum(chroma_n[:, 1:] * chroma_n[:, :-1], axis=0)))

    seconds = y.size / sr
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop)
    # Tempo and pulse clarity from one autocorrelation of the onset envelope: the lag
    # (40-240 BPM) with the strongest periodicity, weighted by a log-normal prior around
    # 120 BPM as librosa's tempo estimator does, and the height of that peak.
    ac = librosa.autocorrelate(onset_env - onset_env.mean())
    lo, hi = int(60.0 / 240.0 * sr / hop), int(60.0 / 40.0 * sr / hop)
    lags = np.arange(lo, hi)
    bpm = 60.0 * sr / (hop * lags)
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0)) ** 2)
    tempo = float(bpm[np.argmax(ac[lo:hi] * prior)])
    pulse = float(ac[lo:hi].max() / (ac[0] + 1e-9)) if ac[0] > 0 else 0.0

    values = [
        float(rms.mean()), float(rms.std()), float(db.mean()), float(p95 - p5), low_energy,
        *_stats(centroid), *_stats(rolloff), *_stats(bandwidth),
        *_stats(flatness), *_stats(flux_norm),
        *contrast.mean(axis=1).tolist(),
        *mfcc.mean(axis=1).tolist(), *mfcc.std(axis=1).tolist(),
        *mfcc_delta.std(axis=1).tolist(),
        *bands.mean(axis=1).tolist(), *bands.std(axis=1).tolist(),
        percussive_ratio, harmonic_flux, rms_delta,
        *np.percentile(db, [10, 90]).tolist(), *np.percentile(centroid, [10, 90]).tolist(),
        float(spectral_flux.mean()), float(spectral_flux.std()),
        float(np.percentile(spectral_flux, 90)), bass, float(onset_env.mean()),
        *band_flux, high_ratio, float(np.median(db)),
        entropy, float(profile.std()), key_strength, mode, chroma_change,
        len(onsets) / seconds, tempo, pulse, float(onset_env.std()),
    ]
    out = np.asarray(values, dtype=np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def extract(path: str | Path, params: ExtractorParams = DEFAULT_PARAMS) -> np.ndarray:
    """Features of one audio file; raises AudioDecodeError when it cannot be decoded."""
    return features_of_signal(read_window(path, params), params)
