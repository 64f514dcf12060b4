"""``moodspeaker install | uninstall | check``: the speaker as a system service."""

from __future__ import annotations

import os
import subprocess

from device.system.install.check import run_checks
from device.system.install.runner import run_steps
from device.system.install.steps import install_steps, uninstall_steps
from device.system.install.target import PREFIX, make_target


def _target(args):
    return make_target(root=args.root, venv=args.venv, prefix=str(PREFIX), user=args.user)


def cmd_install(args) -> int:
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
    target = _target(args)
    report = run_steps(uninstall_steps(target, purge=args.purge), target, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    print(f"uninstall: {verb} {report.applied}, already done {report.already}")
    if not args.purge:
        print(f"uninstall: kept the config ({target.config_dir}), the journal and library "
              f"index ({target.state_dir}) and the user {target.user}; --purge removes them")
    return 0


def cmd_check(args) -> int:
    return run_checks(args.config, service=args.service)
