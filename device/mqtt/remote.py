"""Remote control over MQTT: ``set/<command>`` (plain payload) and ``command`` (JSON with
an id), checked on the network thread, then handed to the loop as typed commands; every
command gets one answer on ``command/result``.

Everything is refused here, before the loop sees it: a flood beyond the rate limit (every
message on the command topics counts, whatever it holds), an oversized or non-UTF-8
payload, an unknown name, a bad value (the command table's parser says why). A retained
command is ignored: the broker replays it at every reconnect (a common Home Assistant
automation mistake), and "next" or "volume 80" must not repeat after each network blip.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from device.mqtt.communicator import Communicator, Message
from device.shared.commands import (
    COMMAND_NAMES,
    CommandError,
    CommandResult,
    CommandSink,
    parse_command,
)

log = logging.getLogger(__name__)


class RateLimit:
    """At most ``per_minute`` commands in any 60 s (a flood is refused, not queued)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        now = self._clock()
        with self._lock:
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) >= self.per_minute:
                return False
            self._times.append(now)
            return True


class RemoteControl:
    def __init__(self, comms: Communicator, result_topic: str, loop: CommandSink, *,
                 max_payload: int = 4096, rate: RateLimit | None = None):
        self.comms = comms
        self.result_topic = result_topic
        self.loop = loop
        self.max_payload = max_payload
        self.rate = rate or RateLimit(120)
        # the loop completes a future on its own thread: replies go out from this one
        self._replies = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mqtt-replies")
        self._retained_seen: set[str] = set()  # topics whose retained command was reported

    def close(self) -> None:
        self._replies.shutdown(wait=True)

    def _admit(self, msg: Message, name: str | None = None) -> bool:
        """The checks every message on a command topic passes first."""
        if msg.retain:
            if msg.topic not in self._retained_seen:
                self._retained_seen.add(msg.topic)
                log.warning("mqtt: ignored a retained command on %s: commands must not be "
                            "retained (clear it: publish an empty retained message there)",
                            msg.topic)
            return False
        if not self.rate.allow():
            self._reply(None, name, CommandResult(
                False, f"rate limit: more than {self.rate.per_minute} commands a minute"))
            return False
        return True

    def _too_big(self, payload: bytes, name: str | None) -> bool:
        if len(payload) <= self.max_payload:
            return False
        self._reply(None, name, CommandResult(
            False, f"payload of {len(payload)} bytes exceeds {self.max_payload}"))
        return True

    def on_set(self, name: str, msg: Message) -> None:
        """``set/<name>``: the payload is the command's value as plain text."""
        if not self._admit(msg, name):
            return
        payload = msg.payload
        if self._too_big(payload, name):
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self._reply(None, name, CommandResult(False, "payload is not UTF-8 text"))
            return
        self._command(None, name, text)

    def on_json(self, msg: Message) -> None:
        """``command``: ``{"id": ..., "command": NAME, "value": ...}``."""
        if not self._admit(msg):
            return
        payload = msg.payload
        if self._too_big(payload, None):
            return
        try:
            obj = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            self._reply(None, None, CommandResult(False, f"not JSON: {exc}"))
            return
        if not isinstance(obj, dict):
            self._reply(None, None, CommandResult(False, "expected a JSON object"))
            return
        cid = obj.get("id")
        if cid is not None and (not isinstance(cid, (str, int)) or isinstance(cid, bool)
                                or len(str(cid)) > 128):
            cid = None
        name = obj.get("command")
        self._command(cid, name if isinstance(name, str) else repr(name), obj.get("value"))

    def _command(self, cid: str | int | None, name: str, value: object) -> None:
        if name not in COMMAND_NAMES:
            self._reply(cid, name, CommandResult(
                False, f"unknown command {name[:64]!r}; one of {', '.join(COMMAND_NAMES)}"))
            return
        try:
            command = parse_command(name, value)
        except CommandError as exc:
            self._reply(cid, name, CommandResult(False, str(exc)))
            return
        future = self.loop.submit(command)
        future.add_done_callback(
            lambda f: self._replies.submit(self._reply, cid, name, f.result()))

    def _reply(self, cid: str | int | None, name: str | None, result: CommandResult) -> None:
        if not result.ok:
            log.info("mqtt: command %s refused: %s", name, result.error)
        payload = {"id": cid, "command": name, "ok": result.ok, "error": result.error}
        self.comms.publish(self.result_topic, json.dumps(payload))
