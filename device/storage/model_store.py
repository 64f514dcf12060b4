"""Where the speaker's models come from: the shipped folder, or a delivered set that replaced it.

Models delivered over MQTT (``moodspeaker-train publish``) are installed under the state
folder, because the shipped folder is read-only under systemd (``ProtectSystem=strict``):
``<state>/models/v-<time>-<id>/`` holds one complete set (manifest and every file it names),
and the symlink ``<state>/models/active`` points at the one in use. Installing writes a new
set beside the old one (fsynced), checks it with the same loaders the speaker uses, and only
then swaps the symlink with one ``rename``: a power cut at any moment leaves either the old
set or the new one in use, never a mix. A set that fails any check is deleted and the old
one stays.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from device.shared.manifest import MANIFEST_NAME, ManifestError, load_manifest, verify_file

log = logging.getLogger(__name__)

KEEP_SETS = 2  # the active set and the one before it


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def manifest_files(directory: Path) -> dict[str, str]:
    """Every artifact the manifest in ``directory`` names: file name -> sha256."""
    raw = load_manifest(directory).raw
    out = {}
    for key, section in raw.items():
        if isinstance(section, dict) and "file" in section and "sha256" in section:
            name = str(section["file"])
            if Path(name).name != name or name in ("", ".", ".."):
                raise ManifestError(
                    f"{directory / MANIFEST_NAME}: {key}.file {name!r} is not a plain file name"
                )
            out[name] = str(section["sha256"])
    return out


class ModelStore:
    def __init__(self, state_dir: Path, shipped: Path):
        self.root = Path(state_dir) / "models"
        self.shipped = Path(shipped)

    @property
    def active_link(self) -> Path:
        return self.root / "active"

    def current(self) -> Path:
        """The delivered set if one is installed, else the shipped folder."""
        if (self.active_link / MANIFEST_NAME).is_file():
            return self.active_link.resolve()
        return self.shipped

    def install(self, files: Mapping[str, bytes], validate: Callable[[Path], None]) -> Path:
        """Install a new set: ``files`` (must include the manifest) plus, for artifacts the
        new manifest names but ``files`` lacks, the current set's copies. ``validate`` loads
        the staged set and raises (a ``UserError``) to refuse it. Returns the new set."""
        if MANIFEST_NAME not in files:
            raise ManifestError(f"a model delivery must include {MANIFEST_NAME}")
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        staging = self.root / f".incoming-{name}"
        staging.mkdir()
        try:
            for fname, data in files.items():
                _write_durably(staging / fname, data)
            current = self.current()
            for fname, sha in manifest_files(staging).items():
                if fname not in files:
                    source = current / fname
                    verify_file(source, sha)  # the manifest must match what stays
                    shutil.copyfile(source, staging / fname)
                    with open(staging / fname, "rb+") as f:
                        os.fsync(f.fileno())
            _fsync_dir(staging)
            validate(staging)
            final = self.root / name
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        tmp_link = self.root / f".active-{uuid.uuid4().hex[:8]}"
        os.symlink(name, tmp_link)
        os.replace(tmp_link, self.active_link)
        _fsync_dir(self.root)
        self._prune(keep=name)
        log.info("models: installed %s (%s)", name, ", ".join(sorted(manifest_files(final))))
        return final

    def _prune(self, keep: str) -> None:
        sets = sorted(p for p in self.root.glob("v-*") if p.is_dir())
        for old in sets[:-KEEP_SETS]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.root.glob(".incoming-*"):  # left by a power cut mid-install
            shutil.rmtree(stale, ignore_errors=True)

    def describe(self) -> dict:
        """For logs and the status: which set is in use."""
        cur = self.current()
        try:
            raw = json.loads((cur / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        return {"dir": str(cur), "delivered": cur != self.shipped,
                "sections": sorted(k for k, v in raw.items() if isinstance(v, dict))}
