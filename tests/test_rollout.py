"""Staged model rollout to a fleet on a real Mosquitto: canaries first, the rest only if
they answer ok, several transfers at once, offline speakers queued by the broker and
installing when they come back, a failing canary stopping the rollout, and the report.
The speakers are the real MQTT side (bridge, transport, model receiver and store) with a
stand-in loop (tests/harness/bridge.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from device.shared.errors import UserError
from device.storage.model_store import ModelStore
from tests.conftest import MODELS
from tests.harness.bridge import make_bridge
from tests.harness.speaker import until
from trainer.cli import main as trainer_main
from trainer.sync.publish import plan
from trainer.sync.rollout import canaries, read_group, rollout, version_of


@pytest.fixture
def models(tmp_path):
    """A model set to deliver: the shipped manifest and the taste model it names."""
    out = tmp_path / "export"
    out.mkdir()
    shutil.copy(MODELS / "manifest.json", out)
    shutil.copy(MODELS / "taste.npz", out)
    return out


def test_canaries_are_a_stable_share_of_at_least_one():
    fleet = [f"spk{i}" for i in range(20)]
    first = canaries(fleet, 0.1)
    assert len(first) == 2 and first == canaries(list(reversed(fleet)), 0.1)
    assert len(canaries(fleet[:3], 0.1)) == 1


def test_a_rollout_reaches_the_fleet_and_queues_for_the_offline(mqtt_broker, tmp_path, models):
    speakers = {f"spk{i}": make_bridge(mqtt_broker.settings(), tmp_path / f"s{i}", f"spk{i}")
                for i in range(5)}
    offline, _loop, _c = speakers.pop("spk4")
    offline.stop()  # announced once (retained "offline" now): its session queues the transfer
    delivery = plan(models, ["taste.npz"])
    try:
        outcomes = rollout(mqtt_broker.settings(), delivery, devices=None, canary=0.2,
                           parallel=3, timeout=30)
        by = {o.device: o for o in outcomes}
        assert set(by) == {f"spk{i}" for i in range(5)}
        assert by["spk4"].state == "queued"
        online = [o for d, o in by.items() if d != "spk4"]
        assert all(o.state == "ok" and o.version == version_of(delivery) for o in online)
        assert sum(o.stage == "canary" for o in outcomes) == 1
        for i in range(4):  # each installed the delivered set
            current = ModelStore(tmp_path / f"s{i}" / "state", MODELS).current()
            assert (current / "taste.npz").read_bytes() == (models / "taste.npz").read_bytes()
        # the offline speaker comes back: the queued transfer installs
        back, _loop, _c = make_bridge(mqtt_broker.settings(), tmp_path / "s4", "spk4")
        store = ModelStore(tmp_path / "s4" / "state", MODELS)
        until(lambda: store.current() != MODELS, 15, "the queued transfer installed")
        back.stop()
    finally:
        for bridge, _loop, _comms in speakers.values():
            bridge.stop()


def test_a_failing_canary_stops_the_rollout(mqtt_broker, tmp_path, models):
    from device.shared.manifest import ManifestError

    def refuse(_folder):
        raise ManifestError("this speaker refuses every model set")

    ids = [f"spk{i}" for i in range(4)]
    first = canaries(ids, 0.25)[0]
    bridges = [make_bridge(mqtt_broker.settings(), tmp_path / d, d,
                           check=refuse if d == first else None)[0] for d in ids]
    try:
        outcomes = rollout(mqtt_broker.settings(), plan(models, ["taste.npz"]), devices=ids,
                           canary=0.25, timeout=30)
        by = {o.device: o for o in outcomes}
        assert by[first].state == "refused" and "refuses every model set" in by[first].error
        assert {by[d].state for d in ids if d != first} == {"not sent"}
        for d in ids:  # nobody's models changed
            assert ModelStore(tmp_path / d / "state", MODELS).current() == MODELS
    finally:
        for b in bridges:
            b.stop()


def test_the_command_reports_who_has_which_version(mqtt_broker, tmp_path, models, capsys):
    bridges = [make_bridge(mqtt_broker.settings(), tmp_path / d, d)[0] for d in ("a1", "a2")]
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[groups]\nkitchen = ["a1", "a2", "ghost"]\n')
    report = tmp_path / "report.json"
    try:
        code = trainer_main(["rollout", "--host", "127.0.0.1", "--port", str(mqtt_broker.port),
                             "--group", "kitchen", "--fleet", str(fleet), "--models",
                             str(models), "--files", "taste.npz", "--report", str(report),
                             "--timeout", "20"])
        data = json.loads(report.read_text())
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == data
        states = {s["device"]: s["state"] for s in data["speakers"]}
        assert states == {"a1": "ok", "a2": "ok", "ghost": "unknown"}
        assert code == 1  # not everyone has it: the ghost never announced itself
        assert data["counts"] == {"ok": 2, "unknown": 1}
    finally:
        for b in bridges:
            b.stop()


def test_a_group_missing_from_the_fleet_file_is_a_clear_error(tmp_path):
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[groups]\nkitchen = ["a1"]\n')
    with pytest.raises(UserError, match=r"no group 'hall'.*known: kitchen"):
        read_group(fleet, "hall")
