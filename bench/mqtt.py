"""MQTT benchmarks on a real Mosquitto that this script starts on a free loopback port.

    python -m bench.mqtt                        # everything, about 1.5 minutes
    python -m bench.mqtt --commands 100 --backlog 2000 --ingest-rows 8000 --repeats 1
    python -m bench.mqtt --json bench/results/mqtt/run1.json

The broker is configured as docs/mqtt.md, "Broker setup: Mosquitto", has it
(``set_tcp_nodelay true``), on loopback.

1. Sync and command latency, on one real speaker (``device.system.app.run_speaker``: real libvlc
   on the dummy output playing the synthesised demo library, the replay camera on the
   bundled demo frames at 2 fps through the real detector and int8 model, the real MQTT
   bridge), started with a journal pre-filled with ``--backlog`` closed, unsynced listens,
   as after a long outage. The trainer's side is a real ``trainer.sync.ingest.Ingest`` in
   its own process (as in a deployment, it shares no interpreter with the speaker).
   - sync: from the speaker's ``on_ready`` (its MQTT bridge started a moment before and
     is still connecting) until its journal's ``unsynced_count()`` is 0 and the store
     holds the backlog: backlog drain time and listens/s (target > 1,000/s);
   - then command-to-result latency: a remote publishes ``--commands`` JSON commands (a
     mix of volume, mute, mood override and pause/play, one at a time, 20-80 ms apart) and
     times each from its publish to its ``command/result`` arrival (target p95 < 50 ms).
2. Ingest throughput with one and with two workers on a shared subscription
   (``$share/g/...``, each worker its own process, one store): ``--devices`` bare MQTT
   speakers each send batches of 200 rows, at most 4 unacknowledged (the speaker's default
   ``sync_in_flight``), timed from the first publish to the last acknowledgement; the
   median of ``--repeats`` runs of each, alternated.

Only the camera is not real (there is none on this machine): the replay source stands in
for it, with the real frames, detector and classifier behind it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BATCH = 200  # the protocol's largest batch
WINDOW = 4  # batches in flight per device, as the speaker's default sync_in_flight


# --- the trainer's side: one Ingest worker per process -------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    """``--worker``: a real Ingest until stdin closes; says ``subscribed`` when it is."""
    from device.shared.mqtt_client import MqttSettings
    from trainer.sync.ingest import Ingest

    ingest = Ingest(MqttSettings("127.0.0.1", args.port), args.db,
                    base_topic=args.base_topic, share=args.share, client_id=args.client_id)
    ingest.start(timeout=10)
    if not ingest.subscribed.wait(10):
        raise SystemExit("worker: not subscribed within 10 s")
    print("subscribed", flush=True)
    sys.stdin.read()
    ingest.stop()
    print(json.dumps(asdict(ingest.stats)), flush=True)


class Workers:
    """``n`` ingest worker processes, subscribed when the constructor returns."""

    def __init__(self, n: int, port: int, db: str, base_topic: str, share: str | None):
        self.procs = []
        for i in range(n):
            cmd = [sys.executable, "-m", "bench.mqtt", "--worker", "--port", str(port),
                   "--db", str(db), "--base-topic", base_topic, "--client-id", f"{base_topic}-w{i}"]
            if share:
                cmd += ["--share", share]
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, cwd=REPO,
                                               stdout=subprocess.PIPE, text=True))
        for p in self.procs:
            line = p.stdout.readline().strip()
            if line != "subscribed":
                self.close()
                raise SystemExit(f"an ingest worker failed to start ({line!r})")

    def close(self) -> list[dict]:
        """Stop them all; each worker's IngestStats."""
        stats = []
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.stdin.close()
        for p in self.procs:
            out = p.stdout.read()
            p.wait(30)
            with contextlib.suppress(ValueError, IndexError):
                stats.append(json.loads(out.strip().splitlines()[-1]))
        return stats


# --- the speaker ---------------------------------------------------------------------------


def speaker_config(tmp: Path, port: int):
    """``device.system.demo.demo_config`` (replayed faces through the real models, the demo
    library, dummy audio) plus ``[mqtt]`` on the bench's broker."""
    from device.system.config import config_from_dict
    from device.system.demo import FRAMES_DIR, make_library

    make_library(tmp / "library", per_genre=2, seconds=20.0)
    return config_from_dict({
        "camera": {"source": f"replay:{FRAMES_DIR}", "fps": 2.0, "replay_repeat": 10},
        "library": {"path": str(tmp / "library")},
        "audio": {"output": "dummy", "fade_s": 1.0},
        "state": {"dir": str(tmp / "state")},
        "user": {"active": "demo"},
        "mood": {"switch_after_s": 3.0, "switch_confidence": 0.5},
        "resume": {"enabled": False},
        "picker": {"no_repeat": 4},
        # above the bench's command rate: the default 120 a minute would refuse most of them
        "mqtt": {"host": "127.0.0.1", "port": port, "device_id": "bench",
                 "commands_per_minute": 100_000},
    })


