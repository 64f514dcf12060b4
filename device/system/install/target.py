"""Where an install goes: the paths on the target system, and how they map under --root."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from device.shared.errors import UserError

SERVICE_NAME = "moodspeaker.service"
#: the service user's groups: audio (/dev/snd), video (cameras), render (/dev/dri and, on
#: some Raspberry Pi OS images, libcamera's /dev/dma_heap)
SERVICE_GROUPS = ("audio", "video", "render")
APT_PACKAGES = ("python3", "python3-venv", "python3-pip", "libvlc5", "vlc-plugin-base",
                "alsa-utils")
PI_APT_PACKAGES = ("python3-picamera2",)
PREFIX = PurePosixPath("/opt/moodspeaker")
CONFIG_DIR = PurePosixPath("/etc/moodspeaker")
STATE_DIR = PurePosixPath("/var/lib/moodspeaker")
UNIT_DIR = PurePosixPath("/etc/systemd/system")


def find_checkout() -> Path:
    """The source tree this command runs from: the installer copies its unit, config
    template and models, and pip installs it."""
    here = Path(__file__).resolve().parents[3]
    if not ((here / "pyproject.toml").is_file() and (here / "systemd" / SERVICE_NAME).is_file()):
        raise UserError(
            f"{here}: not a Moodspeaker checkout (no pyproject.toml and systemd/{SERVICE_NAME});"
            " run the installer from the cloned repository: sudo python3 -m device.cli install"
        )
    return here


@dataclass(frozen=True)
class Target:
    """Paths as the installed system sees them (``/etc/...``) plus the tree they land in.

    ``root`` is ``/`` for a real install. Under any other root, files are written below it
    and commands that change the machine itself (apt, users, the running systemd) are not
    run: they are shown instead.
    """

    source: Path
    root: Path = Path("/")
    prefix: PurePosixPath = PREFIX
    user: str = "moodspeaker"
    config_dir: PurePosixPath = CONFIG_DIR
    state_dir: PurePosixPath = STATE_DIR
    unit_dir: PurePosixPath = UNIT_DIR
    external_venv: PurePosixPath | None = None  # --venv: use this one, do not build ours
    on_pi: bool = False
    python: str = field(default_factory=lambda: system_python())

    @property
    def live(self) -> bool:
        """True when the steps act on this machine (root is /)."""
        return self.root == Path("/")

    @property
    def venv(self) -> PurePosixPath:
        return self.external_venv or self.prefix / "venv"

    @property
    def venv_here(self) -> Path:
        """The venv as this process reaches it: --venv names a folder on this machine."""
        return Path(self.external_venv) if self.external_venv else self.at(self.venv)

    @property
    def models_dir(self) -> PurePosixPath:
        return self.prefix / "models"

    @property
    def docs_dir(self) -> PurePosixPath:
        return self.prefix / "docs"

    @property
    def config_file(self) -> PurePosixPath:
        return self.config_dir / "config.toml"

    @property
    def unit_file(self) -> PurePosixPath:
        return self.unit_dir / SERVICE_NAME

    def at(self, path: PurePosixPath) -> Path:
        """Where a target path is in this tree: ``/etc/x`` -> ``ROOT/etc/x``."""
        return self.root / str(path).lstrip("/")

    def apt_packages(self) -> tuple[str, ...]:
        return APT_PACKAGES + (PI_APT_PACKAGES if self.on_pi else ())

    def existing_groups(self) -> tuple[str, ...]:
        """The service groups the target has (a unit naming a missing group fails to start)."""
        group_file = self.at(PurePosixPath("/etc/group"))
        if not self.live:
            if not group_file.is_file():
                return SERVICE_GROUPS
            names = {line.split(":", 1)[0] for line in group_file.read_text().splitlines()}
            return tuple(g for g in SERVICE_GROUPS if g in names)
        return tuple(g for g in SERVICE_GROUPS if _group_exists(g))


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def user_groups(name: str) -> set[str]:
    return {g.gr_name for g in grp.getgrall() if name in g.gr_mem}


def system_python() -> str:
    """The distribution's python3: a venv made from it with --system-site-packages sees
    the apt packages (python3-picamera2 on a Pi)."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def detect_pi(root: Path) -> bool:
    """A Raspberry Pi says so in its device tree (under ``root``, so tests can pretend)."""
    try:
        return "Raspberry Pi" in (root / "proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


def make_target(*, root: Path, venv: Path | None, prefix: str, user: str) -> Target:
    root = root.resolve()
    if not root.is_dir():
        raise UserError(f"--root: {root} is not a folder")
    if venv is not None and not (venv / "bin" / "python").exists():
        raise UserError(f"--venv: {venv} is not a virtual environment (no bin/python)")
    if not PurePosixPath(prefix).is_absolute():
        raise UserError(f"--prefix: {prefix!r} must be an absolute path")
    return Target(
        source=find_checkout(), root=root, prefix=PurePosixPath(prefix), user=user,
        external_venv=PurePosixPath(os.path.abspath(venv)) if venv else None,
        on_pi=detect_pi(root),
    )
