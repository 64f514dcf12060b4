"""``moodspeaker-train publish``: deliver model files and their manifest to one speaker.

The files go in chunks (64 KiB by default, far under any broker's message limit) after a
``models/begin`` that announces each file's size, sha256 and chunk count, and a
``models/commit`` closes the transfer. The speaker verifies everything, installs the files
atomically and answers on ``models/result``; it keeps its old models on any problem.
Before sending, the files are checked against the manifest here, so a mismatched export
is refused at the desk, not on the speaker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from device.shared.errors import UserError
from device.shared.manifest import MANIFEST_NAME
from device.shared.mqtt_client import MqttSettings, connect, make_client
from device.shared.mqtt_protocol import (
    BASE_TOPIC,
    DEFAULT_CHUNK_BYTES,
    MAX_CHUNK_BYTES,
    Begin,
    FileSpec,
    ProtocolError,
    Result,
    Topics,
    check_file_name,
    chunk_count,
    decode_result,
    encode_begin,
    encode_commit,
    manifest_file_names,
    new_id,
)

log = logging.getLogger(__name__)
WINDOW = 32  # chunks handed to paho before waiting for their PUBACKs


class PublishError(UserError):
    """The models cannot be sent as asked (missing file, hash mismatch, no broker)."""


@dataclass(frozen=True)
class Delivery:
    begin: Begin
    paths: tuple[Path, ...]  # same order as begin.files


def plan(models: Path, files: Sequence[str] | None = None,
         chunk_size: int = DEFAULT_CHUNK_BYTES) -> Delivery:
    """The transfer for ``files`` (default: every file the manifest names) + manifest.json."""
    manifest_path = models / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"{manifest_path}: no manifest (is --models the export folder?)"
                           ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishError(f"{manifest_path}: cannot read: {exc}") from None
    if not isinstance(manifest, dict):
        raise PublishError(f"{manifest_path}: top level must be an object")
    if not 1 <= chunk_size <= MAX_CHUNK_BYTES:
        raise PublishError(f"chunk size {chunk_size} is not in 1-{MAX_CHUNK_BYTES}")
    try:
        manifest_file_names(manifest)  # every declared name is a plain file name
    except ProtocolError as exc:
        raise PublishError(f"{manifest_path}: {exc}") from None
    declared = {s["file"]: s for s in manifest.values() if isinstance(s, dict) and "file" in s}
    chosen = list(declared) if not files else list(dict.fromkeys(files))
    chosen = [n for n in chosen if n != MANIFEST_NAME]
    if not chosen:
        raise PublishError(f"{manifest_path}: names no model file to send")
    specs = [_spec(manifest_path, chunk_size)]
    paths = [manifest_path]
    for name in chosen:
        try:
            check_file_name(name)
        except ProtocolError as exc:
            raise PublishError(f"--files: {exc}") from None
        if name not in declared:
            raise PublishError(f"{manifest_path}: does not name {name} (it names "
                               f"{', '.join(declared) or 'nothing'})")
        path = models / name
        if not path.is_file():
            raise PublishError(f"{path}: missing (named in {manifest_path})")
        spec = _spec(path, chunk_size)
        if spec.sha256 != declared[name].get("sha256"):
            raise PublishError(f"{path}: sha256 {spec.sha256[:12]}... does not match the"
                               f" manifest's; re-export the models")
        specs.append(spec)
        paths.append(path)
    return Delivery(Begin(new_id(), chunk_size, tuple(specs)), tuple(paths))


def _spec(path: Path, chunk_size: int) -> FileSpec:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return FileSpec(path.name, size, digest.hexdigest(), chunk_count(size, chunk_size))


class _Answer:
    """The device's result for our transfer, and its last availability, from the network
    thread."""

    def __init__(self, topics: Topics, transfer: str):
        self.topics = topics
        self.transfer = transfer
        self.result: Result | None = None
        self.availability: str | None = None
        self.done = threading.Event()
        self.subscribed = threading.Event()
        self.online = threading.Event()

    def on_connect(self, client, userdata, flags, reason, properties) -> None:
        if not reason.is_failure:
            client.subscribe([(self.topics.models_result, 1), (self.topics.availability, 1)])

    def on_subscribe(self, *_) -> None:
        self.subscribed.set()

    def on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.topics.availability:
            self.availability = msg.payload.decode(errors="replace")
            if self.availability == "online":
                self.online.set()
            else:
                self.online.clear()
            return
        result = result_of(msg)
        if result is not None and result.transfer == self.transfer:
            self.result = result
            self.done.set()


def result_of(msg: mqtt.MQTTMessage) -> Result | None:
    """A speaker's ``models/result``, or None (logged) when it is not one."""
    try:
        return decode_result(bytes(msg.payload))
    except ProtocolError as exc:
        log.warning("%s: malformed result ignored: %s", msg.topic, exc)
        return None


