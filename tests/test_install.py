"""``moodspeaker install / uninstall / check``, run for real on a --root tree.

Under --root the installer writes the real files (config, unit, models), enables the unit
with the real ``systemctl --root`` and runs the real final check in a subprocess; what
would change this machine itself (apt, useradd, the running systemd) is shown, not run.
The service runs from the checkout's venv (``--venv``), so no package is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from device.cli import main
from device.system.install.check import check_sound, sound_cards
from tests.conftest import MODELS, REPO

VENV = Path(sys.prefix)  # the venv running these tests: it has moodspeaker installed
needs_systemctl = pytest.mark.skipif(shutil.which("systemctl") is None,
                                     reason="systemctl is not installed (enable uses it)")


def _tree(root: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _install(root: Path, *extra: str) -> int:
    return main(["install", "--root", str(root), "--venv", str(VENV), *extra])


def _pretend_pi(root: Path) -> None:
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_text("Raspberry Pi 5 Model B Rev 1.0\0")


@pytest.mark.parametrize("pi", [False, True], ids=["debian", "raspberry-pi"])
def test_dry_run_prints_every_step_and_changes_nothing(tmp_path, capsys, pi):
    if pi:
        _pretend_pi(tmp_path)
    before = _tree(tmp_path)
    assert main(["install", "--dry-run", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert _tree(tmp_path) == before
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert len(steps) == 12 and all(f"[{i}/12]" in s for i, s in enumerate(steps, 1))
    assert ("python3-picamera2" in steps[0]) == pi
    venv_step = next(s for s in steps if "virtual environment" in s)
    assert ("-m venv --system-site-packages" in venv_step) == pi
    assert "useradd --system" in out and "usermod --append --groups audio,video" in out
    assert "pip install" in out and f"{REPO}[device]" in out
    assert "systemctl --root=" in out and "enable moodspeaker.service" in out


@needs_systemctl
def test_install_into_a_tree_is_complete_and_idempotent(tmp_path, capfd):
    assert _install(tmp_path) == 0
    out = capfd.readouterr().out
    config = tmp_path / "etc/moodspeaker/config.toml"
    assert config.read_text() == (REPO / "systemd/config.example.toml").read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    unit = (tmp_path / "etc/systemd/system/moodspeaker.service").read_text()
    assert f"ExecStart={VENV}/bin/moodspeaker run --config /etc/moodspeaker/config.toml" in unit
    assert "Environment=MOODSPEAKER_MODELS=/opt/moodspeaker/models" in unit
    assert "Documentation=file:///opt/moodspeaker/docs/install.md" in unit
    assert (tmp_path / "opt/moodspeaker/docs/install.md").read_bytes() == (
        REPO / "docs/install.md").read_bytes()
    link = tmp_path / "etc/systemd/system/multi-user.target.wants/moodspeaker.service"
    assert link.is_symlink()
    for name in ("manifest.json", "fer_int8.tflite", "taste.npz"):
        copied = tmp_path / "opt/moodspeaker/models" / name
        assert hashlib.sha256(copied.read_bytes()).digest() == hashlib.sha256(
            (MODELS / name).read_bytes()).digest()
    assert "useradd" in out and "not run under --root" in out
    # the real final check ran in the venv, against the tree's config and models
    assert "check (what works now):" in out and "models: " in out
    assert "sha256 ok" in out

    before = _tree(tmp_path)
    assert _install(tmp_path) == 0
    again = capfd.readouterr().out
    assert "install: changed 0," in again and _tree(tmp_path) == before


@needs_systemctl
def test_an_existing_config_is_never_overwritten(tmp_path, capfd):
    config = tmp_path / "etc/moodspeaker/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[camera]\nsource = "none"\n')
    assert _install(tmp_path) == 0
    assert config.read_text() == '[camera]\nsource = "none"\n'
    assert "config /etc/moodspeaker/config.toml (an existing one is never overwritten): " \
           "already done" in capfd.readouterr().out


@needs_systemctl
def test_a_changed_source_is_copied_again(tmp_path, capfd):
    assert _install(tmp_path) == 0
    model = tmp_path / "opt/moodspeaker/models/taste.npz"
    model.write_bytes(b"stale")
    unit = tmp_path / "etc/systemd/system/moodspeaker.service"
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    capfd.readouterr()
    assert _install(tmp_path) == 0
    out = capfd.readouterr().out
    assert "install: changed 2," in out
    assert model.read_bytes() == (MODELS / "taste.npz").read_bytes()
    assert "Type=notify" in unit.read_text()


@needs_systemctl
def test_uninstall_keeps_journal_and_config_unless_purge(tmp_path, capfd):
    assert _install(tmp_path) == 0
    state = tmp_path / "var/lib/moodspeaker"
    state.mkdir(parents=True)
    (state / "journal.sqlite3").write_bytes(b"listens")
    capfd.readouterr()
    assert main(["uninstall", "--root", str(tmp_path), "--venv", str(VENV)]) == 0
    out = capfd.readouterr().out
    assert not (tmp_path / "etc/systemd/system/moodspeaker.service").exists()
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants/moodspeaker.service"
                ).is_symlink()
    assert not (tmp_path / "opt/moodspeaker").exists()
    assert (state / "journal.sqlite3").read_bytes() == b"listens"
    assert (tmp_path / "etc/moodspeaker/config.toml").is_file()
    assert "kept the config" in out
    assert VENV.is_dir()  # an external venv is never removed

    assert main(["uninstall", "--root", str(tmp_path), "--dry-run"]) == 0
    assert "uninstall: would change 0," in capfd.readouterr().out
    assert main(["uninstall", "--root", str(tmp_path), "--purge"]) == 0
    out = capfd.readouterr().out
    assert not state.exists() and not (tmp_path / "etc/moodspeaker").exists()
    assert "userdel moodspeaker" in out and "kept the config" not in out


def test_uninstall_leaves_a_prefix_it_did_not_make(tmp_path, capsys):
    mine = tmp_path / "opt/moodspeaker/notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("someone else's")
    assert main(["uninstall", "--root", str(tmp_path)]) == 0
    assert mine.read_text() == "someone else's"


def test_install_on_this_machine_needs_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["install"]) == 2
    assert "run it as root" in capsys.readouterr().err


def test_bad_root_and_venv_are_user_errors(tmp_path, capsys):
    assert main(["install", "--root", str(tmp_path / "nope")]) == 2
    assert "--root" in capsys.readouterr().err
    assert main(["install", "--root", str(tmp_path), "--venv", str(tmp_path)]) == 2
    assert "--venv" in capsys.readouterr().err


# --------------------------------------------------------------- moodspeaker check

PI_CARDS = """\
 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
