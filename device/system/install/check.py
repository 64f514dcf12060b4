"""``moodspeaker check``: what works on this machine, as the service would use it.

Looks, never holds: the camera is listed, not opened (a running speaker owns it), the
sound card is looked up, the library counted, the models verified against their
manifest, and the MQTT broker, when one is configured, asked for a session.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.mqtt.bridge import mqtt_settings
from device.shared.errors import UserError
from device.shared.manifest import load_manifest, verify_file
from device.shared.mqtt_client import ConnectError, connect, make_client, why_unreachable
from device.system.config import Config, load_config

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".mp4", ".wav"})
COUNT_LIMIT = 100_000  # a library walk stops counting here: this is a check, not a scan


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not used by this config
    detail: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[self.ok]
        return f"  {mark}  {self.name}: {self.detail}"


def check_camera(cfg: Config) -> Check:
    src = cfg.camera.source
    if src == "none":
        return Check("camera", None, "off (camera.source = none)")
    if src == "picamera2":
        try:
            from picamera2 import Picamera2  # optional: only on a Raspberry Pi
        except ImportError:
            return Check("camera", False, "picamera2 is not importable (Raspberry Pi OS: "
                         "apt install python3-picamera2, venv with --system-site-packages)")
        cams = Picamera2.global_camera_info()
        if not cams:
            return Check("camera", False, "picamera2: no camera found (ribbon cable, "
                         "camera_auto_detect=1 in /boot/firmware/config.txt)")
        models = ", ".join(str(c.get("Model", "?")) for c in cams)
        return Check("camera", True, f"picamera2: {len(cams)} found ({models})")
    kind, _, arg = src.partition(":")
    if kind == "opencv":
        node = f"/dev/video{arg}" if arg.isdigit() else arg
        if not os.path.exists(node):
            return Check("camera", False, f"{src}: no {node} (USB webcam unplugged?)")
        if not os.access(node, os.R_OK | os.W_OK):
            return Check("camera", False, f"{src}: no permission on {node} (video group?)")
        return Check("camera", True, f"{src}: {node} present")
    path = Path(arg)
    return Check("camera", path.exists(), f"{src}: " + ("found" if path.exists() else "missing"))


def sound_cards(proc_cards: Path = Path("/proc/asound/cards")) -> list[tuple[int, str, str]]:
    """(index, id, description) for each ALSA card, e.g. (0, "Headphones", "bcm2835 ...")."""
    try:
        text = proc_cards.read_text()
    except OSError:
        return []
    return [(int(m[1]), m[2].strip(), m[3].strip())
            for m in re.finditer(r"^\s*(\d+)\s+\[([^\]]+)\]:\s*(.*)$", text, re.MULTILINE)]


def check_sound(cfg: Config, proc_cards: Path = Path("/proc/asound/cards")) -> Check:
    out = cfg.audio.output
    if out == "dummy" or out.startswith("file:"):
        return Check("sound card", None, f"not used (audio.output = {out})")
    cards = sound_cards(proc_cards)
    if not cards:
        return Check("sound card", False, f"none in {proc_cards} (HDMI audio needs a "
                     "screen plugged in at boot; a USB card: is it plugged in?)")
    shown = ", ".join(f"{i} {cid} ({desc})" for i, cid, desc in cards)
    wanted = re.search(r"CARD=([^,]+)", out)
    if wanted and wanted[1] not in {cid for _, cid, _ in cards}:
        return Check("sound card", False, f"audio.output names CARD={wanted[1]}, not among "
                     f"{shown}")
    return Check("sound card", True, shown)


def check_library(cfg: Config) -> Check:
    root = cfg.library.path
    try:
        os.listdir(root)
    except PermissionError:
        return Check("library", False, f"{root}: no permission to read it (the service user "
                     "must reach it: a home folder is private on Raspberry Pi OS; /srv/music)")
    except OSError:
        return Check("library", False, f"{root} is not a folder (library.path; a disk not "
                     "mounted yet?)")
    n = 0
    for _dirpath, _dirs, files in os.walk(root):
        n += sum(1 for f in files if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS)
        if n >= COUNT_LIMIT:
            return Check("library", True, f"{root}: at least {n} audio files")
    if n == 0:
        return Check("library", False, f"{root}: no audio files (mp3, ogg, flac, m4a, wav)")
    return Check("library", True, f"{root}: {n} audio files")


def check_models(cfg: Config) -> Check:
    try:
        manifest = load_manifest(cfg.models.dir)
        found = []
        for name, spec in (("fer", manifest.fer), ("taste", manifest.taste)):
            if spec is not None:
                verify_file(spec.path, spec.sha256)
                found.append(f"{name} {spec.path.name}")
    except UserError as exc:
        return Check("models", False, str(exc))
    if manifest.fer is None and cfg.camera.source != "none":
        return Check("models", False, f"{cfg.models.dir}: no facial-mood model (fer)")
    return Check("models", True, f"{cfg.models.dir}: " + ", ".join(found) + " (sha256 ok)")


def check_broker(cfg: Config, timeout_s: float = 5.0) -> Check:
    """Connect exactly as the speaker does (same settings, TLS whenever the speaker would
    use it), ask for a session, and say what happened."""
    m = cfg.mqtt
    if m.host is None:
        return Check("broker", None, "not configured ([mqtt] host)")
    settings = mqtt_settings(m)
    where = f"{m.host}:{m.port}"
    try:
        client = make_client(settings, f"moodspeaker-check-{os.getpid()}")
        connect(client, settings, timeout=timeout_s)
    except ConnectError as exc:
        cause = why_unreachable(settings, timeout_s) if "no answer" in str(exc) else ""
        return Check("broker", False, f"{exc}{'; ' + cause if cause else ''}")
    client.disconnect()
    client.loop_stop()
    return Check("broker", True, f"{where}: session accepted")


def check_service(name: str = "moodspeaker.service") -> Check:
    try:
        proc = subprocess.run(["systemctl", "is-active", name], capture_output=True,
                              text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return Check("service", None, "systemctl is not available here")
    state = proc.stdout.strip() or "unknown"
    return Check("service", state == "active", f"{name} {state}")


CHECKS: tuple[Callable[[Config], Check], ...] = (
    check_camera, check_sound, check_library, check_models, check_broker,
)


def run_checks(config_path: Path | None, *, service: bool,
               out: Callable[[str], None] = print) -> int:
    """Print one line per check; 0 when nothing failed, else 1."""
    try:
        cfg = load_config(config_path)
    except UserError as exc:
        out(Check("config", False, str(exc)).line())
        return 1
    results = [Check("config", True, str(config_path or "defaults"))]
    results += [check(cfg) for check in CHECKS]
    if service:
        results.append(check_service())
    for r in results:
        out(r.line())
    failed = [r.name for r in results if r.ok is False]
    out("check: " + ("all good" if not failed else "problems with " + ", ".join(failed)))
    return 1 if failed else 0
