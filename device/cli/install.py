"""``moodspeaker install | uninstall | check``: the speaker as a system service."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _target(args):
    from device.system.install.target import PREFIX, make_target

    return make_target(root=args.root, venv=args.venv, prefix=str(PREFIX), user=args.user)


def cmd_install(args) -> int:
    from device.system.install.runner import run_steps
    from device.system.install.steps import install_steps

    target = _target(args)
    where = "" if target.live else f" into {target.root}"
    pi = " on a Raspberry Pi" if target.on_pi else ""
    dry = " (dry run: nothing is changed)" if args.dry_run else ""
    print(f"moodspeaker install{where}{pi}{dry}")
    report = run_steps(install_steps(target), target, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    print(f"install: {verb} {report.applied}, already done {report.already}"
          + (f", not run under --root {report.shown}" if report.shown else ""))
    if args.dry_run:
        print("install: then `moodspeaker check` would list what works")
        return 0
    return _final_check(target)


def _final_check(target) -> int:
    """The check, run by the installed venv as the service would run it."""
    python = target.venv_here / "bin" / "python"
    env = {**os.environ, "MOODSPEAKER_MODELS": str(target.at(target.models_dir))}
    command = [str(python), "-m", "device.cli", "check",
               "--config", str(target.at(target.config_file))]
    if target.live:
        command = ["runuser", "-u", target.user, "--", *command, "--service"]
    print("check (what works now):")
    rc = subprocess.run(command, env=env, cwd="/", check=False).returncode
    if rc != 0:
        print(f"install: done, but fix the problems above, then: sudo systemctl restart "
              f"moodspeaker (config: {target.config_file})")
    return 0


def cmd_uninstall(args) -> int:
    from device.system.install.runner import run_steps
    from device.system.install.steps import uninstall_steps

    target = _target(args)
    report = run_steps(uninstall_steps(target, purge=args.purge), target, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    print(f"uninstall: {verb} {report.applied}, already done {report.already}")
    if not args.purge:
        print(f"uninstall: kept the config ({target.config_dir}), the journal and library "
              f"index ({target.state_dir}) and the user {target.user}; --purge removes them")
    return 0


def cmd_check(args) -> int:
    from device.system.install.check import run_checks

    return run_checks(args.config, service=args.service)


def _common(p, dry_run: bool = True) -> None:
    if dry_run:
        p.add_argument("--dry-run", action="store_true",
                       help="print every step and change nothing")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="work on the tree under DIR instead of this machine (apt, users and "
                   "the running systemd are then left alone)")
    p.add_argument("--venv", type=Path, default=None,
                   help="run the service from this existing venv instead of making "
                   "/opt/moodspeaker/venv (e.g. the checkout's .venv)")
    p.add_argument("--user", default="moodspeaker", help="the service user (default moodspeaker)")


def register(sub) -> None:
    p = sub.add_parser("install", help="install as a system service (root; idempotent)")
    _common(p)
    p.set_defaults(handler=cmd_install)
    u = sub.add_parser("uninstall", help="remove the service; keeps journal and config")
    _common(u)
    u.add_argument("--purge", action="store_true",
                   help="also remove the config, the journal and library index, and the user")
    u.set_defaults(handler=cmd_uninstall)
    c = sub.add_parser("check", help="what works: camera, sound card, library, models, broker")
    c.add_argument("--config", type=Path, default=None)
    c.add_argument("--service", action="store_true", help="also whether the service runs")
    c.set_defaults(handler=cmd_check)
