"""New models over MQTT: collect the chunks, check everything, install, reload, answer.

``models/begin`` announces the files (names from an allow-list, sizes, sha256, chunk
counts); ``models/chunk/<transfer>/<file>/<chunk>`` carry the bytes; ``models/commit`` asks
for the install. The receiver checks that every chunk arrived and every file has its size
and hash, then hands the set to ``ModelStore.install`` (staged, fsynced, loaded with the
speaker's own loaders, swapped in with one rename) on a worker thread, and asks the loop
to reload. Whatever is wrong, the old models stay and ``models/result`` says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
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
    ):
        self.topics = topics
        self.store = store
        self.check = check
        self.loop = loop
        self.publish = publish
        self._transfer: _Transfer | None = None
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
        try:
            if topic == self.topics.models_begin:
                self._begin(payload)
            elif topic == self.topics.models_commit:
                self._commit(payload)
            else:
                self._chunk(topic, payload)
        except ProtocolError as exc:
            transfer = self._transfer.begin.transfer if self._transfer else None
            log.warning("models: %s", exc)
            if topic != self.topics.models_begin and transfer is None:
                return  # a stray chunk or commit: nobody is waiting for an answer
            self._refuse(transfer or _transfer_of(payload), str(exc))

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
        self._transfer = _Transfer(begin)
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
        self._worker.shutdown(wait=True, cancel_futures=True)


def _transfer_of(payload: bytes) -> str | None:
    """The transfer id of a refused begin or commit, if it can be read at all."""
    try:
        value = json.loads(payload).get("transfer")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) == 32 else None
