"""The speaker's TOML configuration: every key has a default, every value is validated.

A wrong key or value is refused at start with a message naming ``[section] key`` and what
is wrong (a ``UserError``), because a service that starts with a half-understood config
fails later, silently, in front of a listener.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from device.shared.errors import UserError
from device.shared.paths import default_models_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_CONFIG_PATH = Path("/etc/moodspeaker/config.toml")
SERVICE_STATE_DIR = Path("/var/lib/moodspeaker")


class ConfigError(UserError):
    """The config file is unreadable or a key holds a value we cannot use."""


def default_state_dir(env: dict[str, str] | None = None) -> Path:
    """Service: systemd's $STATE_DIRECTORY or /var/lib/moodspeaker as root; else XDG state."""
    env = dict(os.environ) if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SERVICE_STATE_DIR
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "moodspeaker"


@dataclass
class CameraConfig:
    # "picamera2" | "opencv:N" | "opencv:/dev/videoN" | "replay:PATH" | "none" (no camera:
    # mood stays "unknown", music by overall taste; no perception model is loaded)
    source: str = "picamera2"
    fps: float = 2.0
    width: int = 640
    height: int = 480
    replay_repeat: int = 1  # replay: deliver each image this many frames (hold a face longer)
    replay_loop: bool = True
    retry_initial_s: float = 1.0  # a failing camera is retried after 1, 2, 4 ... s
    retry_max_s: float = 60.0
    debug_snapshots: bool = False  # frames never leave RAM unless the owner turns this on
    debug_snapshots_keep: int = 20


@dataclass
class LibraryConfig:
    path: Path = Path("~/Music")
    genre_overrides: Path | None = None  # TOML/alias file handed to GenreMapper
    rescan_on_start: bool = True


@dataclass
class AudioConfig:
    output: str = "default"  # "default" | "alsa" | "alsa:DEVICE" | "dummy" | "file:PATH.wav"
    volume: int = 70  # 0-100: the level from the second track on
    startup_volume_cap: int = 40  # the first track after a start plays no louder than this
    fade_s: float = 2.0  # fade length for mood switches, skips and start-up


@dataclass
class StateConfig:
    dir: Path = field(default_factory=default_state_dir)


@dataclass
class UserConfig:
    active: str = "default"


@dataclass
class ModelsConfig:
    dir: Path = field(default_factory=default_models_dir)  # $MOODSPEAKER_MODELS or ./models
    threads: int = 1


@dataclass
class PickerConfig:
    temperature: float = 1.0  # softmax temperature on the 0-10 score scale
    no_repeat: int = 20  # a track is not replayed within this many picks
    candidates: int = 256  # tracks of the chosen genre scored per pick (bounds latency)
    seed: int | None = None


@dataclass
class MoodConfig:
    switch_confidence: float = 0.55  # a new mood must be at least this confident
    switch_after_s: float = 8.0  # ... and have lasted this long before the music follows
    first_wait_s: float = 3.0  # at start, wait this long for the camera's first mood


@dataclass
class LearningConfig:
    enabled: bool = True
    skip_within_s: float = 30.0  # a skip earlier than this counts against the genre
    max_adjust: float = 3.0  # at most +-3 points on the 0-10 scale
    shrinkage: float = 4.0  # pseudo-count: one skip moves the score by 3 * 1/5 = 0.6


@dataclass
class ResumeConfig:
    enabled: bool = True
    after_stop: bool = True  # also resume after a clean stop, not only after a crash
    max_age_s: float = 6 * 3600.0
    rewind_s: float = 2.0


@dataclass
class JournalConfig:
    position_interval_s: float = 5.0


