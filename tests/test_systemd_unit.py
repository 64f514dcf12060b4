"""The systemd unit: it verifies clean, it fits a Raspberry Pi, and it matches the CLI's
exit codes; SIGTERM (what ``systemctl stop`` sends) fades out, closes the listen and exits
0 well within ``TimeoutStopSec``."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.cli import main
from device.playback.outputs import AlsaOutput, make_output
from device.system.install.steps import render_unit
from device.system.install.target import Target
from tests.conftest import REPO
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import copy_clips

UNIT = REPO / "systemd" / "moodspeaker.service"


def _service_section() -> dict[str, list[str]]:
    """[Service] keys with every value (DeviceAllow= and Environment= repeat)."""
    values: dict[str, list[str]] = {}
    section = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_rendered_unit_passes_systemd_analyze_verify(tmp_path):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt install systemd)")
    venv = Path(sys.prefix)  # this venv has bin/moodspeaker, so ExecStart= resolves
    target = Target(source=REPO, root=tmp_path, external_venv=venv)
    unit = tmp_path / "moodspeaker.service"
    unit.write_text(render_unit(target))
    proc = subprocess.run([exe, "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0 and (proc.stdout + proc.stderr).strip() == "", proc.stderr
    # the checker does catch mistakes: a misspelt key is reported
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("ProtectHostname=", "ProtectHostnam="))
    proc = subprocess.run([exe, "verify", str(bad)], capture_output=True, text=True)
    assert "Unknown key 'ProtectHostnam'" in proc.stderr


def test_a_user_mistake_is_not_restarted(tmp_path, capsys):
    service = _service_section()
    assert service["Restart"] == ["on-failure"]
    bad = tmp_path / "config.toml"
    bad.write_text("[camera]\nfps = -1\n")
    code = main(["run", "--config", str(bad)])  # a config error, as the service meets it
    assert "camera.fps" in capsys.readouterr().err
    assert service["RestartPreventExitStatus"] == [str(code)] == ["2"]


def test_unit_fits_a_raspberry_pi():
    service = _service_section()
    assert "ProtectClock" not in service  # revokes /dev/rtc*; breaks USB ALSA cards
    assert "PrivateDevices" not in service  # would hide the camera and /dev/dma_heap
    assert "MemoryDenyWriteExecute" not in service  # libcamera/numpy need W+X maps
    allowed = {v.split()[0] for v in service["DeviceAllow"]}
    assert {"char-video4linux", "char-media", "char-dma_heap", "char-drm", "char-alsa",
            "/dev/vchiq"} <= allowed
    assert service["SupplementaryGroups"] == ["audio video render"]
    assert service["Type"] == ["notify"] and service["WatchdogSec"] == ["30s"]
    assert "Environment" in service and any(
        v.startswith("MOODSPEAKER_MODELS=") for v in service["Environment"])
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_alsa_output_is_what_a_system_service_uses():
    out = make_output("alsa:sysdefault:CARD=Headphones")
    assert isinstance(out, AlsaOutput)
    assert out.vlc_args()[-2:] == ["--aout=alsa", "--alsa-audio-device=sysdefault:CARD=Headphones"]
    assert make_output("alsa").vlc_args()[-1] == "--alsa-audio-device=default"


def _stop_timeout_s() -> float:
    return float(_service_section()["TimeoutStopSec"][0])


def test_sigterm_fades_out_closes_the_listen_and_exits_0_in_time(tmp_path):
    require_libvlc()
    lib = copy_clips(tmp_path / "music", per_genre=1)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[camera]\nsource = "none"\n[library]\npath = "{lib}"\n'
        f'[audio]\noutput = "dummy"\nfade_s = 1.0\n[state]\ndir = "{tmp_path / "state"}"\n'
        '[journal]\nposition_interval_s = 0.5\n')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(30)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen([sys.executable, "-m", "device.cli", "run", "--config", str(config)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        time.sleep(1.5)  # into the track, past a position write
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=_stop_timeout_s())[0]
        took = time.monotonic() - t0
        sock.settimeout(0.5)
        messages = []
        try:
            while True:
                messages.append(sock.recv(4096))
        except TimeoutError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, out
    assert took < _stop_timeout_s(), took
    assert any(b"STOPPING=1" in m for m in messages)
    con = sqlite3.connect(tmp_path / "state" / "journal.sqlite3")
    rows = con.execute("SELECT end_reason, ended_at, position_s FROM listens").fetchall()
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert rows and all(r[1] is not None for r in rows)  # nothing left open
    assert rows[-1][0] == "stopped" and rows[-1][2] > 0.5