"""


def test_sound_cards_from_proc_asound(tmp_path):
    cards = tmp_path / "cards"
    cards.write_text(PI_CARDS)
    assert sound_cards(cards) == [(0, "Headphones", "bcm2835_headpho - bcm2835 Headphones"),
                                  (1, "vc4hdmi0", "vc4-hdmi - vc4-hdmi-0")]

    class Audio:
        output = "default"

    cfg = type("Cfg", (), {"audio": Audio})
    assert check_sound(cfg, cards).ok is True
    Audio.output = "alsa:sysdefault:CARD=Device"
    assert check_sound(cfg, cards).ok is False
    cards.write_text("--- no soundcards ---\n")
    Audio.output = "default"
    assert check_sound(cfg, cards).ok is False


def _check_config(tmp_path, models: Path, extra: str = "") -> Path:
    from tests.harness.speaker import copy_clips

    music = copy_clips(tmp_path / "music", per_genre=1)
    config = tmp_path / "config.toml"
    config.write_text(f'[camera]\nsource = "replay:{REPO / "device/system/demo_frames"}"\n'
                      f'[library]\npath = "{music}"\n[audio]\noutput = "dummy"\n'
                      f'[models]\ndir = "{models}"\n{extra}')
    return config


def test_check_lists_what_works(tmp_path, capsys):
    config = _check_config(tmp_path, MODELS)
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ok    camera: replay:" in out and "--    sound card: not used" in out
    n = sum(1 for _ in (tmp_path / "music").rglob("*.mp3"))
    assert n > 0 and f"ok    library: {tmp_path / 'music'}: {n} audio files" in out
    assert "ok    models: " in out and "--    broker: not configured" in out
    assert out.rstrip().endswith("check: all good")


def test_check_names_a_corrupt_model(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(MODELS, models, ignore=shutil.ignore_patterns("fer_report"))
    (models / "fer_int8.tflite").write_bytes(b"broken")
    config = _check_config(tmp_path, models)
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  models: " in out and "sha256" in out and "problems with models" in out


@pytest.fixture
def mosquitto(tmp_path):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(exe, os.X_OK):
        pytest.skip("mosquitto is not installed (apt package mosquitto)")
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    # as root, mosquitto would switch to its own user, which cannot read pytest's tmp dir
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {tmp_path / 'passwd'}\n"
                    + ("user root\n" if os.geteuid() == 0 else ""))
    (tmp_path / "passwd").write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), "speaker", "s3cret"],
                   check=True)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(5)


def test_check_asks_the_broker_for_a_session(tmp_path, capsys, mosquitto):
    good = _check_config(tmp_path, MODELS, f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto}\n'
                         'username = "speaker"\npassword = "s3cret"\n')
    assert main(["check", "--config", str(good)]) == 0
    assert f"ok    broker: 127.0.0.1:{mosquitto}: session accepted" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("s3cret", "wrong"))
    assert main(["check", "--config", str(bad)]) == 1
    assert "FAIL  broker: " in capsys.readouterr().out


def test_check_names_a_library_that_is_not_there(tmp_path, capsys):
    config = _check_config(tmp_path, MODELS)
    config.write_text(config.read_text().replace(str(tmp_path / "music"),
                                                 str(tmp_path / "unmounted")))
    assert main(["check", "--config", str(config)]) == 1
    assert f"FAIL  library: {tmp_path / 'unmounted'} is not a folder" in capsys.readouterr().out