@dataclass
class MqttConfig:
    """No ``host``: the speaker runs without MQTT."""

    host: str | None = None
    port: int = 1883  # 8883 is usual with TLS
    device_id: str | None = None  # default: the host name
    base_topic: str = "moodspeaker"
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    discovery: bool = True  # Home Assistant MQTT discovery
    discovery_prefix: str = "homeassistant"
    keepalive: int = 30
    max_payload_bytes: int = 4096  # commands larger than this are refused
    commands_per_minute: int = 120  # a flood beyond this is refused
    sync_batch: int = 100  # listens per message to the trainer
    sync_in_flight: int = 4  # batches sent and not yet acknowledged
    sync_ack_timeout_s: float = 30.0  # then the batch is sent again


@dataclass
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    library: LibraryConfig = field(default_factory=LibraryConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    state: StateConfig = field(default_factory=StateConfig)
    user: UserConfig = field(default_factory=UserConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    picker: PickerConfig = field(default_factory=PickerConfig)
    mood: MoodConfig = field(default_factory=MoodConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    source_path: Path | None = None

    @property
    def journal_path(self) -> Path:
        return self.state.dir / "journal.sqlite3"

    @property
    def library_index_path(self) -> Path:
        return self.state.dir / "library.sqlite3"


# --- parsing -------------------------------------------------------------------------

_RANGES: dict[str, tuple[float | None, float | None]] = {
    "camera.fps": (0.05, 30.0),
    "camera.width": (16, 4096),
    "camera.height": (16, 4096),
    "camera.replay_repeat": (1, 10_000),
    "camera.retry_initial_s": (0.01, 3600),
    "camera.retry_max_s": (0.01, 86_400),
    "camera.debug_snapshots_keep": (1, 10_000),
    "audio.volume": (0, 100),
    "audio.startup_volume_cap": (0, 100),
    "audio.fade_s": (0.0, 30.0),
    "models.threads": (1, 64),
    "picker.temperature": (0.01, 100.0),
    "picker.no_repeat": (0, 100_000),
    "picker.candidates": (1, 1_000_000),
    "mood.switch_confidence": (0.0, 1.0),
    "mood.switch_after_s": (0.0, 3600.0),
    "mood.first_wait_s": (0.0, 60.0),
    "learning.skip_within_s": (0.0, 3600.0),
    "learning.max_adjust": (0.0, 10.0),
    "learning.shrinkage": (0.0, 1000.0),
    "resume.max_age_s": (0.0, 10 * 365 * 86_400.0),
    "resume.rewind_s": (0.0, 600.0),
    "journal.position_interval_s": (0.2, 3600.0),
    "mqtt.port": (1, 65535),
    "mqtt.keepalive": (5, 3600),
    "mqtt.max_payload_bytes": (64, 1_000_000),
    "mqtt.commands_per_minute": (1, 100_000),
    "mqtt.sync_batch": (1, 200),
    "mqtt.sync_in_flight": (1, 100),
    "mqtt.sync_ack_timeout_s": (1.0, 3600.0),
}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(key: str, value: Any, annotation: str, base: Path) -> Any:
    """Coerce one TOML value to the type of its default; raise naming the key."""
    optional = "None" in annotation
    if value is None or (optional and value == ""):
        if optional:
            return None
        raise ConfigError(f"{key}: must not be empty")
    if "Path" in annotation:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a path string, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path)
    if "bool" in annotation:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if "int" in annotation and "float" not in annotation:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif "float" in annotation:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif "str" in annotation:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value.strip()
    lo, hi = _RANGES.get(key, (None, None))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key}: {value} is out of range [{lo}, {hi}]")
    return value


def _validate(cfg: Config) -> None:
    src = cfg.camera.source
    if not (src in ("picamera2", "none") or src.startswith(("opencv:", "replay:"))):
        raise ConfigError(
            f"camera.source: {src!r} is not one of 'picamera2', 'opencv:N', 'replay:PATH',"
            " 'none'"
        )
    if src.startswith(("opencv:", "replay:")) and not src.split(":", 1)[1]:
        raise ConfigError(f"camera.source: {src!r} needs a device or path after the colon")
    out = cfg.audio.output
    if not (out in ("default", "dummy", "alsa") or out.startswith(("file:", "alsa:"))):
        raise ConfigError(f"audio.output: {out!r} is not one of 'default', 'alsa', "
                          "'alsa:DEVICE', 'dummy', 'file:PATH'")
    if out.startswith("alsa:") and not out[5:]:
        raise ConfigError("audio.output: 'alsa:' needs a device, e.g. "
                          "'alsa:sysdefault:CARD=Headphones'")
    if out.startswith("file:") and not out[5:].lower().endswith(".wav"):
        raise ConfigError(f"audio.output: {out!r}: the file output writes WAV, name it *.wav")
    if cfg.camera.retry_max_s < cfg.camera.retry_initial_s:
        raise ConfigError("camera.retry_max_s: must be >= camera.retry_initial_s")
    if not cfg.user.active.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(
            f"user.active: {cfg.user.active!r}: use letters, digits, '-', '_' or '.'"
        )
    _validate_mqtt(cfg.mqtt)


_TOPIC_WORD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _validate_mqtt(m: MqttConfig) -> None:
    if m.host is None:
        return
    if m.device_id is None:
        m.device_id = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64] or "speaker"
    for key in ("device_id", "base_topic", "discovery_prefix"):
        value = getattr(m, key)
        if not _TOPIC_WORD.fullmatch(value):
            raise ConfigError(
                f"mqtt.{key}: {value!r}: use 1-64 letters, digits, '-' or '_' (it is one "
                "level of an MQTT topic)"
            )
    if m.password is not None and m.username is None:
        raise ConfigError("mqtt.password: given without mqtt.username")
    if m.tls_key is not None and m.tls_cert is None:
        raise ConfigError("mqtt.tls_key: given without mqtt.tls_cert")
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = getattr(m, key)
        if path is not None and not path.is_file():
            raise ConfigError(f"mqtt.{key}: {path} is not a readable file")


