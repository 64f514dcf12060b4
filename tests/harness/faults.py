"""What the fault cases (tests/faults) and ``bench/faults.py`` share: the real speaker on a
thread or as ``moodspeaker run`` in a subprocess, the checks that nothing recorded was lost,
and the "fault | outcome" table."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from device.loop.speaker import SpeakerStats
from device.perception.mood_watch import FixedMood, MoodSource
from device.system.app import Parts, run_speaker
from device.system.config import Config, config_from_dict
from tests.harness.speaker import REPO, Quiet


def speaker_config(tmp: Path, state: Path, **over) -> Config:
    """Dummy audio, no camera, fast position writes, no resume; ``over`` per section."""
    raw = {
        "library": {"path": str(tmp / "lib")},
        "state": {"dir": str(state)},
        "audio": {"output": "dummy", "fade_s": 0.1},
        "camera": {"source": "none"},
        "journal": {"position_interval_s": 0.2},
        "resume": {"enabled": False},
    }
    for k, v in over.items():
        raw.setdefault(k, {}).update(v)
    return config_from_dict(raw)


@dataclass
class Running:
    """``run_speaker`` on a thread, as ``moodspeaker run`` runs it (minus the signals)."""

    cfg: Config
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    parts: Parts | None = None
    stats: SpeakerStats | None = None
    thread: threading.Thread | None = None

    def finish(self, timeout: float = 30) -> SpeakerStats:
        self.stop.set()
        if self.parts is not None:
            self.parts.speaker.wake()
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the speaker did not stop"
        assert self.stats is not None
        return self.stats


def start_speaker(cfg: Config, mood: MoodSource | None = None) -> Running:
    """Start the real speaker; ``mood`` None: the camera the config names (a FixedMood
    when it names none)."""
    run = Running(cfg)
    if mood is None and cfg.camera.source == "none":
        mood = FixedMood("happy", 0.9)

    def on_ready(parts: Parts) -> None:
        run.parts = parts
        run.ready.set()

    def main() -> None:
        run.stats = run_speaker(cfg, run.stop, mood=mood, status=Quiet(), on_ready=on_ready)

    run.thread = threading.Thread(target=main, name="speaker-under-test")
    run.thread.start()
    return run


def moodspeaker(*args: str, **popen) -> subprocess.Popen:
    """The real command line in a subprocess (what systemd starts)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "device.cli", *args], cwd=REPO, env=env,
                            text=True, **popen)


def write_config(path: Path, **sections: dict) -> Path:
    """A TOML config from ``sections`` (strings, numbers and booleans only)."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return f'"{v}"' if isinstance(v, str | Path) else str(v)

    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in keys.items())
    path.write_text("\n".join(lines) + "\n")
    return path


LISTEN_COLUMNS = ("event_id, track_id, started_at, ended_at, position_s, end_reason, error,"
                  " start_offset_s")


def journal_rows(db: Path) -> list[tuple]:
    """Every listen, oldest first, read with plain sqlite3 (not the code under test);
    [] while the speaker is still creating the schema."""
    if not Path(db).exists():
        return []
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute(f"SELECT {LISTEN_COLUMNS} FROM listens ORDER BY started_at"
                           ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def assert_journal_intact(db: Path) -> list[tuple]:
    """``integrity_check`` ok, every listen closed, no event twice; returns the rows."""
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    rows = journal_rows(db)
    assert rows, "no listens recorded"
    open_rows = [r for r in rows if r[3] is None or r[5] is None]
    assert not open_rows, f"listens left open: {open_rows}"
    assert len({r[0] for r in rows}) == len(rows)
    return rows


def longest_silence(rows: list[tuple]) -> float:
    """The longest gap, in seconds, between one listen's end and the next one's start."""
    gaps = [b[2] - a[3] for a, b in itertools.pairwise(rows)]
    return max(gaps, default=0.0)


#: ``bench/faults.py`` sets it to a file name; tests/faults/conftest.py writes the rows there.
TABLE_ENV = "MOODSPEAKER_FAULTS_TABLE"


def format_table(rows: list[tuple[str, str]]) -> list[str]:
    """A Markdown table (readable in a terminal too)."""
    width = max([len("fault")] + [len(f) for f, _ in rows])
    lines = [f"| {'fault'.ljust(width)} | outcome |", f"|{'-' * (width + 2)}|---------|"]
    lines += [f"| {f.ljust(width)} | {o} |" for f, o in rows]
    return lines
