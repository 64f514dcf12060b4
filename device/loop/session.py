"""The session: who is listening. The active-user file is the one source of truth: a
``user`` command writes it (then follows it), ``moodspeaker user NAME`` writes it, and the
loop follows it; a new listener's learnt counts come back from a background job."""

from __future__ import annotations

import logging

from device.loop.context import LoopContext
from device.shared.commands import CommandResult
from device.storage.active_user import write_active_user

log = logging.getLogger(__name__)


class Session:
    def __init__(self, ctx: LoopContext):
        self.ctx = ctx
        self.user = ctx.settings.user
        self.user_file = ctx.settings.user_file
        self._user_file_mtime: float | None = None

    def set_user(self, user: str, *, persist: bool = False) -> CommandResult:
        if persist and self.user_file is not None:
            try:
                write_active_user(self.user_file, user)
                self._user_file_mtime = self.user_file.stat().st_mtime
            except OSError as exc:
                return CommandResult(False, f"cannot record the active user in "
                                            f"{self.user_file}: {exc.strerror or exc}")
        if user and user != self.user:
            log.info("active user: %s -> %s", self.user, user)
            self.user = user
            self.relearn()
        return CommandResult(True, detail=f"user {user}")

    def relearn(self) -> None:
        """Rebuild this listener's counts and mood targets from the journal, off the loop
        (after a user switch, and after a new taste model: its cutoff decides which
        listens it already learnt, so the device does not count them twice)."""
        jobs, user = self.ctx.parts.jobs, self.user
        if jobs is not None:
            jobs.learning(user, lambda r: self.ctx.call_soon(
                lambda: self._apply_learning(user, r)))

    def _apply_learning(self, user: str, result: object) -> None:
        if isinstance(result, Exception):
            log.error("cannot load what %s's listens taught: %s", user, result)
        elif user == self.user:  # not switched again meanwhile
            self.ctx.parts.picker.set_learning(*result)  # type: ignore[misc]

    def poll_user_file(self) -> None:
        if self.user_file is None:
            return
        try:
            mtime = self.user_file.stat().st_mtime
        except OSError:
            return
        if mtime != self._user_file_mtime:
            self._user_file_mtime = mtime
            try:
                name = self.user_file.read_text(encoding="utf-8").strip()
            except OSError:
                return
            if name:
                self.set_user(name)
