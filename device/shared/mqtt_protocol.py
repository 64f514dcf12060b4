"""The MQTT protocol between speaker, trainer and Home Assistant: topics and payload codecs.

Pure (no paho, no I/O), so that the speaker's bridge, the trainer's ingest and publisher,
and the tests all build and check the same bytes. Every decoder validates what it reads and
raises :class:`ProtocolError` with a message naming the field at fault: payloads are data
from the network, never trusted, never paths or shell.

All topics live under ``<base_topic>/<device_id>`` (base ``moodspeaker``). docs/mqtt.md
("Topics", "The listening-log sync", "Model delivery") documents every topic and payload;
keep the two in step.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from device.shared.commands import COMMAND_NAMES
from device.shared.listens import END_REASONS
from device.shared.manifest import MANIFEST_NAME
from device.shared.moods import MOODS, UNKNOWN

VERSION = 1
BASE_TOPIC = "moodspeaker"
DEVICE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

MAX_BATCH = 200  # listens per message
MAX_LISTENS_BYTES = 8 * 1024 * 1024  # one batch: 200 rows even with every text field full
DEFAULT_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 256 * 1024  # far below any broker's message limit (Mosquitto: 256 MB)
MAX_MODEL_BYTES = 256 * 1024 * 1024  # one delivered file
MAX_COMMAND_BYTES = 4096
MAX_ACK_BYTES = 256 * 1024  # 200 ids and as many rejections with their reasons
#: the largest packet a speaker accepts (a model chunk, its topic and properties); it is
#: announced to an MQTT 5 broker, which then never sends more
MAX_SPEAKER_PACKET = MAX_CHUNK_BYTES + 16 * 1024
MAX_TEXT = 4096  # one text field of a listen row

# The model files a transfer may carry; the manifest may declare more (see
# allowed_model_files). Extend this tuple when a new artifact ships with the product.
MODEL_FILES: tuple[str, ...] = (
    MANIFEST_NAME, "fer_int8.tflite", "taste.npz", "music_mood.npz",
)
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")

class ProtocolError(ValueError):
    """A topic or payload that does not follow the protocol; the message says what."""


# --- topics ---------------------------------------------------------------------------


def check_device_id(device_id: object) -> str:
    if not isinstance(device_id, str) or not DEVICE_ID_RE.fullmatch(device_id):
        raise ProtocolError(
            f"device id {device_id!r} is not 1-64 characters of letters, digits, _ and -"
        )
    return device_id


def check_base_topic(base: object) -> str:
    if (not isinstance(base, str) or not base or any(c in base for c in "+#\0")
            or base.startswith(("/", "$")) or base.endswith("/")):
        raise ProtocolError(f"base topic {base!r} must be a plain topic without + # or edge /")
    return base


@dataclass(frozen=True)
class Topics:
    """Every topic of one device."""

    device_id: str
    base_topic: str = BASE_TOPIC

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        check_base_topic(self.base_topic)

    @property
    def root(self) -> str:
        return f"{self.base_topic}/{self.device_id}"

    # speaker -> everyone
    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def state(self) -> str:
        return f"{self.root}/state"

    @property
    def mood(self) -> str:
        return f"{self.root}/mood"

    # commands
    def set(self, command: str) -> str:
        if command not in COMMAND_NAMES:
            raise ProtocolError(
                f"unknown command {command!r}; commands: {', '.join(COMMAND_NAMES)}")
        return f"{self.root}/set/{command}"

    @property
    def set_filter(self) -> str:
        return f"{self.root}/set/+"

    @property
    def command(self) -> str:
        return f"{self.root}/command"

    @property
    def command_result(self) -> str:
        return f"{self.root}/command/result"

    # listening-log sync
    @property
    def listens(self) -> str:
        return f"{self.root}/listens"

    @property
    def listens_ack(self) -> str:
        return f"{self.root}/listens/ack"

    # model delivery
    @property
    def models_begin(self) -> str:
        return f"{self.root}/models/begin"

    def models_chunk(self, transfer: str, file_index: int, chunk_index: int) -> str:
        return f"{self.root}/models/chunk/{transfer}/{file_index}/{chunk_index}"

    @property
    def models_chunk_filter(self) -> str:
        return f"{self.root}/models/chunk/#"

    @property
    def models_commit(self) -> str:
        return f"{self.root}/models/commit"

    @property
    def models_result(self) -> str:
        return f"{self.root}/models/result"

    def command_name(self, topic: str) -> str:
        """``set/<command>`` topic -> command name (not checked against the command table)."""
        prefix = f"{self.root}/set/"
        if not topic.startswith(prefix) or "/" in topic[len(prefix):]:
            raise ProtocolError(f"{topic}: not a command topic of {self.root}")
        return topic[len(prefix):]

    def parse_chunk_topic(self, topic: str) -> tuple[str, int, int]:
        """``models/chunk/<transfer>/<file>/<chunk>`` -> (transfer, file index, chunk index)."""
        prefix = f"{self.root}/models/chunk/"
        parts = topic[len(prefix):].split("/") if topic.startswith(prefix) else []
        if len(parts) != 3 or not all(parts) or not parts[1].isdigit() or not parts[2].isdigit():
            raise ProtocolError(f"{topic}: not a models/chunk/<transfer>/<file>/<chunk> topic")
        return check_transfer_id(parts[0]), int(parts[1]), int(parts[2])


def listens_subscription(base_topic: str = BASE_TOPIC, share: str | None = None) -> str:
    """Every device's listens; ``$share/<group>/...`` splits them among workers (MQTT 5)."""
    check_base_topic(base_topic)
    topic = f"{base_topic}/+/listens"
    if share is None:
        return topic
    if not share or any(c in share for c in "/+#\0"):
        raise ProtocolError(f"share group {share!r} must be a name without / + #")
    return f"$share/{share}/{topic}"


