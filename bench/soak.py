"""Soak: the real speaker for an hour under commands; fails on a leak (issue 13, "Soak").

    python -m bench.soak                          # 60 minutes
    python -m bench.soak --minutes 3 --json /tmp/soak.json

What runs (only the camera is not real: there is none on this machine):
- ``moodspeaker run`` in its own process, so its RSS, CPU, descriptors and threads are its
  own (read from ``/proc/<pid>``): the replay camera on the bundled demo frames at 2 fps
  through the real detector and int8 TFLite model, real libvlc on the dummy audio output,
  a library of synthesised 10 s and 20 s tracks (``device.system.demo.make_library``), the real
  journal and the real MQTT bridge;
- a real Mosquitto on a free loopback port (``tests/harness/broker.py``);
- a real ``trainer.sync.ingest.Ingest`` storing the listens the speaker syncs;
- a remote sending one ``set/<command>`` every 2-5 s (volume, mute, mood override, next,
  pause/play) and waiting up to 10 s for its ``command/result``.

Every 10 s it samples the speaker's RSS (VmRSS), CPU time (utime+stime), open descriptors,
threads, and the journal's rows and bytes (database + WAL). Figures: RSS drift (slope of a
least-squares line through the samples after the warm-up, MB/h), mean CPU % of one core,
descriptors and threads (first/last/max), journal rows and bytes per hour, commands
sent/answered/failed. Exit 1 ("fails on a leak") when the drift exceeds ``--max-drift``
(5 MB/h), when descriptors or threads grow (every sample of the last quarter above every
sample of the first quarter after the warm-up), when a command went unanswered, or when
the speaker died or did not stop cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SAMPLE_S = 10.0
DEVICE = "soak"
#: (command, payload) cycled through; every pause is followed by a play and every
#: override by auto, so the music keeps playing and following the camera.
COMMANDS = [
    ("volume", "40"), ("mute", "true"), ("volume", "+5"), ("mute", "false"),
    ("mood", "sad 20"), ("next", ""), ("volume", "-5"), ("pause", ""), ("play", ""),
    ("mood", "auto"), ("mute", "toggle"), ("mute", "toggle"), ("next", ""), ("volume", "55"),
]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float  # seconds since the speaker started
    rss_kb: int
    cpu_s: float
    fds: int
    threads: int
    journal_rows: int
    journal_bytes: int  # the database file
    wal_bytes: int  # its write-ahead log (bounded by SQLite's checkpoints)


@dataclass
class Commands:
    sent: int = 0
    answered: int = 0
    failed: int = 0  # answered with ok=false
    unanswered: int = 0
    errors: list[str] = field(default_factory=list)


# --- the speaker's process -----------------------------------------------------------------


def write_config(tmp: Path, port: int) -> Path:
    """``device.system.demo.demo_config`` as a TOML file, plus ``[mqtt]`` on the soak's broker."""
    from device.system.demo import FRAMES_DIR, make_library

    make_library(tmp / "library" / "short", per_genre=2, seconds=10.0)
    make_library(tmp / "library" / "long", per_genre=2, seconds=20.0)
    path = tmp / "config.toml"
    path.write_text(f"""\
[camera]
source = "replay:{FRAMES_DIR}"
fps = 2.0
replay_repeat = 10

[library]
path = "{tmp / 'library'}"

[audio]
output = "dummy"
fade_s = 1.0

[state]
dir = "{tmp / 'state'}"

[user]
active = "demo"

[mood]
switch_after_s = 3.0
switch_confidence = 0.5

[resume]
enabled = false

[picker]
no_repeat = 4

[mqtt]
host = "127.0.0.1"
port = {port}
device_id = "{DEVICE}"
""")
    return path


