"""New models over MQTT: collect the chunks, check everything, install, reload, answer.

``models/begin`` announces the files (names from an allow-list, sizes, sha256, chunk
counts); ``models/chunk/<transfer>/<file>/<chunk>`` carry the bytes; ``models/commit`` asks
for the install. The receiver checks that every chunk arrived and every file has its size
and hash, then hands the set to ``ModelStore.install`` (staged, fsynced, loaded with the
speaker's own loaders, swapped in with one rename) on a worker thread, and asks the loop
to reload. Whatever is wrong, the old models stay and ``models/result`` says why: every
failure is answered, and a transfer that stops sending chunks expires (its memory freed,
its publisher told) after ``expire_s``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from device.shared.commands import CommandSink, Reload
from device.shared.errors import UserError
from device.shared.manifest import MANIFEST_NAME, load_manifest
from device.shared.mqtt_protocol import (
    MODEL_FILES,
    Begin,
    ProtocolError,
    Result,
    Topics,
    allowed_model_files,
    decode_begin,
    decode_commit,
    encode_result,
)
from device.storage.model_store import ModelStore

log = logging.getLogger(__name__)

MAX_TRANSFER_BYTES = 64 * 1024 * 1024  # all files of one delivery, held in memory


@dataclass
class _Transfer:
    begin: Begin
    last_seen: float  # monotonic time of its begin or latest chunk
    chunks: dict[tuple[int, int], bytes] = field(default_factory=dict)
    size: int = 0


class ModelReceiver:
    def __init__(
        self,
        topics: Topics,
        store: ModelStore,
        check: Callable[[Path], None],
        loop: CommandSink,  # the speaker loop, which applies a Reload
        publish: Callable[[str, bytes], object],
        *,
        expire_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.topics = topics
        self.store = store
        self.check = check
        self.loop = loop
        self.publish = publish
        self.expire_s = expire_s
        self._clock = clock
        self._lock = threading.Lock()  # the network thread and the expiry timer
        self._transfer: _Transfer | None = None
        self._timer: threading.Timer | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
        self.installed = 0
        self.refused = 0

    def allowed(self) -> tuple[str, ...]:
        """The shipped names, plus whatever the set in use declares."""
        try:
            return allowed_model_files(load_manifest(self.store.current()).raw)
        except (UserError, ProtocolError):
            return MODEL_FILES

    # --- from paho's network thread: quick checks only -----------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        with self._lock:
            current = self._transfer.begin.transfer if self._transfer else None
            try:
                if topic == self.topics.models_begin:
                    self._begin(payload)
                elif topic == self.topics.models_commit:
                    self._commit(payload)
                else:
                    self._chunk(topic, payload)
            except ProtocolError as exc:
                log.warning("models: %s", exc)
                self._answer_failure(topic, payload, current, str(exc))

    def _answer_failure(self, topic: str, payload: bytes, current: str | None,
                        error: str) -> None:
        """Every failure that someone waits for is answered: the transfer under way (then
        forgotten), or the begin or commit that named another one. A stray chunk of an
        unknown transfer has nobody waiting."""
        chunk = topic.startswith(f"{self.topics.root}/models/chunk/")
        about: str | None
        if chunk:
            about = topic[len(f"{self.topics.root}/models/chunk/"):].split("/")[0]
        else:
            about = _transfer_of(payload) or (
                current if topic == self.topics.models_commit else None)
        if about is not None and about == current:
            self._transfer = None
            self._refuse(current, error)
        elif about is not None and not chunk:
            self._refuse(about, error)

    def _expire(self) -> None:
        """The timer: a transfer with no chunk for ``expire_s`` is dropped and answered."""
        with self._lock:
            t = self._transfer
            if t is None:
                return
            idle = self._clock() - t.last_seen
            if idle < self.expire_s:
                self._arm(self.expire_s - idle)
                return
            self._transfer = None
            self._refuse(t.begin.transfer, f"expired: no chunk for {idle:.0f} s "
                         f"({len(t.chunks)} received)")

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _begin(self, payload: bytes) -> None:
        try:
            begin = decode_begin(payload, allowed=self.allowed())
        except ProtocolError:
            self._transfer = None
            raise
        total = sum(f.size for f in begin.files)
        if total > MAX_TRANSFER_BYTES:
            raise ProtocolError(f"models/begin: {total} bytes exceed {MAX_TRANSFER_BYTES}")
        if self._transfer is not None:
            log.warning("models: transfer %s abandoned for %s", self._transfer.begin.transfer,
                        begin.transfer)
        self._transfer = _Transfer(begin, self._clock())
        self._arm(self.expire_s)
        log.info("models: receiving %s (%s)", begin.transfer,
                 ", ".join(f"{f.name} {f.size} B" for f in begin.files))

    def _chunk(self, topic: str, payload: bytes) -> None:
        transfer, fi, ci = self.topics.parse_chunk_topic(topic)
        t = self._transfer
        if t is None or t.begin.transfer != transfer:
            raise ProtocolError(f"models: chunk of unknown transfer {transfer}")
        if fi >= len(t.begin.files) or ci >= t.begin.files[fi].chunks:
            raise ProtocolError(f"models: chunk {fi}/{ci} is outside the announced files")
        if len(payload) > t.begin.chunk_size:
            raise ProtocolError(f"models: chunk {fi}/{ci} is larger than the chunk size")
        if (fi, ci) not in t.chunks:
            t.size += len(payload)
        t.chunks[(fi, ci)] = bytes(payload)
        t.last_seen = self._clock()

    def _commit(self, payload: bytes) -> None:
        transfer = decode_commit(payload)
        t = self._transfer
        if t is None or t.begin.transfer != transfer:
            raise ProtocolError(f"models/commit: unknown transfer {transfer}")
        self._transfer = None
        files = {}
        for fi, spec in enumerate(t.begin.files):
            missing = [ci for ci in range(spec.chunks) if (fi, ci) not in t.chunks]
            if missing:
                raise ProtocolError(f"{spec.name}: {len(missing)} of {spec.chunks} chunks "
                                    f"missing (first: {missing[0]})")
            data = b"".join(t.chunks[(fi, ci)] for ci in range(spec.chunks))
            if len(data) != spec.size:
                raise ProtocolError(f"{spec.name}: {len(data)} bytes, announced {spec.size}")
            if hashlib.sha256(data).hexdigest() != spec.sha256:
                raise ProtocolError(f"{spec.name}: sha256 does not match the announced one")
            files[spec.name] = data
        self._worker.submit(self._install, transfer, files)

    # --- the worker thread ---------------------------------------------------------

    def _install(self, transfer: str, files: dict[str, bytes]) -> None:
        try:
            json.loads(files[MANIFEST_NAME])
        except ValueError as exc:
            self._refuse(transfer, f"{MANIFEST_NAME}: not JSON: {exc}")
            return
        try:
            installed = self.store.install(files, self.check)
        except (UserError, OSError, ValueError) as exc:
            self._refuse(transfer, f"refused, the old models stay: {exc}")
            return
        outcome = self.loop.submit(Reload()).result(timeout=120)
        if not outcome.ok:
            self._refuse(transfer, f"installed in {installed} but not reloaded: "
                                   f"{outcome.error}")
            return
        self.installed += 1
        log.info("models: %s installed and in use", transfer)
        self.publish(self.topics.models_result,
                     encode_result(Result(transfer, True, None, sorted(files))))

    def _refuse(self, transfer: str | None, error: str) -> None:
        self.refused += 1
        log.warning("models: transfer %s refused: %s", transfer, error)
        if transfer is not None:
            self.publish(self.topics.models_result,
                         encode_result(Result(transfer, False, error, [])))

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._worker.shutdown(wait=True, cancel_futures=True)


def _transfer_of(payload: bytes) -> str | None:
    """The transfer id of a refused begin or commit, if it can be read at all."""
    try:
        value = json.loads(payload).get("transfer")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) == 32 else None
