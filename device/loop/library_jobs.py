"""Library jobs: a rescan or a model reload runs on another thread; its result comes back
to the loop through ``call_soon`` and is applied here, on the loop thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from device.loop.context import LoopContext
from device.loop.events import StateChanged
from device.music.library import Track
from device.shared.commands import CommandResult

log = logging.getLogger(__name__)


class LibraryJobs:
    def __init__(self, ctx: LoopContext,
                 answer: Callable[[Future, CommandResult], None]):
        self.ctx = ctx
        self._answer = answer  # the loop's reply to a command, when the job is done

    def rescan(self) -> CommandResult:
        ctx = self.ctx
        jobs = ctx.parts.jobs
        if jobs is None:
            return CommandResult(False, "rescan is not available here")

        def then(result: list[Track] | Exception) -> None:
            if isinstance(result, Exception):
                log.error("rescan failed: %s", result)
                return
            ctx.parts.picker.set_tracks(result)
            log.info("rescan done: %d playable tracks", ctx.parts.picker.size)
            ctx.emit(StateChanged, what="library")

        if not jobs.rescan(lambda r: ctx.call_soon(lambda: then(r))):
            return CommandResult(False, "a rescan is already running")
        return CommandResult(True, detail="rescan started")

    def reload(self, future: Future) -> CommandResult | None:
        """Answered later, when the job has loaded the models (or failed to)."""
        ctx = self.ctx
        jobs = ctx.parts.jobs
        if jobs is None:
            return CommandResult(False, "reload is not available here")

        def then(result: object) -> None:
            if isinstance(result, Exception):
                outcome = CommandResult(False, f"models not reloaded, the old ones stay: "
                                               f"{result}")
            else:
                ctx.parts.picker.taste = result  # type: ignore[assignment]
                ctx.session.relearn()  # the new model's cutoff for on-device counts
                outcome = CommandResult(True, detail="models reloaded")
                log.info("models reloaded")
            self._answer(future, outcome)

        jobs.reload(lambda r: ctx.call_soon(lambda: then(r)))
        return None
