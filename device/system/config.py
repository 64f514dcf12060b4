"""The speaker's TOML configuration: every key has a default, every value is validated.

A wrong key or value is refused at start with a message naming ``[section] key`` and what
is wrong (a ``UserError``), because a service that starts with a half-understood config
fails later, silently, in front of a listener.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
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


def setting(default: Any = MISSING, help: str = "", *, lo: float | None = None,
            hi: float | None = None, factory: Callable[[], Any] | None = None,
            secret: bool = False) -> Any:
    """One config key, declared once: its default, its range and its help (the parser
    checks the range, ``moodspeaker config --docs`` and docs/configuration.md show both)."""
    meta = {"help": help, "lo": lo, "hi": hi}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta, repr=not secret)


@dataclass
class CameraConfig:
    source: str = setting(
        "picamera2", '"picamera2", "opencv:0" / "opencv:/dev/video0", "replay:PATH" (a folder'
        ' of images sorted by name, or a video file), "none" (mood stays unknown, no model'
        " loaded)")
    fps: float = setting(2.0, "frames analysed per second; a replayed video keeps its own"
                         " timeline", lo=0.05, hi=30.0)
    width: int = setting(640, "frame width asked of the camera", lo=16, hi=4096)
    height: int = setting(480, "frame height asked of the camera", lo=16, hi=4096)
    replay_repeat: int = setting(
        1, "replay: deliver each image this many frames (hold a face longer)", lo=1, hi=10_000)
    replay_loop: bool = setting(True, "replay: start again at the end")
    retry_initial_s: float = setting(
        1.0, "a failing camera is retried after 1, 2, 4 ... s; the music goes on with mood"
        " unknown", lo=0.01, hi=3600)
    retry_max_s: float = setting(60.0, "the longest wait between camera retries",
                                 lo=0.01, hi=86_400)
    debug_snapshots: bool = setting(
        False, "frames never leave RAM unless this is on (then a rotating set in"
        " <state>/snapshots)")
    debug_snapshots_keep: int = setting(20, "debug snapshots kept (oldest deleted)",
                                        lo=1, hi=10_000)


@dataclass
class LibraryConfig:
    path: Path = setting(Path("~/Music"),
                         "the music folder (mp3, ogg/oga/opus, flac, m4a/mp4, wav)")
    genre_overrides: Path | None = setting(
        None, "a TOML alias file mapping your genre tags onto the seven genres")
    rescan_on_start: bool = setting(
        True, "incremental rescan at start (new or changed files, by mtime and size)")


@dataclass
class AudioConfig:
    output: str = setting(
        "default", '"alsa" (ALSA\'s default device) or "alsa:DEVICE" (e.g.'
        ' "alsa:sysdefault:CARD=Headphones"; card names from aplay -l or moodspeaker check):'
        ' what the service should use; "default" (whatever libvlc finds: PulseAudio or'
        ' PipeWire in a desktop session, else ALSA), "dummy" (decode and discard),'
        ' "file:PATH.wav"')
    volume: int = setting(70, "0-100: the level from the second track on", lo=0, hi=100)
    startup_volume_cap: int = setting(
        40, "the first track after a start plays no louder than this", lo=0, hi=100)
    fade_s: float = setting(2.0, "fade length for mood switches, skips and start-up",
                            lo=0.0, hi=30.0)


@dataclass
class StateConfig:
    dir: Path = setting(
        factory=default_state_dir,
        help="journal, library index and delivered models; default: $STATE_DIRECTORY, "
        "/var/lib/moodspeaker as root, else ~/.local/state/moodspeaker")


@dataclass
class UserConfig:
    active: str = setting(
        "default", "the listener (letters, digits, -_.) until the user command or moodspeaker user"
        " names another")


@dataclass
class ModelsConfig:
    dir: Path = setting(factory=default_models_dir,
                        help="FER, taste and music-mood artifacts (manifest.json); default"
                        " $MOODSPEAKER_MODELS (the service: /opt/moodspeaker/models) or"
                        " ./models")
    threads: int = setting(1, "TFLite interpreter threads", lo=1, hi=64)


@dataclass
class PickerConfig:
    temperature: float = setting(1.0, "softmax temperature on the 0-10 score scale",
                                 lo=0.01, hi=100.0)
    no_repeat: int = setting(
        20, "no track again within this many picks (survives restarts via the journal)",
        lo=0, hi=100_000)
    candidates: int = setting(
        256, "tracks of the chosen genre scored per pick (bounds latency)", lo=1, hi=1_000_000)
    seed: int | None = setting(None, "random seed for picks (tests, demos); unset: random")


@dataclass
class MoodConfig:
    switch_confidence: float = setting(
        0.55, "a new mood must be at least this confident", lo=0.0, hi=1.0)
    switch_after_s: float = setting(
        8.0, "... and have lasted this long before the music follows", lo=0.0, hi=3600.0)
    first_wait_s: float = setting(
        3.0, "at start, wait this long for the camera's first face; a confident first mood"
        " is used for the first pick at once", lo=0.0, hi=60.0)


@dataclass
class LearningConfig:
    """What ``device.music.learning.LearningRule`` learns from skips and completions."""

    enabled: bool = setting(True, "learn from skips and completions on the device")
    skip_within_s: float = setting(
        30.0, "a skip earlier than this counts against the genre", lo=0.0, hi=3600.0)
    max_adjust: float = setting(3.0, "at most this many points on the 0-10 scale",
                                lo=0.0, hi=10.0)
    shrinkage: float = setting(
        4.0, "pseudo-count: one skip moves the score by max_adjust / (1 + shrinkage)",
        lo=0.0, hi=1000.0)


@dataclass
class ResumeConfig:
    enabled: bool = setting(True, "resume a listen cut off by a crash or power cut")
    after_stop: bool = setting(True, "also resume after a clean stop, not only after a crash")
    max_age_s: float = setting(6 * 3600.0, "resume only a listen that ended this recently",
                               lo=0.0, hi=10 * 365 * 86_400.0)
    rewind_s: float = setting(2.0, "resume this many seconds before the cut", lo=0.0,
                              hi=600.0)


@dataclass
class JournalConfig:
    position_interval_s: float = setting(
        5.0, "how often the playing track's position is journalled", lo=0.2, hi=3600.0)


@dataclass
class MqttConfig:
    """No ``host``: the speaker runs without MQTT."""

    host: str | None = setting(None, "the broker; unset: the speaker runs without MQTT")
    port: int = setting(1883, "the broker port (8883 is usual with TLS)", lo=1, hi=65535)
    device_id: str | None = setting(
        None, "this speaker's id in topics and its client id (1-64 letters, digits, -, _);"
        " default: the Pi's hardware serial, else a random id kept in the state folder")
    name: str | None = setting(
        None, "the name Home Assistant shows, e.g. \"Kitchen\" (default: Moodspeaker <id>)")
    base_topic: str = setting("moodspeaker", "topics live under base_topic/device_id/")
    username: str | None = setting(None, "broker user name")
    password: str | None = setting(None, "broker password (needs username)", secret=True)
    tls_ca: Path | None = setting(
        None, "TLS: the CA that signed the broker's certificate (the file must exist)")
    tls_cert: Path | None = setting(None, "a client certificate, when the broker asks for one")
    tls_key: Path | None = setting(None, "client key for TLS (needs tls_cert)")
    discovery: bool = setting(True, "announce the speaker for Home Assistant MQTT discovery")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix")
    discovery_spread_s: float = setting(
        30.0, "when Home Assistant restarts, announce again after a random delay up to this"
        " (a fleet does not answer all at once)", lo=0.0, hi=600.0)
    keepalive: int = setting(30, "MQTT keepalive, seconds", lo=5, hi=3600)
    max_payload_bytes: int = setting(4096, "commands larger than this are refused",
                                     lo=64, hi=1_000_000)
    commands_per_minute: int = setting(120, "a flood beyond this is refused", lo=1,
                                       hi=100_000)
    sync_batch: int = setting(100, "listens per message to the trainer", lo=1, hi=200)
    sync_in_flight: int = setting(4, "batches sent and not yet acknowledged", lo=1, hi=100)
    sync_ack_timeout_s: float = setting(30.0, "then the batch is sent again", lo=1.0,
                                        hi=3600.0)


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



def _convert(key: str, value: Any, spec: Field, base: Path) -> Any:
    """Coerce one TOML value to the type of its default; raise naming the key."""
    annotation = str(spec.type)
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
    lo, hi = spec.metadata.get("lo"), spec.metadata.get("hi")
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
    for key in ("device_id", "base_topic", "discovery_prefix"):
        value = getattr(m, key)
        if value is not None and not _TOPIC_WORD.fullmatch(value):
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
            setattr(target, key, _convert(f"{name}.{key}", value, specs[key], base))
    cfg.library.path = cfg.library.path.expanduser()
    cfg.camera.source = _resolve_prefixed(cfg.camera.source, "replay:", base)
    cfg.audio.output = _resolve_prefixed(cfg.audio.output, "file:", base)
    _validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, *, required: bool = False) -> Config:
    """Read ``path`` (default /etc/moodspeaker/config.toml; absent -> all defaults)."""
    explicit = path is not None
    path = DEFAULT_CONFIG_PATH if path is None else Path(path)
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