def device_of_listens_topic(topic: str, base_topic: str = BASE_TOPIC) -> str:
    parts = topic.split("/")
    base = base_topic.split("/")
    if len(parts) != len(base) + 2 or parts[: len(base)] != base or parts[-1] != "listens":
        raise ProtocolError(f"{topic}: not a {base_topic}/<device>/listens topic")
    return check_device_id(parts[len(base)])


# --- JSON helpers ---------------------------------------------------------------------


def _dump(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _load(payload: bytes | str, what: str, limit: int | None = None) -> dict[str, Any]:
    if limit is not None and len(payload) > limit:
        raise ProtocolError(f"{what}: payload of {len(payload)} bytes exceeds {limit}")
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"{what}: not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what}: must be a JSON object")
    if obj.get("v") != VERSION:
        raise ProtocolError(f"{what}: protocol version {obj.get('v')!r} is not {VERSION}")
    return obj


def new_id() -> str:
    """A batch or transfer id: uuid4 hex."""
    return uuid.uuid4().hex


def check_transfer_id(value: object, what: str = "transfer") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        raise ProtocolError(f"{what} {value!r} is not a uuid4 hex string")
    return value


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- listens --------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenBatch:
    device: str
    batch: str
    listens: list[Any]  # rows as sent; check each with check_listen