def die_with_parent():
    """A ``preexec_fn``: the child gets SIGTERM when the soak dies, even of ``kill -9``
    (Linux prctl), so an interrupted soak leaves no speaker running on. The function is
    looked up here, before the fork, as the child must not load libraries while other
    threads (paho's) may hold locks."""
    import ctypes
    import functools

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return functools.partial(prctl, 1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def sample(pid: int, journal: Path, t0: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
    cpu = (int(ticks[11]) + int(ticks[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    rows = 0
    if journal.exists():
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT count(*) FROM listens").fetchone()[0]
        finally:
            db.close()
    size, wal = (p.stat().st_size if p.exists() else 0
                 for p in (journal, journal.with_name(journal.name + "-wal")))
    return Sample(round(time.monotonic() - t0, 2), int(fields["VmRSS"].split()[0]), cpu,
                  len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"]), rows, size, wal)


# --- the remote ----------------------------------------------------------------------------


class Remote:
    """A plain paho client: one ``set/<command>`` at a time, waiting for its result."""

    def __init__(self, port: int):
        import queue

        from device.shared.mqtt_client import MqttSettings
        from device.shared.mqtt_protocol import Topics
        from tests.harness.broker import subscribed_client

        self.topics = Topics(DEVICE)
        self.results: queue.Queue = queue.Queue()
        self.client = subscribed_client(
            MqttSettings("127.0.0.1", port), "soak-remote", self.topics.command_result,
            lambda c, u, m: self.results.put(json.loads(m.payload)))

    def run(self, stop: threading.Event, tally: Commands, seed: int = 0) -> None:
        import queue

        rng = random.Random(seed)
        i = 0
        while not stop.wait(rng.uniform(2.0, 5.0)):
            name, value = COMMANDS[i % len(COMMANDS)]
            i += 1
            self.client.publish(self.topics.set(name), value, qos=1)
            tally.sent += 1
            deadline = time.monotonic() + 10
            while True:
                try:
                    result = self.results.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    tally.unanswered += 1
                    tally.errors.append(f"{name} {value!r}: no result within 10 s")
                    break
                if result.get("command") == name:
                    tally.answered += 1
                    if not result.get("ok"):
                        tally.failed += 1
                        tally.errors.append(f"{name} {value!r}: {result.get('error')}")
                    break

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- figures -------------------------------------------------------------------------------


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope, per hour."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    cov = sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True))
    return 3600 * cov / var if var else 0.0


def grows(values: list[int]) -> bool:
    """A leak's baseline, not noise: every sample of the last quarter above every sample of
    the first quarter (transient descriptors and threads come and go within a sample)."""
    q = max(1, len(values) // 4)
    return len(values) >= 4 and min(values[-q:]) > max(values[:q])


def figures(samples: list[Sample], warmup_s: float, tally: Commands, stored: int,
            unsynced: int, exit_code: int | None, max_drift: float) -> dict:
    steady = [s for s in samples if s.t >= warmup_s]
    span_h = (samples[-1].t - samples[0].t) / 3600
    fds = [s.fds for s in steady]
    threads = [s.threads for s in steady]
    fig = {
        "minutes": round(samples[-1].t / 60, 1), "samples": len(samples),
        "steady_samples": len(steady), "warmup_s": warmup_s,
        "rss_mb_first": round(steady[0].rss_kb / 1024, 1),
        "rss_mb_last": round(steady[-1].rss_kb / 1024, 1),
        "rss_mb_max": round(max(s.rss_kb for s in samples) / 1024, 1),
        "rss_drift_mb_per_h": round(slope_per_hour(
            [s.t for s in steady], [s.rss_kb / 1024 for s in steady]), 2),
        "cpu_pct_mean": round(100 * (samples[-1].cpu_s - samples[0].cpu_s)
                              / (samples[-1].t - samples[0].t), 2),
        "cpu_pct_steady": round(100 * (steady[-1].cpu_s - steady[0].cpu_s)
                                / max(1e-9, steady[-1].t - steady[0].t), 2),
        "fds_first": fds[0], "fds_last": fds[-1], "fds_max": max(fds),
        "threads_first": threads[0], "threads_last": threads[-1],
        "threads_max": max(threads),
        "journal_rows": samples[-1].journal_rows, "journal_bytes": samples[-1].journal_bytes,
        "wal_bytes_max": max(s.wal_bytes for s in samples),
        "journal_rows_per_h": round((samples[-1].journal_rows - samples[0].journal_rows)
                                    / span_h, 1),
        "journal_bytes_per_h": round((samples[-1].journal_bytes - samples[0].journal_bytes)
                                     / span_h),
        "commands_sent": tally.sent, "commands_answered": tally.answered,
        "commands_failed": tally.failed, "commands_unanswered": tally.unanswered,
        "listens_stored": stored, "listens_unsynced": unsynced, "exit_code": exit_code,
    }
    problems = []
    if fig["rss_drift_mb_per_h"] > max_drift:
        problems.append(f"RSS drifts {fig['rss_drift_mb_per_h']} MB/h (limit {max_drift})")
    if grows(fds):
        problems.append(f"open descriptors grow: {fds[0]} -> {fds[-1]} (max {max(fds)})")
    if grows(threads):
        problems.append(f"threads grow: {threads[0]} -> {threads[-1]} (max {max(threads)})")
    if tally.unanswered:
        problems.append(f"{tally.unanswered} commands unanswered")
    if exit_code != 0:
        problems.append(f"the speaker exited {exit_code} (expected 0 on SIGTERM)")
    fig["problems"] = problems
    return fig


def table(fig: dict) -> str:
    rows = [
        ("run", f"{fig['minutes']} min, {fig['samples']} samples every {SAMPLE_S:.0f} s, "
                f"warm-up {fig['warmup_s']:.0f} s", ""),
        ("RSS drift", f"{fig['rss_drift_mb_per_h']:+.2f} MB/h "
                      f"({fig['rss_mb_first']} -> {fig['rss_mb_last']} MB, max "
                      f"{fig['rss_mb_max']})", "< 5 MB/h"),
        ("CPU, one core", f"{fig['cpu_pct_mean']:.1f} % mean "
                          f"({fig['cpu_pct_steady']:.1f} % after warm-up)", "< 10 %"),
        ("open descriptors", f"{fig['fds_first']} / {fig['fds_last']} / {fig['fds_max']} "
                             "(first/last/max)", "flat"),
        ("threads", f"{fig['threads_first']} / {fig['threads_last']} / {fig['threads_max']} "
                    "(first/last/max)", "flat"),
        ("journal", f"{fig['journal_rows_per_h']:.0f} rows/h, "
                    f"{fig['journal_bytes_per_h'] / 1024:.0f} KiB/h "
                    f"({fig['journal_rows']} rows, {fig['journal_bytes'] / 1024:.0f} KiB; "
                    f"WAL at most {fig['wal_bytes_max'] / 1024:.0f} KiB)", ""),
        ("commands", f"{fig['commands_sent']} sent, {fig['commands_answered']} answered, "
                     f"{fig['commands_failed']} refused, {fig['commands_unanswered']} "
                     "unanswered", "all answered"),
        ("sync", f"{fig['listens_stored']} listens stored by the ingest, "
                 f"{fig['listens_unsynced']} unsynced after the stop", ""),
        ("speaker exit", str(fig["exit_code"]), "0"),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{'':{w0}}  {'measured':{w1}}  target", "-" * (w0 + w1 + 12)]
    lines += [f"{a:{w0}}  {b:{w1}}  {c}" for a, b, c in rows]
    if fig["minutes"] < 30:
        lines.append("(under 30 minutes the RSS drift is mostly start-up noise: soak for 60)")
    lines.append("PASS" if not fig["problems"] else "FAIL: " + "; ".join(fig["problems"]))
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------


def soak(minutes: float, tmp: Path, max_drift: float) -> tuple[list[Sample], dict]:
    from device.shared.mqtt_client import MqttSettings
    from device.storage.journal import Journal
    from tests.harness.broker import Broker
    from trainer.sync.ingest import Ingest
    from trainer.sync.store import ListenStore

    broker = Broker(tmp / "broker").start()
    ingest = remote = None
    proc = None
    tally = Commands()
    samples: list[Sample] = []
    stop = threading.Event()
    try:
        config = write_config(tmp, broker.port)
        ingest = Ingest(MqttSettings("127.0.0.1", broker.port), tmp / "store.sqlite3",
                        client_id="soak-ingest")
        ingest.start(timeout=10)
        if not ingest.subscribed.wait(10):
            raise SystemExit("ingest: not subscribed within 10 s")
        log = (tmp / "speaker.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from device.cli import main; "
             "sys.exit(main(sys.argv[1:]))", "run", "--config", str(config)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent())
        t0 = time.monotonic()
        remote = Remote(broker.port)
        commander = threading.Thread(target=remote.run, args=(stop, tally), daemon=True)
        commander.start()
        journal = tmp / "state" / "journal.sqlite3"
        end = t0 + 60 * minutes
        next_at = t0 + SAMPLE_S
        last_print = t0
        while time.monotonic() < end:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += SAMPLE_S
            if proc.poll() is not None:
                print(f"the speaker died (exit {proc.returncode}); its log: "
                      f"{tmp / 'speaker.log'}", flush=True)
                break
            samples.append(sample(proc.pid, journal, t0))
            if time.monotonic() - last_print >= 60:
                last_print = time.monotonic()
                s = samples[-1]
                print(f"  {s.t / 60:5.1f} min: RSS {s.rss_kb / 1024:.1f} MB, CPU "
                      f"{100 * s.cpu_s / s.t:.1f} %, {s.fds} fds, {s.threads} threads, "
                      f"{s.journal_rows} listens, commands {tally.sent} sent "
                      f"{tally.answered} answered", flush=True)
        stop.set()
        commander.join(15)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print("the speaker did not stop within 60 s of SIGTERM; killed", flush=True)
                proc.returncode = None  # type: ignore[assignment]
        log.close()
        time.sleep(2)  # the last acknowledgements
        with Journal(journal) as j:
            unsynced = j.unsynced_count()
        with ListenStore(tmp / "store.sqlite3") as s:
            stored = s.count(DEVICE)
    finally:
        stop.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if remote is not None:
            remote.close()
        if ingest is not None:
            ingest.stop()
        broker.stop()
    if len(samples) < 4:
        raise SystemExit(f"only {len(samples)} samples: too short to judge "
                         f"(speaker log: {tmp / 'speaker.log'})")
    warmup = min(120.0, 0.2 * samples[-1].t)
    return samples, figures(samples, warmup, tally, stored, unsynced, proc.returncode,
                            max_drift)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    ap.add_argument("--max-drift", type=float, default=5.0, help="RSS limit, MB/h (5)")
    ap.add_argument("--json", type=Path, default=None, help="save samples and figures")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this folder and keep it (default: a temp dir, removed)")
    args = ap.parse_args()
    print(f"soak: {args.minutes:g} min of the real speaker under MQTT commands", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        samples, fig = soak(args.minutes, args.keep, args.max_drift)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            samples, fig = soak(args.minutes, Path(tmp), args.max_drift)
    print()
    print(table(fig))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"figures": fig,
                                         "samples": [asdict(s) for s in samples]}, indent=1)
                             + "\n")
    sys.exit(1 if fig["problems"] else 0)


if __name__ == "__main__":
    main()