def fill_journal(path: Path, n: int) -> set[str]:
    """``n`` closed, unsynced listens written the way the loop writes them. Durability
    does not matter for this setup step, so this connection skips the fsyncs."""
    from device.storage.journal import Journal

    ids = set()
    with Journal(path) as j:
        j.db.execute("PRAGMA synchronous=OFF")
        for i in range(n):
            e = j.start(user="demo", track_id=f"t{i % 500}", path=f"Mixed/{i % 500}.wav",
                        genre="pop", mood=("happy", "sad", "angry", "neutral")[i % 4],
                        mood_confidence=0.8, duration_s=180.0, explanation="backlog")
            j.end(e, "completed", 180.0, ended_by="end")
            ids.add(e)
    return ids


@contextlib.contextmanager
def running(cfg) -> Iterator:
    """The whole speaker on a thread (its camera built from the config), stopped cleanly
    when the block ends; yields ``(parts, ready_at)``."""
    from device.system.app import run_speaker
    from tests.harness.speaker import Quiet

    stop = threading.Event()
    ready: queue.Queue = queue.Queue()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            run_speaker(cfg, stop, status=Quiet(),
                        on_ready=lambda p: ready.put((p, time.perf_counter())))
        except BaseException as exc:
            errors.append(exc)
            ready.put((None, 0.0))

    t = threading.Thread(target=main, name="speaker")
    t.start()
    parts, ready_at = ready.get(timeout=60)
    try:
        if parts is None:
            raise errors[0]
        yield parts, ready_at
    finally:
        stop.set()
        if parts is not None:
            parts.speaker.wake()
        t.join(30)


def wait_drained(journal_path: Path, store_path: Path, n: int, timeout: float) -> float:
    """Poll (every 20 ms) until nothing is unsynced and the store holds ``n`` rows; the
    moment it was seen."""
    from device.storage.journal import Journal
    from trainer.sync.store import ListenStore

    deadline = time.perf_counter() + timeout
    with Journal(journal_path) as j:
        while time.perf_counter() < deadline:
            if j.unsynced_count() == 0 and store_path.exists():
                with ListenStore(store_path) as s:
                    if s.count() >= n:
                        return time.perf_counter()
            time.sleep(0.02)
    raise SystemExit(f"sync: the backlog of {n} did not drain within {timeout:.0f} s")


#: (command, value) pairs cycled through; every pause is followed by a play, every
#: override by auto, so the music keeps playing and following the camera.
COMMANDS = [
    ("volume", "40"), ("mute", "true"), ("volume", "+5"), ("mute", "false"),
    ("mood", "sad 5"), ("volume", "-5"), ("pause", ""), ("play", ""),
    ("mood", "auto"), ("mute", "toggle"), ("mute", "toggle"), ("volume", "50"),
]


