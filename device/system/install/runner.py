"""The one runner: applies a plan's steps in order, or only says what it would do."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device.shared.errors import UserError
from device.system.install.steps import Step
from device.system.install.target import Target


class InstallError(UserError):
    """A step failed: names the step and the command; the steps before it stay done."""


@dataclass(frozen=True)
class RunReport:
    applied: int  # steps that changed something (or would, with --dry-run)
    already: int  # steps found already done
    shown: int  # machine steps shown but not run (under --root)


def run_steps(steps: Sequence[Step], target: Target, *, dry_run: bool,
              out: Callable[[str], None] = print) -> RunReport:
    if target.live and not dry_run and os.geteuid() != 0:
        raise UserError("this changes the system: run it as root (sudo), or look first with "
                        "--dry-run, or install into a folder with --root DIR")
    applied = already = shown = 0
    changed = False
    for i, step in enumerate(steps, 1):
        head = f"[{i}/{len(steps)}] {step.title}"
        commands = step.if_changed if (changed and step.if_changed) else step.commands
        shown_cmds = "; ".join(shlex.join(c) for c in commands)
        if step.only_if_changed and not changed:
            out(f"{head}: not needed (nothing changed)")
            already += 1
            continue
        if step.machine and not target.live:
            out(f"{head}: not run under --root (this machine is left alone): {shown_cmds}")
            shown += 1
            continue
        if step.done() and not (changed and step.if_changed):
            out(f"{head}: already done")
            already += 1
            continue
        applied += 1
        changed = True
        if dry_run:
            out(f"{head}: would " + "; ".join(filter(None, [
                shown_cmds and f"run: {shown_cmds}", step.what])))
            continue
        out(f"{head} ...")
        for command in commands:
            _run(command, head)
        if step.action is not None:
            try:
                step.action()
            except OSError as exc:
                raise InstallError(f"{head}: failed: {exc}") from None
    return RunReport(applied, already, shown)


def _run(command: tuple[str, ...], head: str) -> None:
    try:
        proc = subprocess.run(command, check=False)
    except FileNotFoundError:
        raise InstallError(f"{head}: {command[0]} not found (this installer is for Raspberry "
                           "Pi OS and Debian)") from None
    if proc.returncode != 0:
        raise InstallError(f"{head}: `{shlex.join(command)}` failed with exit code "
                           f"{proc.returncode}")
