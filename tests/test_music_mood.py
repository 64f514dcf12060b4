"""The music-mood model: the shared extractor on real clips, the trainer's fit and export
read back by the device, the manifest entry and its refusals, and full-quality files
against training-grade re-encodes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device.shared.audio_features import (
    EXTRACTOR_VERSION,
    AudioDecodeError,
    extract,
    feature_names,
)
from device.shared.manifest import ManifestError, load_manifest
from device.shared.music_mood import load_music_mood
from tests.harness.speaker import REPO

DATA = REPO.parent / "shared" / "data"
Q1 = DATA / "mer_4q" / "Q1" / "MT0000040632.mp3"
EMOTIFY = DATA / "emotify_sample" / "pop" / "16.mp3"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not present (the project's shared data folder)")
    return path


def test_the_extractor_on_real_clips():
    a = extract(_need(Q1))
    b = extract(_need(EMOTIFY))  # 44.1 kHz stereo: mixed down and resampled
    names = feature_names()
    assert a.shape == b.shape == (len(names),) and len(set(names)) == len(names)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert not np.allclose(a, b)
    assert np.array_equal(a, extract(Q1))  # deterministic
    tempo = a[names.index("tempo_bpm")]
    assert 40 <= tempo <= 240


def test_librosa_compiles_only_under_the_jit_cache_lock(tmp_path):
    """numba#10128: librosa's kernels are cached as pairs of files, and processes that
    compiled them at once on an empty cache left mismatched pairs that segfaulted (this
    suite on a fresh clone; the speaker's scorer beside a ``library scan`` on a first
    boot): four extractions started together on an empty cache segfaulted in three rounds
    of six before the lock. Here: while the lock is held, an extraction writes nothing to
    the cache and waits; once it is free, the extraction fills that very cache."""
    import fcntl

    from device.shared.jit_cache import LOCK_NAME

    cache = tmp_path / "numba-cache"
    cache.mkdir()
    code = ("import numpy as np; from device.shared.audio_features import features_of_signal; "
            "features_of_signal(np.random.default_rng(1).normal(size=66150)"
            ".astype(np.float32))")
    with open(cache / LOCK_NAME, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO,
                                env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
                                stderr=subprocess.PIPE, text=True)
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=8)
            assert not list(cache.rglob("*.nbi")), "compiled into the cache without the lock"
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert list(cache.rglob("*.nbi")), "the lock is not beside the cache numba writes"


def test_undecodable_audio_is_a_decode_error(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb" + b"not audio" * 100)
    with pytest.raises(AudioDecodeError):
        extract(bad)
    short = tmp_path / "short.mp3"
    short.write_bytes(_need(EMOTIFY).read_bytes()[:3000])  # a truncated file: 0.2 s
    with pytest.raises(AudioDecodeError, match="only"):
        extract(short)


def _toy_dataset(n=80, seed=0):
    from trainer.music_mood.dataset import QUADRANTS, Clip, Dataset

    rng = np.random.default_rng(seed)
    k = len(feature_names())
    quadrant = rng.integers(0, 4, n)
    x = rng.normal(size=(n, k)) * rng.uniform(0.1, 50, k) + rng.normal(size=k) * 10
    x[:, 0] += 2.0 * np.isin(quadrant, [0, 1])  # arousal lives in feature 0
    x[:, 1] += 2.0 * np.isin(quadrant, [0, 3])  # valence in feature 1
    clips = [Clip(f"s{i}", f"artist{i % 20}", QUADRANTS[q], "", Path(f"/x/{i}.mp3"))
             for i, q in enumerate(quadrant)]
    return Dataset(clips, x.astype(np.float32))


def test_train_export_and_the_device_agree(tmp_path):
    from device.shared.audio_features import DEFAULT_PARAMS
    from trainer.music_mood.export import export
    from trainer.music_mood.train import TrainConfig, cross_validate, fit

    data = _toy_dataset()
    cfg = TrainConfig(folds=4, inner_folds=3, repeats=1, c_grid=(0.1, 1.0))
    report = cross_validate(data, cfg)
    assert len(report.arousal) == 4 and report.oof.shape == (80, 2)
    model = fit(data, cfg)
    path = export(model, tmp_path, DEFAULT_PARAMS, {"cv": report.as_dict()})
    assert path.stat().st_size < 300_000
    device = load_music_mood(tmp_path)
    assert device.trees is not None and device.tree_weight == cfg.tree_weight
    p = model.probabilities(data.features[:5].astype(np.float64))
    for row, (pv, pa) in zip(data.features[:5], p, strict=True):
        s = device.score_features(row)
        assert abs(s.valence - (2 * pv - 1)) < 1e-3 and abs(s.arousal - (2 * pa - 1)) < 1e-3
    entry = load_manifest(tmp_path).music_mood
    assert entry.extractor_version == EXTRACTOR_VERSION
    assert entry.features == feature_names() and entry.extra["cv"]["folds"] == 4


def test_the_flattened_forest_answers_as_scikit_learn_does():
    from sklearn.ensemble import ExtraTreesClassifier

    from trainer.music_mood.train import TrainConfig, fit_forest

    data = _toy_dataset(120, seed=3)
    cfg = TrainConfig(trees=20, tree_min_leaf=2)
    flat = fit_forest(data.features, data.quadrant, cfg, seed=7)
    forest = ExtraTreesClassifier(n_estimators=20, min_samples_leaf=2, max_features="sqrt",
                                  random_state=7).fit(data.features, data.quadrant)
    x = _toy_dataset(50, seed=4).features
    assert np.allclose(flat.probabilities(x), forest.predict_proba(x), atol=1e-6)


def _shipped(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("manifest.json", "music_mood.npz"):
        shutil.copy(REPO / "models" / name, models / name)
    return models


def test_the_shipped_entry_loads_and_scores_a_real_clip(tmp_path):
    model = load_music_mood(_shipped(tmp_path))
    s = model.score_file(_need(Q1))
    assert -1 <= s.valence <= 1 and -1 <= s.arousal <= 1
    raw = json.loads((REPO / "models" / "manifest.json").read_text())["music_mood"]
    assert raw["cv"]["grouped_by"] == "artist" and raw["size_bytes"] < 300_000


@pytest.mark.parametrize("damage, message", [
    ("bytes", "sha256"),
    ("bytes+hash", "not a music-mood model"),
    ("version", "extractor version"),
    ("features", "feature list"),
    ("shape", "shape"),
    ("params", "extractor params"),
    ("tree", "broken tree"),
])
def test_a_corrupt_entry_or_model_is_refused(tmp_path, damage, message):
    from device.shared.manifest import file_sha256

    models = _shipped(tmp_path)
    manifest = models / "manifest.json"
    raw = json.loads(manifest.read_text())
    entry = raw["music_mood"]
    npz = models / "music_mood.npz"
    if damage.startswith("bytes"):
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0xFF
        npz.write_bytes(bytes(data))
        if damage == "bytes+hash":
            entry["sha256"] = file_sha256(npz)
    elif damage == "version":
        entry["extractor_version"] = EXTRACTOR_VERSION + 1
    elif damage == "features":
        entry["features"] = entry["features"][:-1]
    elif damage == "params":
        entry["extractor_params"]["bogus"] = 1
    elif damage in ("shape", "tree"):
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "shape":
            arrays["coef"] = arrays["coef"][:2]
        else:  # a node that points back at itself would never end
            arrays["tree_left"][arrays["tree_root"][1]] = arrays["tree_root"][1]
        np.savez(npz, **arrays)
        entry["sha256"] = file_sha256(npz)
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=message):
        load_music_mood(models)


def test_a_malformed_entry_names_the_problem(tmp_path):
    models = _shipped(tmp_path)
    raw = json.loads((models / "manifest.json").read_text())
    del raw["music_mood"]["features"]
    (models / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="music_mood: missing key 'features'"):
        load_manifest(models)


def test_full_quality_and_a_40_kbps_reencode_score_alike(tmp_path):
    """The model learnt from 40 kbps mono re-encodes; a listener's file must score the
    same within 0.15 on each axis (docs/music-mood.md, "Full-quality files against training-grade
    copies": the 40 Emotify clips, measured)."""
    import soundfile as sf

    from trainer.music_mood.transfer import reencode_like_4q

    model = load_music_mood(_shipped(tmp_path))
    copy = tmp_path / "copy.mp3"
    reencode_like_4q(_need(EMOTIFY), copy)
    info = sf.info(str(copy))
    assert info.samplerate == 22050 and info.channels == 1
    a, b = model.score_file(EMOTIFY), model.score_file(copy)
    assert abs(a.valence - b.valence) <= 0.15 and abs(a.arousal - b.arousal) <= 0.15


def test_the_evidence_behind_the_day_one_targets():
    """docs/music-mood.md, "The day-one mapping and its evidence": sad listeners prefer low
    arousal (MUMR), happy ones positive valence (both sets); the picker's targets follow
    that."""
    from device.music.music_fit import DAY_ONE
    from trainer.music_mood.evidence import emotify, mumr

    m = mumr(_need(DATA / "mumr_field_study"))
    slope, ci, n = m.slopes["sad"]
    assert n == 55 and slope[1] < ci[1, 1] < 0  # arousal slope below 0, 95 % confidence
    e = emotify(_need(DATA / "emotify_sample"))
    for table in (e, m):
        assert table.slopes["happy"][1][0, 0] > 0  # valence slope above 0
    assert DAY_ONE["sad"].arousal < 0 < DAY_ONE["happy"].valence
    assert "slope of liked - disliked" in e.markdown()