def _resolve_prefixed(spec: str, prefix: str, base: Path) -> str:
    """``replay:frames`` -> ``replay:/etc/moodspeaker/frames``: relative to the config."""
    if not spec.startswith(prefix) or not spec[len(prefix):]:
        return spec
    p = Path(spec[len(prefix):]).expanduser()
    return prefix + str(p if p.is_absolute() else base / p)


def config_from_dict(raw: dict[str, Any], base: Path | None = None) -> Config:
    """Build a validated Config from parsed TOML; relative paths resolve against ``base``."""
    base = base or Path.cwd()
    cfg = Config()
    for name, section in raw.items():
        target = getattr(cfg, name, None)
        if name == "source_path" or target is None or not is_dataclass(target):
            known = ", ".join(f.name for f in fields(Config) if f.name != "source_path")
            raise ConfigError(f"[{name}]: unknown section (known: {known})")
        if not isinstance(section, dict):
            raise ConfigError(f"[{name}]: must be a table, got {section!r}")
        specs = {f.name: f for f in fields(target)}
        for key, value in section.items():
            if key not in specs:
                raise ConfigError(
                    f"{name}.{key}: unknown key (known in [{name}]: {', '.join(specs)})"
                )
            ann = str(specs[key].type)
            setattr(target, key, _convert(f"{name}.{key}", value, ann, base))
    cfg.library.path = cfg.library.path.expanduser()
    cfg.camera.source = _resolve_prefixed(cfg.camera.source, "replay:", base)
    cfg.audio.output = _resolve_prefixed(cfg.audio.output, "file:", base)
    _validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, *, required: bool = False) -> Config:
    """Read ``path`` (default /etc/moodspeaker/config.toml; absent -> all defaults)."""
    explicit = path is not None
    path = Path(path) if explicit else DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit or required:
            raise ConfigError(f"{path}: config file not found") from None
        return config_from_dict({})
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        cfg = config_from_dict(raw, base=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    cfg.source_path = path
    return cfg
