"""The real speaker, the real ingest and the real publisher on one real Mosquitto: the
listening log survives outages and restarts exactly once, and models are delivered (or
refused) while the music plays. The camera is absent (FixedMood)."""

from __future__ import annotations

import json
import shutil

import numpy as np

from device.shared.manifest import file_sha256, write_entry
from device.shared.mqtt_protocol import Topics
from device.storage.journal import Journal
from tests.conftest import MODELS
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import until
from tests.mqtt_speaker import Remote, running, speaker_config
from trainer.sync.ingest import Ingest
from trainer.sync.publish import plan, publish
from trainer.sync.store import ListenStore

require_libvlc()


def _closed(journal_path) -> list[str]:
    with Journal(journal_path) as j:
        return [r.event_id for r in j.all() if r.ended_at is not None]


def test_an_outage_and_restarts_end_with_exactly_n_listens_all_synced(tmp_path, mqtt_broker):
    cfg = speaker_config(tmp_path, mqtt_broker.settings(), track_s=3.0,
                         audio={"fade_s": 0.0}, resume={"enabled": False})
    mqtt_broker.stop()  # the broker is away from the start
    for _ in range(2):  # two runs, a restart in between, both while the broker is down
        with running(cfg) as parts:
            until(lambda p=parts: p.speaker.stats.completed >= 2, 30, "two completed tracks")
    with Journal(cfg.journal_path) as j:
        assert j.unsynced_count() >= 4 and not any(r.synced for r in j.all())
    mqtt_broker.start()
    store = tmp_path / "store.sqlite3"
    ingest = Ingest(mqtt_broker.settings(), store)
    ingest.start(timeout=10)
    try:
        with running(cfg) as parts:
            remote = Remote(mqtt_broker.settings(), Topics("spk1"))
            try:
                until(lambda p=parts: p.speaker.stats.completed >= 2, 30, "more tracks")
                assert remote.set("stop")["ok"]  # closes the open listen; nothing plays
            finally:
                remote.close()
            closed = _closed(cfg.journal_path)
            until(lambda: ListenStore(store).count() == len(closed), 30, "the backlog")
        with Journal(cfg.journal_path) as j:
            rows = j.all()
            assert j.unsynced_count() == 0 and all(r.synced for r in rows)
    finally:
        ingest.stop()
    with ListenStore(store) as s:
        stored = s.event_ids("spk1")
    assert sorted(stored) == sorted(r.event_id for r in rows)  # exactly N, no duplicates
    assert len(stored) == len(set(stored)) >= 7


def _models_copy(dest):
    shutil.copytree(MODELS, dest, ignore=shutil.ignore_patterns("fer_report"))
    return dest


def _new_taste(models, shift: float) -> None:
    """A valid taste model that differs from the shipped one (its prior moved)."""
    path = models / "taste.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["prior"] = np.clip(arrays["prior"] + shift, 0, 10).astype(np.float32)
    np.savez_compressed(path, **arrays)
    entry = json.loads((models / "manifest.json").read_text())["taste"]
    entry["sha256"] = file_sha256(path)
    write_entry(models, "taste", entry)


def test_models_are_refused_when_broken_and_swapped_in_while_music_plays(
        tmp_path, mqtt_broker):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    settings = mqtt_broker.settings()
    bad_fer = _models_copy(tmp_path / "bad_fer")
    (bad_fer / "fer_int8.tflite").write_bytes(b"TFL3" + b"\0" * 4000)  # not a model
    entry = json.loads((bad_fer / "manifest.json").read_text())["fer"]
    entry["sha256"] = file_sha256(bad_fer / "fer_int8.tflite")  # consistent, still broken
    write_entry(bad_fer, "fer", entry)
    bad_taste = _models_copy(tmp_path / "bad_taste")
    (bad_taste / "taste.npz").write_bytes(b"PK\3\4" + b"garbage" * 100)
    entry = json.loads((bad_taste / "manifest.json").read_text())["taste"]
    entry["sha256"] = file_sha256(bad_taste / "taste.npz")
    write_entry(bad_taste, "taste", entry)
    good = _models_copy(tmp_path / "good")
    _new_taste(good, 0.5)

    with running(cfg) as parts:
        old_taste = parts.speaker.picker.taste
        for bad, name in ((bad_fer, "fer_int8.tflite"), (bad_taste, "taste.npz")):
            result = publish(settings, "spk1", plan(bad, [name]), timeout=60)
            assert not result.ok and "the old models stay" in result.error, result
            assert name in result.error
            assert parts.models.current() == MODELS.resolve() or not (
                tmp_path / "state" / "models" / "active").exists()
            assert parts.speaker.picker.taste is old_taste
        played_before = parts.speaker.stats.played
        result = publish(settings, "spk1", plan(good, ["taste.npz"]), timeout=60)
        assert result.ok and result.files == ["manifest.json", "taste.npz"], result
        current = parts.models.current()
        assert current.parent == tmp_path / "state" / "models"
        assert file_sha256(current / "taste.npz") == file_sha256(good / "taste.npz")
        assert file_sha256(current / "fer_int8.tflite") == file_sha256(MODELS / "fer_int8.tflite")
        until(lambda: parts.speaker.picker.taste is not old_taste, 10, "the reload")
        st = parts.speaker.status()
        assert st.state == "playing" and parts.speaker.stats.played == played_before
    # the next start uses the delivered set
    with running(cfg) as parts:
        assert parts.models.current() == current
