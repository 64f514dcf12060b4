"""The install and uninstall plans: lists of steps, each one data the runner applies."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from device.shared.errors import UserError
from device.shared.manifest import MANIFEST_NAME
from device.system.install.target import SERVICE_NAME, Target, user_exists, user_groups

Command = tuple[str, ...]
MARKER = ".moodspeaker-install"  # in the prefix: uninstall removes only a folder it made


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Step:
    """One thing an install does. ``done`` must only look, never change anything."""

    title: str
    commands: tuple[Command, ...] = ()
    action: Callable[[], None] | None = None  # Python work after the commands (file steps)
    done: Callable[[], bool] = _never
    #: changes the machine itself (apt, users, the running systemd): shown, not run, when
    #: installing into a --root tree
    machine: bool = False
    #: only needed when an earlier step changed something (daemon-reload)
    only_if_changed: bool = False
    #: run instead of ``commands`` when an earlier step changed something (restart)
    if_changed: tuple[Command, ...] = ()
    what: str = ""  # what a file step does, for --dry-run


# ---------------------------------------------------------------- checks (read-only)

def missing_packages(packages: tuple[str, ...]) -> list[str]:
    """Packages dpkg does not list as installed (all of them where dpkg is absent)."""
    if shutil.which("dpkg-query") is None:
        return list(packages)
    missing = []
    for name in packages:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                              capture_output=True, text=True, check=False)
        if "install ok installed" not in proc.stdout:
            missing.append(name)
    return missing


def systemctl(target: Target, *args: str) -> Command:
    root = () if target.live else (f"--root={target.root}",)
    return ("systemctl", *root, *args)


def _active(name: str) -> bool:
    try:
        proc = subprocess.run(["systemctl", "is-active", "--quiet", name],
                              capture_output=True, check=False)
    except OSError:  # no systemctl: nothing runs
        return False
    return proc.returncode == 0


def _running_since(name: str, config: Path) -> bool:
    """Active, and started after the config was last written (so it runs with it)."""
    if not _active(name):
        return False
    proc = subprocess.run(["systemctl", "show", "--timestamp=unix", "--property",
                           "ActiveEnterTimestamp", "--value", name],
                          capture_output=True, text=True, check=False)
    try:
        started = float(proc.stdout.strip().lstrip("@"))
    except ValueError:
        return False
    return not config.exists() or config.stat().st_mtime <= started


def _wants_link(target: Target) -> Path:
    return target.at(target.unit_dir / "multi-user.target.wants" / SERVICE_NAME)


def source_digest(source: Path) -> str:
    """What was pip-installed: pyproject.toml and every file of the device package."""
    digest = hashlib.sha256()
    files = [source / "pyproject.toml", *sorted((source / "device").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def model_files(source: Path) -> list[str]:
    """manifest.json and every artifact it names (nothing else from models/)."""
    manifest = source / "models" / MANIFEST_NAME
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{manifest}: cannot read the checkout's model manifest: {exc}") from None
    names = [str(section["file"]) for section in raw.values()
             if isinstance(section, dict) and "file" in section]
    missing = [n for n in names if not (source / "models" / n).is_file()]
    if missing:
        raise UserError(f"{manifest}: names {', '.join(missing)}, not in the checkout")
    return [MANIFEST_NAME, *names]


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


# ---------------------------------------------------------------- what the files hold

def render_unit(target: Target) -> str:
    """The repository's unit with this install's paths, user and existing groups."""
    text = (target.source / "systemd" / SERVICE_NAME).read_text(encoding="utf-8")
    replacements = {
        "/opt/moodspeaker/venv": str(target.venv),
        "/opt/moodspeaker/models": str(target.models_dir),
        "/opt/moodspeaker/docs": str(target.docs_dir),
        "/etc/moodspeaker/config.toml": str(target.config_file),
        "SupplementaryGroups=audio video render":
            "SupplementaryGroups=" + " ".join(target.existing_groups()),
        "User=moodspeaker": f"User={target.user}",
        "Group=moodspeaker": f"Group={target.user}",
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"systemd/{SERVICE_NAME}: expected {old!r} in the template")
        text = text.replace(old, new)
    return text


# ---------------------------------------------------------------- file actions

def _write(target: Target, path: PurePosixPath, text: str, mode: int, group: str | None = None):
    def action() -> None:
        dest = target.at(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        if group is not None and target.live:
            shutil.chown(tmp, "root", group)
        os.replace(tmp, dest)
    return action


def _copy_into(src_dir: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = src_dir / name
        if not _same_file(src, dest / name):
            tmp = dest / (name + ".tmp")
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest / name)


def _copy_models(target: Target) -> Callable[[], None]:
    def action() -> None:
        _copy_into(target.source / "models", target.at(target.models_dir),
                   model_files(target.source))
        (target.at(target.prefix) / MARKER).write_text("made by moodspeaker install\n")
    return action


def _models_current(target: Target) -> bool:
    dest = target.at(target.models_dir)
    return all(_same_file(target.source / "models" / name, dest / name)
               for name in model_files(target.source))


def doc_files(source: Path) -> list[str]:
    """The reference pages (docs/*.md); the unit's Documentation= names install.md."""
    return sorted(p.name for p in (source / "docs").glob("*.md"))


def _copy_docs(target: Target) -> Callable[[], None]:
    return lambda: _copy_into(target.source / "docs", target.at(target.docs_dir),
                              doc_files(target.source))


def _docs_current(target: Target) -> bool:
    dest = target.at(target.docs_dir)
    return all(_same_file(target.source / "docs" / name, dest / name)
               for name in doc_files(target.source))


def _venv_ready(target: Target) -> bool:
    cfg = target.at(target.venv) / "pyvenv.cfg"
    if not (target.at(target.venv) / "bin" / "python").exists() or not cfg.is_file():
        return False
    return not target.on_pi or "include-system-site-packages = true" in cfg.read_text()


def _stamp(target: Target) -> Path:
    return target.at(target.venv) / ".moodspeaker-source"


def _installed_current(target: Target) -> bool:
    stamp = _stamp(target)
    return stamp.is_file() and stamp.read_text().strip() == source_digest(target.source)


def _write_stamp(target: Target) -> Callable[[], None]:
    def write() -> None:
        _stamp(target).write_text(source_digest(target.source) + "\n")

    return write


# ---------------------------------------------------------------- the plans

def install_steps(target: Target) -> list[Step]:
    t = target
    steps: list[Step] = []
    missing = missing_packages(t.apt_packages())
    steps.append(Step(
        "system packages: " + " ".join(t.apt_packages()),
        commands=(("apt-get", "update"),
                  ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                   "--no-install-recommends", *missing)),
        done=lambda: not missing, machine=True,
    ))
    groups = t.existing_groups()
    steps.append(Step(
        f"service user {t.user}",
        commands=(("useradd", "--system", "--user-group", "--home-dir", str(t.state_dir),
                   "--no-create-home", "--shell", "/usr/sbin/nologin", t.user),),
        done=lambda: user_exists(t.user), machine=True,
    ))
    steps.append(Step(
        f"{t.user} in the groups " + ", ".join(groups),
        commands=(("usermod", "--append", "--groups", ",".join(groups), t.user),),
        done=lambda: set(groups) <= user_groups(t.user), machine=True,
    ))
    if t.external_venv is None:
        flags = ("--system-site-packages",) if t.on_pi else ()
        steps.append(Step(
            f"virtual environment {t.venv}"
            + (" (with the system's packages: picamera2 comes from apt)" if t.on_pi else ""),
            commands=((t.python, "-m", "venv", *flags, str(t.at(t.venv))),),
            done=lambda: _venv_ready(t),
        ))
        pip = str(t.at(t.venv) / "bin" / "python")
        steps.append(Step(
            f"moodspeaker from {t.source} into the virtual environment",
            commands=((pip, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                       "--upgrade", f"{t.source}[device]"),),
            action=_write_stamp(t), done=lambda: _installed_current(t),
        ))
    model_files(t.source)  # a checkout without its models stops here, before any change
    steps.append(Step(
        f"models in {t.models_dir}", action=_copy_models(t), done=lambda: _models_current(t),
        what="copy models/manifest.json and the artifacts it names",
    ))
    template = (t.source / "systemd" / "config.example.toml").read_text(encoding="utf-8")
    steps.append(Step(
        f"config {t.config_file} (an existing one is never overwritten)",
        action=_write(t, t.config_file, template, 0o640, group=t.user),
        done=lambda: t.at(t.config_file).exists(),
        what="write the commented template systemd/config.example.toml",
    ))
    unit = render_unit(t)
    steps.append(Step(
        f"unit {t.unit_file}", action=_write(t, t.unit_file, unit, 0o644),
        done=lambda: t.at(t.unit_file).is_file()
        and t.at(t.unit_file).read_text(encoding="utf-8") == unit,
        what=f"write systemd/{SERVICE_NAME} with this install's paths",
    ))
    steps.append(Step("systemd reloads its units", commands=(("systemctl", "daemon-reload"),),
                      machine=True, only_if_changed=True))
    steps.append(Step(f"{SERVICE_NAME} enabled at boot",
                      commands=(systemctl(t, "enable", SERVICE_NAME),),
                      done=lambda: _wants_link(t).is_symlink()))
    restart = (("systemctl", "restart", SERVICE_NAME),)  # starts a stopped one too
    steps.append(Step(
        f"{SERVICE_NAME} running (restarted when anything above changed or the config was "
        "edited since it started)",
        commands=restart, if_changed=restart,
        done=lambda: _running_since(SERVICE_NAME, t.at(t.config_file)), machine=True,
    ))
    # last: new pages alone are no reason to restart the service
    steps.append(Step(
        f"docs in {t.docs_dir}", action=_copy_docs(t), done=lambda: _docs_current(t),
        what="copy docs/*.md (the unit's Documentation= points at install.md)",
    ))
    return steps


def uninstall_steps(target: Target, *, purge: bool) -> list[Step]:
    t = target
    prefix = t.at(t.prefix)
    steps = [
        Step(f"{SERVICE_NAME} stopped", commands=(("systemctl", "stop", SERVICE_NAME),),
             done=lambda: not _active(SERVICE_NAME), machine=True),
        Step(f"{SERVICE_NAME} disabled", commands=(systemctl(t, "disable", SERVICE_NAME),),
             done=lambda: not _wants_link(t).is_symlink()),
        Step(f"unit {t.unit_file} removed", action=lambda: t.at(t.unit_file).unlink(),
             done=lambda: not t.at(t.unit_file).exists(), what="delete the unit file"),
        Step("systemd reloads its units", commands=(("systemctl", "daemon-reload"),),
             machine=True, only_if_changed=True),
        Step(f"{t.prefix} removed (virtual environment, models and docs)",
             action=lambda: shutil.rmtree(prefix),
             done=lambda: not (prefix / MARKER).is_file(),
             what=f"delete {t.prefix} (only if moodspeaker install made it)"),
    ]
    if purge:
        steps += [
            Step(f"config {t.config_dir} removed (--purge)",
                 action=lambda: shutil.rmtree(t.at(t.config_dir)),
                 done=lambda: not t.at(t.config_dir).exists(), what="delete the config"),
            Step(f"journal and library index in {t.state_dir} removed (--purge)",
                 action=lambda: shutil.rmtree(t.at(t.state_dir)),
                 done=lambda: not t.at(t.state_dir).exists(),
                 what="delete the listening journal and the library index"),
            Step(f"service user {t.user} removed (--purge)", commands=(("userdel", t.user),),
                 done=lambda: not user_exists(t.user), machine=True),
        ]
    return steps
