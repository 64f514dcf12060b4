"""Which speaker this is: a device id that is unique and stable with no configuration.

Never the host name: every fresh Raspberry Pi is called ``raspberrypi``, and two speakers
with one id throw each other off the broker and merge their listens in the trainer's store.
In order: ``[mqtt] device_id`` (a provisioned speaker's name, which the broker's ACL is
keyed on); else the Pi's hardware serial (it survives a cloned SD card); else a random id
made once and kept in the state folder.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

ID_FILE = "device_id"
#: where a Raspberry Pi says its serial number (device tree first, then the old cpuinfo)
SERIAL_SOURCES = (Path("/proc/device-tree/serial-number"), Path("/proc/cpuinfo"))
_SERIAL_LINE = re.compile(r"^Serial\s*:\s*([0-9a-fA-F]+)\s*$", re.M)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def hardware_serial(sources: tuple[Path, ...] = SERIAL_SOURCES) -> str | None:
    """The board's serial number (lower-case hex, leading zeros dropped), or None."""
    for path in sources:
        try:
            text = path.read_bytes().decode("ascii", "replace")
        except OSError:
            continue
        match = _SERIAL_LINE.search(text) if path.name == "cpuinfo" else None
        raw = match.group(1) if match else text.strip("\x00 \n")
        serial = raw.lower().lstrip("0")
        if serial and re.fullmatch(r"[0-9a-f]{4,32}", serial):
            return serial
    return None


def device_id(configured: str | None, state_dir: Path, *,
              sources: tuple[Path, ...] = SERIAL_SOURCES) -> str:
    """This speaker's id (see the module's docstring for the order)."""
    if configured is not None:
        return configured
    serial = hardware_serial(sources)
    if serial is not None:
        return f"ms-{serial}"
    return _kept_random_id(state_dir / ID_FILE)


def _kept_random_id(path: Path) -> str:
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    if _ID.fullmatch(kept):
        return kept
    if kept:
        log.warning("%s: %r is not a device id; making a new one", path, kept[:80])
    new = f"ms-{secrets.token_hex(6)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(new + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    log.info("device id: %s (made once, kept in %s)", new, path)
    return new