class Remote:
    """A plain paho client that sends JSON commands with ids and times their results."""

    def __init__(self, port: int, device_id: str):
        from device.shared.mqtt_client import MqttSettings
        from device.shared.mqtt_protocol import Topics
        from tests.harness.broker import subscribed_client

        self.topics = Topics(device_id)
        self.results: queue.Queue = queue.Queue()
        self.client = subscribed_client(
            MqttSettings("127.0.0.1", port), "bench-remote", self.topics.command_result,
            lambda c, u, m: self.results.put((time.perf_counter(), json.loads(m.payload))))

    def send(self, cid: str, name: str, value: str) -> tuple[float, dict]:
        """Seconds from publish to the result with this id, and the result."""
        body = json.dumps({"id": cid, "command": name, "value": value})
        t0 = time.perf_counter()
        self.client.publish(self.topics.command, body, qos=1)
        deadline = t0 + 10
        while True:
            arrived, result = self.results.get(timeout=max(0.01, deadline - time.perf_counter()))
            if result.get("id") == cid:
                return arrived - t0, result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def bench_speaker(port: int, tmp: Path, backlog: int, commands: int) -> dict:
    cfg = speaker_config(tmp, port)
    cfg.state.dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ids = fill_journal(cfg.journal_path, backlog)
    print(f"  journal: {backlog} closed listens written in {time.perf_counter() - t:.1f} s",
          flush=True)
    store = tmp / "sync_store.sqlite3"
    workers = Workers(1, port, store, "moodspeaker", None)
    try:
        with running(cfg) as (parts, ready_at):
            done_at = wait_drained(cfg.journal_path, store, backlog, timeout=120)
            drain = done_at - ready_at
            print(f"  sync: {backlog} listens drained in {drain:.2f} s", flush=True)
            remote = Remote(port, "bench")
            rng = random.Random(0)
            latencies, failed = [], []
            try:
                for i in range(commands):
                    name, value = COMMANDS[i % len(COMMANDS)]
                    seconds, result = remote.send(f"c{i}", name, value)
                    latencies.append(seconds)
                    if not result["ok"]:
                        failed.append(f"{name} {value}: {result['error']}")
                    time.sleep(rng.uniform(0.02, 0.08))
            finally:
                remote.close()
            status = parts.speaker.status()
            frames = getattr(parts.mood, "frames", 0)
            played = parts.speaker.stats.played
    finally:
        worker_stats = workers.close()
    from trainer.sync.store import ListenStore

    with ListenStore(store) as s:
        stored = set(s.event_ids("bench"))
    if not ids <= stored:
        raise SystemExit(f"sync: {len(ids - stored)} backlog listens missing from the store")
    if failed:
        print(f"  {len(failed)} commands failed, e.g. {failed[:3]}")
    ms = [1000 * x for x in latencies]
    return {
        "backlog": backlog, "drain_s": round(drain, 3), "sync_per_s": round(backlog / drain),
        "stored": len(stored), "ingest": worker_stats[0] if worker_stats else None,
        "commands": commands, "commands_failed": len(failed),
        "latency_ms_p50": round(percentile(ms, 50), 2),
        "latency_ms_p95": round(percentile(ms, 95), 2),
        "latency_ms_max": round(max(ms), 2),
        "state_after": status.state, "tracks_played": played, "camera_frames": frames,
    }


# --- ingest throughput -------------------------------------------------------------------


def make_rows(device: int, n: int) -> list[dict]:
    t0 = 1_760_000_000.0
    return [{
        "event_id": str(uuid.uuid4()), "user": f"user{device}", "track_id": f"t{i % 500}",
        "path": f"music/{i % 500}.mp3", "genre": "pop",
        "mood": ("happy", "sad", "angry", "neutral")[i % 4], "mood_confidence": 0.8,
        "started_at": t0 + 200 * i, "ended_at": t0 + 200 * i + 180, "position_s": 180.0,
        "duration_s": 180.0, "end_reason": "completed", "start_offset_s": 0.0,
        "explanation": "bench", "error": None, "ended_by": "end", "seq": i + 1,
    } for i in range(n)]