def encode_listens(device: str, batch: str, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """One batch of closed listens, at most MAX_BATCH rows, each already checked with
    ``check_listen`` by the sender (which drops a bad row alone, not its batch)."""
    rows = list(rows)
    if not rows or len(rows) > MAX_BATCH:
        raise ProtocolError(f"a listens batch holds 1-{MAX_BATCH} rows, not {len(rows)}")
    return _dump({"v": VERSION, "device": check_device_id(device),
                  "batch": check_transfer_id(batch, "batch"), "listens": rows})


def decode_listens(payload: bytes | str) -> ListenBatch:
    """The envelope only; rows are checked one by one so one bad row rejects only itself."""
    obj = _load(payload, "listens", MAX_LISTENS_BYTES)
    rows = obj.get("listens")
    if not isinstance(rows, list) or not rows or len(rows) > MAX_BATCH:
        raise ProtocolError(f"listens: 'listens' must be a list of 1-{MAX_BATCH} rows")
    return ListenBatch(check_device_id(obj.get("device")),
                       check_transfer_id(obj.get("batch"), "batch"), rows)


_TEXT_REQUIRED = ("event_id", "user", "track_id", "path", "mood", "end_reason")
_TEXT_OPTIONAL = ("genre", "explanation", "error", "ended_by")
_NUM_REQUIRED = ("mood_confidence", "started_at", "ended_at", "position_s", "start_offset_s")


def check_listen(row: object) -> dict[str, Any]:
    """A closed listen row, normalised to the journal's columns + ``seq``.

    Unknown keys are dropped (a newer speaker may send more); a missing or wrong one is a
    ProtocolError naming the row's event_id and the field."""
    if not isinstance(row, Mapping):
        raise ProtocolError("listen row is not a JSON object")
    eid = row.get("event_id")
    where = f"listen {eid!r}" if isinstance(eid, str) else "listen"
    out: dict[str, Any] = {}
    for key in _TEXT_REQUIRED:
        v = row.get(key)
        if not isinstance(v, str) or not v or len(v) > MAX_TEXT:
            raise ProtocolError(f"{where}: {key} must be a non-empty string")
        out[key] = v
    if len(out["event_id"]) > 64:
        raise ProtocolError(f"{where}: event_id is longer than 64 characters")
    for key in _TEXT_OPTIONAL:
        v = row.get(key)
        if v is not None and (not isinstance(v, str) or len(v) > MAX_TEXT):
            raise ProtocolError(f"{where}: {key} must be a string or null")
        out[key] = v
    for key in _NUM_REQUIRED:
        v = row.get(key)
        if not isinstance(v, (int, float)) or not _is_number(v):
            raise ProtocolError(f"{where}: {key} must be a finite number")
        out[key] = float(v)
    v = row.get("duration_s")
    if v is not None and not _is_number(v):
        raise ProtocolError(f"{where}: duration_s must be a finite number or null")
    out["duration_s"] = None if v is None else float(v)
    if out["mood"] not in (*MOODS, UNKNOWN):
        raise ProtocolError(f"{where}: mood {out['mood']!r} is not one of {(*MOODS, UNKNOWN)}")
    if not 0.0 <= out["mood_confidence"] <= 1.0:
        raise ProtocolError(f"{where}: mood_confidence {out['mood_confidence']} is not in 0-1")
    if out["end_reason"] not in END_REASONS:
        raise ProtocolError(f"{where}: end_reason {out['end_reason']!r} not in {END_REASONS}")
    if out["ended_at"] < out["started_at"]:
        raise ProtocolError(f"{where}: ended_at is before started_at")
    if out["position_s"] < 0 or out["start_offset_s"] < 0:
        raise ProtocolError(f"{where}: position_s and start_offset_s must be >= 0")
    seq = row.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or seq >= 2**63:
        raise ProtocolError(f"{where}: seq must be a non-negative integer")
    out["seq"] = seq
    return out


@dataclass(frozen=True)
class Ack:
    batch: str
    event_ids: list[str]  # stored (or already stored)
    rejected: list[dict[str, Any]]  # {"event_id": str|None, "error": str}: kept, not stored


def encode_ack(ack: Ack) -> bytes:
    return _dump({"v": VERSION, "batch": ack.batch, "event_ids": list(ack.event_ids),
                  "rejected": list(ack.rejected)})


def decode_ack(payload: bytes | str) -> Ack:
    obj = _load(payload, "listens/ack", MAX_ACK_BYTES)
    ids = obj.get("event_ids")
    rejected = obj.get("rejected", [])
    if not isinstance(ids, list) or not all(isinstance(e, str) for e in ids):
        raise ProtocolError("listens/ack: event_ids must be a list of strings")
    if not isinstance(rejected, list) or not all(
        isinstance(r, dict) and isinstance(r.get("error"), str)
        and (r.get("event_id") is None or isinstance(r.get("event_id"), str))
        for r in rejected
    ):
        raise ProtocolError("listens/ack: rejected must be a list of {event_id, error}")
    return Ack(check_transfer_id(obj.get("batch"), "batch"), ids, rejected)


# --- model delivery -------------------------------------------------------------------


def check_file_name(name: object) -> str:
    """A bare file name: never a path, never hidden, never '..'."""
    if not isinstance(name, str) or not _FILE_NAME_RE.fullmatch(name) or ".." in name:
        raise ProtocolError(f"file name {name!r} is not a plain file name")
    return name


def manifest_file_names(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The artifact files a manifest declares: every section's ``file``."""
    names = []
    for key, section in manifest.items():
        if isinstance(section, Mapping) and "file" in section:
            try:
                names.append(check_file_name(section["file"]))
            except ProtocolError as exc:
                raise ProtocolError(f"manifest section {key!r}: {exc}") from None
    return tuple(names)


def allowed_model_files(manifest: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """MODEL_FILES, plus the artifact names ``manifest`` declares."""
    extra = manifest_file_names(manifest) if manifest is not None else ()
    return MODEL_FILES + tuple(n for n in extra if n not in MODEL_FILES)


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


@dataclass(frozen=True)
class FileSpec:
    name: str
    size: int
    sha256: str
    chunks: int


@dataclass(frozen=True)
class Begin:
    transfer: str
    chunk_size: int
    files: tuple[FileSpec, ...]


def encode_begin(begin: Begin) -> bytes:
    _check_begin(begin, allowed=None)
    return _dump({
        "v": VERSION, "transfer": begin.transfer, "chunk_size": begin.chunk_size,
        "files": [{"name": f.name, "size": f.size, "sha256": f.sha256, "chunks": f.chunks}
                  for f in begin.files],
    })


def decode_begin(payload: bytes | str, allowed: Iterable[str] | None = None) -> Begin:
    """Check the announced files; ``allowed`` (default MODEL_FILES) is the device's list,
    e.g. ``allowed_model_files(manifest)`` once the manifest chunk has arrived."""
    obj = _load(payload, "models/begin", limit=MAX_COMMAND_BYTES * 4)
    files = obj.get("files")
    if not isinstance(files, list) or not files:
        raise ProtocolError("models/begin: files must be a non-empty list")
    specs = []
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise ProtocolError(f"models/begin: file {i} is not an object")
        name, size, sha, chunks = (f.get(k) for k in ("name", "size", "sha256", "chunks"))
        if not isinstance(size, int) or isinstance(size, bool):
            raise ProtocolError(f"models/begin: file {i}: size must be an integer")
        if not isinstance(chunks, int) or isinstance(chunks, bool):
            raise ProtocolError(f"models/begin: file {i}: chunks must be an integer")
        specs.append(FileSpec(check_file_name(name), size, sha if isinstance(sha, str) else "",
                              chunks))
    chunk_size = obj.get("chunk_size")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise ProtocolError("models/begin: chunk_size must be an integer")
    begin = Begin(check_transfer_id(obj.get("transfer")), chunk_size, tuple(specs))
    _check_begin(begin, allowed=MODEL_FILES if allowed is None else tuple(allowed))
    return begin


def _check_begin(begin: Begin, allowed: tuple[str, ...] | None) -> None:
    check_transfer_id(begin.transfer)
    if not 1 <= begin.chunk_size <= MAX_CHUNK_BYTES:
        raise ProtocolError(f"models/begin: chunk_size {begin.chunk_size} not in 1-"
                            f"{MAX_CHUNK_BYTES}")
    names = [f.name for f in begin.files]
    if len(set(names)) != len(names):
        raise ProtocolError(f"models/begin: a file is named twice in {names}")
    if MANIFEST_NAME not in names:
        raise ProtocolError(f"models/begin: {MANIFEST_NAME} is not among the files {names}")
    for f in begin.files:
        check_file_name(f.name)
        if allowed is not None and f.name not in allowed:
            raise ProtocolError(f"models/begin: {f.name!r} is not a model file this device "
                                f"accepts ({', '.join(allowed)})")
        if not 0 <= f.size <= MAX_MODEL_BYTES:
            raise ProtocolError(f"models/begin: {f.name}: size {f.size} not in 0-"
                                f"{MAX_MODEL_BYTES}")
        if not re.fullmatch(r"[0-9a-f]{64}", f.sha256):
            raise ProtocolError(f"models/begin: {f.name}: sha256 is not 64 hex digits")
        if f.chunks != chunk_count(f.size, begin.chunk_size):
            raise ProtocolError(f"models/begin: {f.name}: {f.chunks} chunks do not fit size "
                                f"{f.size} at {begin.chunk_size} bytes a chunk")


def encode_commit(transfer: str) -> bytes:
    return _dump({"v": VERSION, "transfer": check_transfer_id(transfer)})


def decode_commit(payload: bytes | str) -> str:
    return check_transfer_id(_load(payload, "models/commit", MAX_COMMAND_BYTES).get("transfer"))


@dataclass(frozen=True)
class Result:
    transfer: str
    ok: bool
    error: str | None
    files: list[str]  # installed


def encode_result(result: Result) -> bytes:
    return _dump({"v": VERSION, "transfer": result.transfer, "ok": result.ok,
                  "error": result.error, "files": list(result.files)})


def decode_result(payload: bytes | str) -> Result:
    obj = _load(payload, "models/result", MAX_COMMAND_BYTES * 4)
    ok, error, files = obj.get("ok"), obj.get("error"), obj.get("files", [])
    if not isinstance(ok, bool):
        raise ProtocolError("models/result: ok must be true or false")
    if error is not None and not isinstance(error, str):
        raise ProtocolError("models/result: error must be a string or null")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ProtocolError("models/result: files must be a list of names")
    return Result(check_transfer_id(obj.get("transfer")), ok, error, files)