def publish(settings: MqttSettings, device_id: str, delivery: Delivery, *,
            base_topic: str = BASE_TOPIC, timeout: float = 120.0) -> Result:
    """Send the delivery once the device is online, and wait for its result (ok False on
    timeout). Why wait: the announcement is not retained, and a device says ``online``
    only after it has subscribed, so one sent earlier could reach nobody."""
    topics = Topics(device_id, base_topic)
    begin = delivery.begin
    answer = _Answer(topics, begin.transfer)

    def build() -> mqtt.Client:
        c = make_client(settings, f"moodspeaker-publish-{uuid.uuid4().hex[:12]}")
        c.on_connect, c.on_subscribe, c.on_message = (
            answer.on_connect, answer.on_subscribe, answer.on_message)
        return c

    client = connect(build(), settings, timeout=min(timeout, 30.0))
    try:
        if not answer.subscribed.wait(10):
            raise PublishError(f"{settings.where()}: the broker did not confirm the"
                               f" subscription to {topics.models_result}")
        if not answer.online.wait(1.0):
            log.info("publish: waiting up to %g s for %s to come online", timeout, device_id)
            if not answer.online.wait(timeout):
                where = (f"its availability is {answer.availability!r}"
                         if answer.availability else "it never announced itself")
                return Result(begin.transfer, False, f"{device_id} did not come online within"
                              f" {timeout:g} s ({where}); nothing was sent", [])
        send(client, topics, delivery, timeout)
        log.info("publish: sent %s to %s; waiting for its result",
                 ", ".join(f.name for f in begin.files), device_id)
        if not answer.done.wait(timeout):
            where = (f"the device's availability is {answer.availability!r}"
                     if answer.availability else "the device never announced itself")
            return Result(begin.transfer, False, f"no result from {device_id} within"
                          f" {timeout:g} s ({where})", [])
        assert answer.result is not None
        return answer.result
    finally:
        client.disconnect()
        client.loop_stop()


def send(client: mqtt.Client, topics: Topics, delivery: Delivery, timeout: float) -> None:
    """begin, every chunk (at most ``WINDOW`` unacknowledged), commit: to one device.
    paho's publish is thread-safe, so several of these may run at once on one client."""
    begin = delivery.begin
    _send(client, topics.models_begin, encode_begin(begin), timeout)
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    for index, (spec, path) in enumerate(zip(begin.files, delivery.paths, strict=True)):
        with open(path, "rb") as fh:
            for chunk in range(spec.chunks):
                data = fh.read(begin.chunk_size)
                topic = topics.models_chunk(begin.transfer, index, chunk)
                pending.append(client.publish(topic, data, qos=1))
                while len(pending) > WINDOW:
                    _wait(pending.popleft(), timeout)
    while pending:
        _wait(pending.popleft(), timeout)
    _send(client, topics.models_commit, encode_commit(begin.transfer), timeout)


def _send(client: mqtt.Client, topic: str, payload: bytes, timeout: float) -> None:
    _wait(client.publish(topic, payload, qos=1), timeout)


def _wait(info: mqtt.MQTTMessageInfo, timeout: float) -> None:
    try:
        info.wait_for_publish(timeout)
    except (ValueError, RuntimeError) as exc:
        raise PublishError(f"publish failed: {exc}") from None
    if not info.is_published():
        raise PublishError(f"the broker did not take message {info.mid} within {timeout:g} s")