class Device:
    """A bare MQTT speaker: sends its pre-encoded batches, at most WINDOW unacknowledged."""

    def __init__(self, port: int, device_id: str, base_topic: str, payloads: list[bytes],
                 rows: int):
        from device.shared.mqtt_client import MqttSettings
        from device.shared.mqtt_protocol import Topics, decode_ack
        from tests.harness.broker import subscribed_client

        self.topics = Topics(device_id, base_topic)
        self.payloads = payloads
        self.rows = rows
        self.acked = 0
        self.sent = 0
        self.lags: list[float] = []  # per batch: sent -> acknowledged (stored), seconds
        self._sent_at: dict[str, float] = {}
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._decode = decode_ack
        self.client = subscribed_client(
            MqttSettings("127.0.0.1", port), f"bench-{device_id}", self.topics.listens_ack,
            self._on_ack, max_inflight=WINDOW)

    def go(self) -> None:
        for _ in range(min(WINDOW, len(self.payloads))):
            self._send()

    def _send(self) -> None:
        with self._lock:
            if self.sent == len(self.payloads):
                return
            payload = self.payloads[self.sent]
            self.sent += 1
        self._sent_at[self._batch_of(payload)] = time.perf_counter()
        self.client.publish(self.topics.listens, payload, qos=1)

    @staticmethod
    def _batch_of(payload: bytes) -> str:
        return json.loads(payload)["batch"]

    def _on_ack(self, client, userdata, msg) -> None:
        ack = self._decode(msg.payload)
        sent = self._sent_at.pop(ack.batch, None)
        if sent is not None:
            self.lags.append(time.perf_counter() - sent)
        self.acked += len(ack.event_ids)
        if self.acked >= self.rows:
            self.done.set()
        else:
            self._send()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def encode_batches(devices: int, rows: int) -> list[list[bytes]]:
    """Each device's batches of BATCH rows, encoded before any clock starts."""
    from device.shared.mqtt_protocol import encode_listens, new_id

    per_device = rows // devices
    payloads = []
    for d in range(devices):
        r = make_rows(d, per_device)
        payloads.append([encode_listens(f"dev{d}", new_id(), r[i:i + BATCH])
                         for i in range(0, per_device, BATCH)])
    return payloads


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes so far (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def postgres_pids(pg) -> list[int]:
    """The server's postmaster and its backends (children)."""
    pid_file = pg.data / "postmaster.pid"
    try:
        main_pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    children = Path(f"/proc/{main_pid}/task/{main_pid}/children")
    with contextlib.suppress(OSError):
        return [main_pid, *map(int, children.read_text().split())]
    return [main_pid]


def ingest_trial(port: int, tmp: Path, workers: int, payloads: list[list[bytes]],
                 per_device: int, tag: str, broker_pid: int, pg=None) -> dict:
    """One timed run: ``workers`` ingest processes on a fresh store and their own topic
    tree (so no earlier trial's sessions get a copy), every device's batches through.
    Where the CPU went: seconds of CPU per part (broker, workers, database, load)."""
    from trainer.sync.store import open_store

    db = (pg.url(pg.new_database()) if pg is not None
          else str(tmp / f"ingest-{tag}.sqlite3"))
    pool = Workers(workers, port, db, tag, "g" if workers > 1 else None)
    speakers = []
    parts = {"broker": lambda: [broker_pid],
             "ingest workers": lambda: [p.pid for p in pool.procs],
             "database": lambda: postgres_pids(pg) if pg is not None else [],
             "load (bench)": lambda: [os.getpid()]}
    try:
        speakers = [Device(port, f"dev{d}", tag, p, per_device) for d, p in enumerate(payloads)]
        cpu0 = {k: cpu_seconds(f()) for k, f in parts.items()}
        t0 = time.perf_counter()
        for s in speakers:
            s.go()
        for s in speakers:
            if not s.done.wait(120):
                raise SystemExit(f"ingest: {s.topics.device_id} got {s.acked} of {per_device}"
                                 " acknowledgements within 120 s")
        seconds = time.perf_counter() - t0
        cpu = {k: round(cpu_seconds(f()) - cpu0[k], 2) for k, f in parts.items()}
        lags = sorted(x for s in speakers for x in s.lags)
    finally:
        for s in speakers:
            s.close()
        stats = pool.close()
    store = open_store(db)
    try:
        stored = store.count()
    finally:
        store.close()
    if stored != per_device * len(payloads):
        raise SystemExit(f"ingest: the store holds {stored}, expected "
                         f"{per_device * len(payloads)}")
    return {"seconds": seconds, "rows": stored, "cpu_s": cpu,
            "lag_ms_p50": round(percentile(lags, 50) * 1000, 1),
            "lag_ms_p95": round(percentile(lags, 95) * 1000, 1),
            "batches_per_worker": [w.get("batches") for w in stats]}


def bench_ingest(port: int, tmp: Path, devices: int, rows: int, repeats: int,
                 broker_pid: int, pg=None) -> list[dict]:
    """1 and 2 workers, alternated ``repeats`` times (so the machine's load falls on both
    alike); the median rate of each, its lag and where the CPU went (median trial)."""
    payloads = encode_batches(devices, rows)
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for rep in range(repeats):
        for n in (1, 2):
            runs[n].append(ingest_trial(port, tmp, n, payloads, rows // devices,
                                        f"bench{n}-{rep}", broker_pid, pg))
    out = []
    for n, trials in runs.items():
        trials.sort(key=lambda t: t["rows"] / t["seconds"])
        rates = [t["rows"] / t["seconds"] for t in trials]
        mid = trials[len(trials) // 2]
        out.append({"workers": n, "devices": devices, "rows": trials[0]["rows"],
                    "store": "postgres" if pg is not None else "sqlite",
                    "per_s": round(statistics.median(rates)),
                    "per_s_runs": [round(r) for r in rates],
                    "lag_ms_p50": mid["lag_ms_p50"], "lag_ms_p95": mid["lag_ms_p95"],
                    "cpu_s": mid["cpu_s"], "seconds": round(mid["seconds"], 2),
                    "batches_per_worker": [t["batches_per_worker"] for t in trials]})
        print(f"  ingest with {n} worker(s): {', '.join(f'{r:,.0f}' for r in rates)}"
              f" listens/s; batch lag p50 {mid['lag_ms_p50']} ms, p95 {mid['lag_ms_p95']} ms;"
              f" CPU s in {mid['seconds']:.1f} s: "
              + ", ".join(f"{k} {v}" for k, v in mid["cpu_s"].items()), flush=True)
    return out


# --- the table -----------------------------------------------------------------------------


def table(speaker: dict | None, ingests: list[dict]) -> str:
    rows = [("what", "result", "target")]
    if speaker is not None:
        s = speaker
        rows += [
            (f"command -> result, {s['commands']} commands, p50 / p95 / max",
             f"{s['latency_ms_p50']:.1f} / {s['latency_ms_p95']:.1f} / "
             f"{s['latency_ms_max']:.1f} ms", "p95 < 50 ms"),
            (f"sync into the store, {s['backlog']:,}-listen backlog",
             f"{s['sync_per_s']:,} listens/s", "> 1,000/s"),
            (f"{s['backlog']:,}-listen backlog drain", f"{s['drain_s']:.2f} s", ""),
        ]
    for r in ingests:
        rows.append((f"ingest into {r['store']}, {r['workers']} worker"
                     f"{'s' if r['workers'] > 1 else ''}"
                     f" ({r['devices']} devices, {r['rows']:,} rows in batches of {BATCH})",
                     f"{r['per_s']:,} listens/s (median of {len(r['per_s_runs'])}),"
                     f" batch lag p50/p95 {r['lag_ms_p50']}/{r['lag_ms_p95']} ms", ""))
        busiest = max(r["cpu_s"], key=r["cpu_s"].get)
        rows.append(("  CPU seconds per part (the busiest limits the rate)",
                     ", ".join(f"{k} {v}" for k, v in r["cpu_s"].items())
                     + f"; busiest: {busiest}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=300)
    ap.add_argument("--backlog", type=int, default=10_000)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--ingest-rows", type=int, default=60_000)
    ap.add_argument("--repeats", type=int, default=3, help="ingest runs per worker count")
    ap.add_argument("--json", type=Path, help="also save the figures here")
    ap.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                    help="the ingest's store: an SQLite file, or a PostgreSQL server started"
                    " in a temp folder (Debian's postgresql package)")
    ap.add_argument("--ingest-only", action="store_true",
                    help="skip the speaker part (commands, backlog)")
    # the worker mode, used by this script itself
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--base-topic", help=argparse.SUPPRESS)
    ap.add_argument("--share", help=argparse.SUPPRESS)
    ap.add_argument("--client-id", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args)
        return

    import logging

    logging.basicConfig(level=logging.ERROR)
    from tests.harness.broker import MOSQUITTO, SKIP_REASON, Broker

    if MOSQUITTO is None:
        raise SystemExit(f"bench/mqtt.py: {SKIP_REASON}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Broker(tmp / "broker")
        with broker.conf.open("a") as f:  # as docs/mqtt.md "Broker setup: Mosquitto" has it
            f.write("set_tcp_nodelay true\n")
        broker.start()
        try:
            print(f"mosquitto on 127.0.0.1:{broker.port}; speaker: real libvlc (dummy output),"
                  " replay camera at 2 fps on device/demo_frames", flush=True)
            speaker = None
            if not args.ingest_only:
                speaker = bench_speaker(broker.port, tmp, args.backlog, args.commands)
                print(f"  speaker after the commands: {speaker['state_after']},"
                      f" {speaker['tracks_played']} tracks started,"
                      f" {speaker['camera_frames']} camera frames analysed", flush=True)
            pg = None
            if args.store == "postgres":
                from tests.harness.postgres import SKIP_REASON as PG_MISSING
                from tests.harness.postgres import Postgres, find_bin_dir

                bin_dir = find_bin_dir()
                if bin_dir is None:
                    raise SystemExit(f"bench/mqtt.py --store postgres: {PG_MISSING}")
                pg = Postgres(bin_dir, durable=True).start()
            try:
                assert broker.proc is not None
                ingests = bench_ingest(broker.port, tmp, args.devices, args.ingest_rows,
                                       args.repeats, broker.proc.pid, pg)
            finally:
                if pg is not None:
                    pg.stop()
        finally:
            broker.stop()
    print()
    print(table(speaker, ingests))
    print(f"\nstore={args.store} " + " ".join(
        f"workers{r['workers']}_per_s={r['per_s']} workers{r['workers']}_lag_p95_ms="
        f"{r['lag_ms_p95']}" for r in ingests))
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"speaker": speaker, "ingest": ingests}, indent=2)
                             + "\n")


if __name__ == "__main__":
    main()
