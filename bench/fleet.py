"""A simulated fleet: N light speakers against a real Mosquitto, a real ingest and a real
PostgreSQL, all on 127.0.0.1, every phase bounded in time.

    python -m bench.fleet --devices 1000
    python -m bench.fleet --devices 5000 --ingest-workers 2
    python -m bench.fleet --devices 20 --steady-s 2 --store sqlite     # what the test runs

Each simulated speaker is the speaker's MQTT side without camera or player: a paho client
built by ``device.shared.mqtt_client.make_client`` (persistent session, last will, the
speaker's packet limit), the outbox's logic (``device.mqtt.outbox.SyncWindow``, the same
code the speaker's ``Outbox`` thread runs) over an in-memory journal, the real
``device.mqtt.model_receiver.ModelReceiver`` (its install goes to a store that records the
set) and the speaker's reconnect policy (``device.mqtt.communicator.Reconnect``: full
jitter, 1 s to 2 min). All N run in this one process on one thread: paho's external-loop
callbacks register every socket with one ``selectors`` (epoll) loop, and timers (reconnect
attempts, the outbox's resends, transfer expiry) sit on one heap. Only the threads are
replaced: the receiver installs inline and its expiry timer is a heap entry.

The trainer's side is as deployed: ``trainer.sync.ingest.Ingest`` workers, each its own
process (``--ingest-workers``, a shared subscription when more than one), storing into
PostgreSQL (``tests/harness/postgres.py``: a real server in a temp folder, fsync on) or,
with ``--store sqlite``, the household's SQLite file; the rollout is
``trainer.sync.rollout.rollout`` in its own process.

Phases (each with a time limit; the run stops by itself, ``--max-s`` in all):
1. connect: every speaker connects at once (a power cut ends): time, peak CONNACKs/s.
2. steady: listens close at ``--speedup`` x the rate of a fleet that plays all day (one
   track every ``--listen-every-s`` per speaker), each sent as it closes: ingest lag
   (listen ended -> stored, from the store's ``received_at``) p50/p95.
3. ingest outage: the ingest workers stop; every speaker journals what ``--outage-s`` of
   playing gives and sends it; the speakers' outbox clocks are then moved on by
   ``--outage-s`` in 10 s steps, so they resend as they would have during the outage (30 s,
   then 1, 2, 4 min: duplicates on the wire, queued by the broker); the ingest comes back:
   backlog drain in (distinct) listens/s from its return to the last acknowledgement.
4. broker restart: SIGTERM (Mosquitto saves its sessions) and start again after
   ``--down-s``, one listen per speaker in flight as it dies: time until every speaker is
   back, peak CONNACKs/s.
5. rollout: one model set to every speaker (canary share first), through the real
   receiver: wall time of ``rollout()`` and how many answered ok.
6. settle and count: every listen the speakers made against the store: ``lost`` (made,
   not stored), ``doubled`` (stored more than once, or stored and never made).

The last line is ``key=value`` figures, including ``devices=N lost=L doubled=D``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import random
import resource
import selectors
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.mqtt.communicator import Reconnect
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import OutboxSettings, SyncWindow
from device.shared import commands as c
from device.shared.listens import Listen
from device.shared.manifest import MANIFEST_NAME
from device.shared.mqtt_client import SESSION_EXPIRY_S, MqttSettings, make_client
from device.shared.mqtt_protocol import MAX_SPEAKER_PACKET, Topics, decode_ack
from device.storage.model_store import ModelStore

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MODELS = REPO / "models"
MAX_DEVICES = 10_000
PENDING_CONNECTS = 64  # TCP handshakes at once: under Mosquitto's listen backlog (100)
MOODS = ("happy", "sad", "angry", "neutral")

log = logging.getLogger("bench.fleet")


class PhaseTimeout(RuntimeError):
    pass


# --- the speaker's parts, without its threads ------------------------------------------------


class Counter:
    """Fleet-wide tallies, kept as they change (the loop asks after every step)."""

    def __init__(self) -> None:
        self.pending = 0  # listens closed and not yet acknowledged
        self.ready = 0  # speakers connected and subscribed
        self.connecting = 0  # TCP and MQTT handshakes under way


class MemoryJournal:
    """The journal's sync side in memory: closed listens by ``sync_seq``, which are synced."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pending: dict[int, Listen] = {}  # sync_seq -> listen, in order
        self.seq_of: dict[str, int] = {}
        self.made: list[str] = []
        self._seq = 0

    def close_listen(self, device_seq: int, tag: str, ended_at: float, rng: random.Random
                     ) -> Listen:
        self._seq += 1
        listen = Listen(
            event_id=uuid.uuid4().hex, user=f"u{device_seq % 3}", track_id=f"{tag}/{self._seq}",
            path=f"Music/{tag}/{self._seq}.mp3", genre="pop", mood=rng.choice(MOODS),
            mood_confidence=0.8, started_at=ended_at - 180.0, ended_at=ended_at,
            position_s=180.0, duration_s=180.0, end_reason="completed", synced=False,
            ended_by="end", sync_seq=self._seq)
        self.pending[self._seq] = listen
        self.seq_of[listen.event_id] = self._seq
        self.made.append(listen.event_id)
        self.counter.pending += 1
        return listen

    def unsynced(self, limit: int, *, after_seq: int = 0) -> list[Listen]:
        out = []
        for seq, listen in self.pending.items():
            if seq > after_seq:
                out.append(listen)
                if len(out) >= limit:
                    break
        return out

    def mark_synced(self, event_ids: list[str]) -> int:
        n = 0
        for e in event_ids:
            seq = self.seq_of.get(e)
            if seq is not None and self.pending.pop(seq, None) is not None:
                n += 1
        self.counter.pending -= n
        return n


class RecordingStore(ModelStore):
    """A model store whose install records the set (its manifest's sha256 prefix)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent-fleet-state"), SHIPPED_MODELS)
        self.installed: list[str] = []

    def current(self) -> Path:
        return self.shipped

    def install(self, files: Mapping[str, bytes], validate: Callable[[Path], None]) -> Path:
        self.installed.append(hashlib.sha256(files[MANIFEST_NAME]).hexdigest()[:12])
        return self.shipped


class _Inline(ThreadPoolExecutor):
    """Runs the receiver's install at once, on the fleet's thread (no thread per speaker)."""

    def submit(self, fn, /, *args, **kwargs):
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the future, as a pool does
            f.set_exception(exc)
        return f


class _Sink:
    """The speaker loop as the receiver sees it: every Reload succeeds at once."""

    def submit(self, command: c.Command) -> Future[c.CommandResult]:
        return c.done(c.CommandResult(True))


class FleetReceiver(ModelReceiver):
    """The real receiver; its install runs inline and its expiry timer is a heap entry."""

    def __init__(self, fleet: Fleet, topics: Topics, store: ModelStore,
                 publish: Callable[[str, bytes], object]):
        super().__init__(topics, store, lambda _p: None, _Sink(), publish)
        self._worker = _Inline(max_workers=1)
        self._fleet = fleet

    def _arm(self, seconds: float) -> None:
        self._fleet.at(time.monotonic() + seconds, self._expire)

    def close(self) -> None:
        pass


class SimSpeaker:
    def __init__(self, fleet: Fleet, index: int):
        self.fleet = fleet
        self.index = index
        self.device_id = f"sim{index:05d}"
        self.topics = Topics(self.device_id)
        self.journal = MemoryJournal(fleet.counter)
        self.rng = random.Random(index)
        self.connected = False
        self._subscribed = False
        self._connecting = False
        self.failures = 0
        self.connected_at: float | None = None
        self.client = make_client(fleet.settings, self.device_id, persistent=True,
                                  will=(self.topics.availability, "offline", 1, True))
        cl = self.client
        cl.on_connect, cl.on_disconnect = self._on_connect, self._on_disconnect
        cl.on_message, cl.on_subscribe = self._on_message, self._on_subscribe
        cl.on_socket_open, cl.on_socket_close = self._open, self._close
        cl.on_socket_register_write = self._want_write
        cl.on_socket_unregister_write = self._done_writing
        self.window = SyncWindow(self.device_id, self._publish_listens, fleet.outbox,
                                 clock=fleet.outbox_clock)
        self.store = RecordingStore()
        self.receiver = FleetReceiver(fleet, self.topics, self.store, self._publish)

    @property
    def connecting(self) -> bool:
        return self._connecting

    @connecting.setter
    def connecting(self, value: bool) -> None:
        self.fleet.counter.connecting += int(value) - int(self._connecting)
        self._connecting = value

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    @subscribed.setter
    def subscribed(self, value: bool) -> None:
        self.fleet.counter.ready += int(value) - int(self._subscribed)
        self._subscribed = value

    # --- the fleet's loop --------------------------------------------------------------

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.MaximumPacketSize = MAX_SPEAKER_PACKET
        self.connecting = True
        try:
            self.client.connect(self.fleet.settings.host, self.fleet.settings.port,
                                self.fleet.settings.keepalive, clean_start=False,
                                properties=props)
        except OSError:
            self.connecting = False
            self._retry()

    def _retry(self) -> None:
        self.failures += 1
        delay = self.fleet.reconnect.delay(self.failures, self.rng)
        self.fleet.schedule_connect(self, time.monotonic() + delay)

    def close_listen(self, tag: str, ended_at: float) -> None:
        self.journal.close_listen(self.index, tag, ended_at, self.rng)
        self.window.pump(self.journal)

    def unsynced(self) -> int:
        return len(self.journal.pending)

    # --- paho's callbacks (on the fleet's thread) ----------------------------------------

    def _publish(self, topic: str, body: bytes | str, retain: bool = False) -> bool:
        return self.client.publish(topic, body, qos=1, retain=retain).rc == paho.MQTT_ERR_SUCCESS

    def _publish_listens(self, body: bytes) -> bool:
        return self._publish(self.topics.listens, body)

    def _on_connect(self, client, _u, _flags, reason, _props) -> None:
        self.connecting = False
        if reason.is_failure:
            self._retry()
            return
        t = self.topics
        client.subscribe([(t.listens_ack, 1), (t.models_begin, 1), (t.models_chunk_filter, 1),
                          (t.models_commit, 1)])
        self.connected, self.connected_at = True, time.monotonic()
        self.fleet.connacks.append(self.connected_at)
        self._publish(t.availability, "online", retain=True)
        self.window.connection(True)
        self.window.pump(self.journal)

    def _on_subscribe(self, *_args) -> None:
        self.subscribed = self.connected

    def _on_disconnect(self, _client, _u, _flags, _reason, _props) -> None:
        self.connecting = False
        was_up, self.connected, self.subscribed = self.connected, False, False
        if was_up:
            self.window.connection(False)
        if self.fleet.stopping:
            return
        lasted = None if self.connected_at is None else time.monotonic() - self.connected_at
        self.connected_at = None
        if lasted is not None and lasted >= self.fleet.reconnect.stable_s:
            self.failures = 0
        self._retry()

    def _on_message(self, _client, _u, msg: paho.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        if msg.topic == self.topics.listens_ack:
            self.window.acked(self.journal, decode_ack(payload))
            self.window.pump(self.journal)
        else:
            self.receiver.on_message(msg.topic, payload)

    def _open(self, _client, _u, sock) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fleet.sel.register(sock, selectors.EVENT_READ, self)

    def _close(self, _client, _u, sock) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.fleet.sel.unregister(sock)

    def _want_write(self, _client, _u, sock) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.fleet.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def _done_writing(self, _client, _u, sock) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.fleet.sel.modify(sock, selectors.EVENT_READ, self)


class Fleet:
    """N speakers on one selector loop and one timer heap."""

    def __init__(self, n: int, settings: MqttSettings, outbox: OutboxSettings, deadline: float):
        self.settings = settings
        self.outbox = outbox
        self.reconnect = Reconnect()
        self.deadline = deadline
        self.sel = selectors.DefaultSelector()
        self.skew = 0.0  # added to the outboxes' clock: an outage's time passing at once
        self.stopping = False
        self.connacks: list[float] = []
        self.counter = Counter()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._tick = itertools.count()
        self._connect_queue: list[tuple[float, int, SimSpeaker]] = []
        self.speakers = [SimSpeaker(self, i) for i in range(n)]
        self._misc_at = 0.0
        self._misc_slice = 0

    def outbox_clock(self) -> float:
        return time.monotonic() + self.skew

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._tick), fn))

    def schedule_connect(self, spk: SimSpeaker, when: float) -> None:
        heapq.heappush(self._connect_queue, (when, next(self._tick), spk))

    def step(self, wait: float = 0.01) -> None:
        for key, mask in self.sel.select(wait):
            spk: SimSpeaker = key.data
            if mask & selectors.EVENT_READ:
                spk.client.loop_read()
            if mask & selectors.EVENT_WRITE and spk.client.socket() is not None:
                spk.client.loop_write()
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()
        while (self._connect_queue and self._connect_queue[0][0] <= now
               and self.counter.connecting < PENDING_CONNECTS):
            spk = heapq.heappop(self._connect_queue)[2]
            if not spk.connected and not spk.connecting:
                spk.connect()
        if now >= self._misc_at:  # keepalive and the outbox's resends, a tenth each 0.1 s
            self._misc_at = now + 0.1
            part = self.speakers[self._misc_slice::10]
            self._misc_slice = (self._misc_slice + 1) % 10
            for spk in part:
                if spk.connected:
                    spk.client.loop_misc()
                    if spk.window.in_flight:
                        spk.window.pump(spk.journal)

    def run_until(self, done: Callable[[], bool], limit_s: float, what: str) -> float:
        """Step until ``done()``; the moment it was; PhaseTimeout past the limit."""
        end = min(time.monotonic() + limit_s, self.deadline)
        while True:
            now = time.monotonic()
            if done():
                return now
            if now > end:
                raise PhaseTimeout(f"{what}: not done within {limit_s:.0f} s; {self.state()}")
            self.step()

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()

    def state(self) -> str:
        """Where the speakers are, for a phase that did not finish."""
        stats = [s.window.stats for s in self.speakers]
        waiting = [s for s in self.speakers if s.unsynced()]
        return (f"{self.counter.ready} of {len(self.speakers)} connected, {self.unsynced()} "
                f"listens unacknowledged on {len(waiting)} speakers "
                f"({sum(1 for s in waiting if s.window.in_flight)} with a batch in flight); "
                f"batches sent {sum(x.batches for x in stats)}, resends on timeout "
                f"{sum(x.timeouts for x in stats)}, stale acks {sum(x.stale_acks for x in stats)}")

    def all_connected(self) -> bool:
        return self.counter.ready == len(self.speakers)

    def unsynced(self) -> int:
        return self.counter.pending

    def stop(self) -> None:
        self.stopping = True
        for s in self.speakers:
            if s.connected:
                s.client.disconnect()
        with contextlib.suppress(PhaseTimeout):
            self.run_until(lambda: not any(s.client.want_write() for s in self.speakers
                                           if s.client.socket() is not None), 10, "stop")
        for s in self.speakers:
            with contextlib.suppress(Exception):
                s.client.loop_write()
                s.client._sock_close()  # no loop thread to do it


def peak_rate(times: list[float], t0: float, window: float = 1.0) -> float:
    """The most events in any ``window`` seconds from ``t0`` on, per second."""
    ts = sorted(t for t in times if t >= t0)
    best, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best / window


# --- who is busy: CPU seconds per process group, from /proc ------------------------------


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _tree(root: int) -> list[int]:
    """``root`` and its children (PostgreSQL's postmaster and its backends)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] == root:
                kids.append(int(entry.name))
    return [root, *kids]


class CpuMeter:
    """Cores busy per group over a phase (2 cores in all): the fleet, Mosquitto and the
    ingest are one thread each, so the one near 1.00 is the bottleneck."""

    def __init__(self, groups: Callable[[], dict[str, list[int]]]):
        self.groups = groups
        self._t = 0.0
        self._cpu: dict[tuple[str, int], float] = {}

    def _sample(self) -> dict[tuple[str, int], float]:
        out = {}
        for name, pids in self.groups().items():
            for pid in pids:
                st = _stat(pid)
                if st is not None:
                    out[(name, pid)] = st[1]
        return out

    def start(self) -> None:
        self._t, self._cpu = time.monotonic(), self._sample()

    def line(self) -> str:
        wall = max(time.monotonic() - self._t, 1e-6)
        busy: dict[str, float] = dict.fromkeys(self.groups(), 0.0)
        for key, seconds in self._sample().items():
            busy[key[0]] += seconds - self._cpu.get(key, 0.0)
        self.start()
        return "cores busy: " + ", ".join(f"{k} {v / wall:.2f}" for k, v in busy.items())


# --- the trainer's side, each in its own process --------------------------------------------


def ingest_worker(args: argparse.Namespace) -> None:
    """``--ingest-worker``: a real Ingest until stdin closes; says ``subscribed``."""
    from trainer.sync.ingest import Ingest

    ingest = Ingest(MqttSettings("127.0.0.1", args.port), args.db, share=args.share,
                    client_id=args.client_id)
    ingest.start(timeout=30)
    if not ingest.subscribed.wait(30):
        raise SystemExit("ingest worker: not subscribed within 30 s")
    print("subscribed", flush=True)
    sys.stdin.read()
    ingest.stop()
    print(json.dumps(asdict(ingest.stats)), flush=True)


def rollout_worker(args: argparse.Namespace) -> None:
    """``--rollout-worker``: ``trainer.sync.rollout.rollout`` to every speaker, timed."""
    import trainer.sync.rollout as module
    from trainer.sync.publish import plan
    from trainer.sync.rollout import report, rollout

    if args.discover_s is not None:  # the quiet time that ends the discovery
        module.QUIET_S = args.discover_s
    delivery = plan(Path(args.models))
    t0 = time.perf_counter()
    outcomes = rollout(MqttSettings("127.0.0.1", args.port), delivery, devices=None,
                       canary=args.canary, parallel=args.parallel, timeout=args.timeout)
    took = time.perf_counter() - t0
    data = report(outcomes, delivery)
    print(json.dumps({"rollout_s": took, "counts": data["counts"], "version": data["version"],
                      "discover_s": module.QUIET_S}), flush=True)


class Workers:
    """``n`` ingest worker processes; their output read by one thread each."""

    def __init__(self, n: int, port: int, db: str, share: str | None):
        self.n, self.port, self.db, self.share = n, port, db, share
        self.procs: list[tuple[subprocess.Popen, list[str]]] = []
        self.stats: list[dict] = []

    def start(self, fleet: Fleet | None = None) -> float:
        """Start them; the moment all are subscribed (the fleet's loop runs meanwhile)."""
        for i in range(self.n):
            cmd = [sys.executable, "-m", "bench.fleet", "--ingest-worker", "--port",
                   str(self.port), "--db", self.db, "--client-id", f"fleet-ingest-{i}"]
            if self.share:
                cmd += ["--share", self.share]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    cwd=REPO, text=True)
            lines: list[str] = []
            threading.Thread(target=lambda p=proc, out=lines: out.extend(p.stdout),
                             daemon=True).start()
            self.procs.append((proc, lines))

        def up() -> bool:
            for proc, lines in self.procs:
                if proc.poll() is not None and "subscribed\n" not in lines:
                    raise SystemExit(f"an ingest worker exited ({proc.returncode})")
            return all("subscribed\n" in lines for _p, lines in self.procs)

        if fleet is not None:
            return fleet.run_until(up, 60, "ingest start")
        end = time.monotonic() + 60
        while not up():
            if time.monotonic() > end:
                raise SystemExit("ingest workers did not subscribe within 60 s")
            time.sleep(0.05)
        return time.monotonic()

    def stop(self, fleet: Fleet | None = None) -> None:
        for proc, _lines in self.procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        if fleet is not None:
            with contextlib.suppress(PhaseTimeout):
                fleet.run_until(lambda: all(p.poll() is not None for p, _ in self.procs), 30,
                                "ingest stop")
        for proc, lines in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            time.sleep(0.05)  # its reader thread takes the last line
            with contextlib.suppress(ValueError, IndexError):
                self.stats.append(json.loads(lines[-1]))
        self.procs = []


# --- the store ---------------------------------------------------------------------------


def stored_rows(db: str) -> list[tuple[str, str, str, float]]:
    """(device, event_id, track_id, received_at - ended_at) of every stored listen."""
    sql = "SELECT device, event_id, track_id, received_at - ended_at FROM listens"
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def model_set(folder: Path) -> Path:
    """A small model set to roll out: a manifest and one 8 KiB artifact."""
    folder.mkdir(parents=True, exist_ok=True)
    data = random.Random(7).randbytes(8192)
    (folder / "taste.npz").write_bytes(data)
    manifest = {"format": 1, "taste": {"file": "taste.npz", "format": 1,
                                       "sha256": hashlib.sha256(data).hexdigest(),
                                       "source": f"bench.fleet {uuid.uuid4().hex[:8]}"}}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _postmaster(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


# --- the run ------------------------------------------------------------------------------


def raise_fd_limit(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 512
    if want > hard:
        raise SystemExit(f"--devices {n}: needs {want} open files, the hard limit is {hard}")
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.harness.broker import Broker

    n = args.devices
    t_start = time.monotonic()
    deadline = t_start + args.max_s
    raise_fd_limit(n)  # Mosquitto and the workers inherit it
    tmp = Path(tempfile.mkdtemp(prefix="moodspeaker-fleet-"))
    figures: dict[str, Any] = {"devices": n}
    pg = None
    broker = workers = fleet = None
    try:
        if args.store == "postgres":
            from tests.harness.postgres import Postgres, find_bin_dir

            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise SystemExit("PostgreSQL is not installed (bash bootstrap.sh test); "
                                 "run with --store sqlite")
            pg = Postgres(bin_dir, durable=True).start()
            db = pg.url(pg.new_database())
        else:
            db = str(tmp / "listens.sqlite3")
        figures["store"] = args.store
        broker = Broker(tmp / "broker")
        with open(broker.conf, "a") as fh:
            fh.write("max_connections -1\n")
        broker.start()
        print(f"fleet: {n} speakers, Mosquitto on 127.0.0.1:{broker.port}, store {args.store}"
              f" ({'fsync on' if pg is not None else 'SQLite file'}); {os.cpu_count()} cores,"
              f" load average {_load()} (other work on this machine shares them)", flush=True)
        share = "fleet" if args.ingest_workers > 1 else None
        workers = Workers(args.ingest_workers, broker.port, db, share)
        workers.start()
        settings = MqttSettings("127.0.0.1", broker.port, keepalive=60)
        fleet = Fleet(n, settings, OutboxSettings(batch=args.batch, in_flight=4,
                                                  ack_timeout_s=args.ack_timeout_s), deadline)
        postmaster = _postmaster(pg.data) if pg is not None else None

        def groups() -> dict[str, list[int]]:
            g = {"fleet": [os.getpid()],
                 "mosquitto": [broker.proc.pid] if broker and broker.proc else [],
                 "ingest": [p.pid for p, _ in workers.procs] if workers else []}
            if postmaster is not None:
                g["postgres"] = _tree(postmaster)
            return g

        cpu = CpuMeter(groups)
        cpu.start()

        # 1. connect
        t0 = time.monotonic()
        for s in fleet.speakers:
            fleet.schedule_connect(s, t0)
        t1 = fleet.run_until(fleet.all_connected, args.phase_s, "connect")
        figures["connect_s"] = round(t1 - t0, 2)
        figures["connect_peak_per_s"] = round(peak_rate(fleet.connacks, t0))
        print(f"connect: {n} speakers connected and subscribed in {t1 - t0:.2f} s, "
              f"peak {figures['connect_peak_per_s']} CONNACKs/s", flush=True)
        print(f"  {cpu.line()}", flush=True)

        # 2. steady
        cpu.start()
        rate = n / args.listen_every_s * args.speedup
        count = max(1, round(rate * args.steady_s))
        rng = random.Random(1)
        t0 = time.monotonic()
        due = sorted((t0 + rng.uniform(0, args.steady_s), rng.randrange(n))
                     for _ in range(count))
        i = 0
        while i < len(due):
            now = time.monotonic()
            while i < len(due) and due[i][0] <= now:
                fleet.speakers[due[i][1]].close_listen("steady", time.time())
                i += 1
            fleet.step(0.002)
            if now > deadline:
                raise PhaseTimeout("steady: past --max-s")
        fleet.run_until(lambda: fleet.unsynced() == 0, args.phase_s, "steady drain")
        figures["steady_listens"] = count
        print(f"steady: {count} listens in {args.steady_s:g} s ({rate:.1f}/s, "
              f"{args.speedup:g}x a fleet playing all day), all acknowledged", flush=True)
        print(f"  {cpu.line()}", flush=True)

        # 3. ingest outage: the broker queues, the speakers resend as the outage goes on
        workers.stop(fleet)
        per = args.outage_s / args.listen_every_s
        now_wall = time.time()
        backlog = 0
        sent0 = sum(s.window.stats.batches for s in fleet.speakers)
        for s in fleet.speakers:
            k = int(per) + (1 if s.rng.random() < per - int(per) else 0)
            for j in range(k):  # spread over the outage, as they were played
                s.close_listen("backlog", now_wall - args.outage_s * (k - j) / (k + 1))
            backlog += k
            if s.index % 200 == 0:
                fleet.step(0)
        fleet.run_for(0.5)
        for _ in range(int(args.outage_s // 10)):
            fleet.skew += 10.0
            for s in fleet.speakers:
                if s.window.in_flight:
                    s.window.pump(s.journal)
            fleet.step(0)
        fleet.run_for(1.0)
        wire = sum(s.window.stats.batches for s in fleet.speakers) - sent0
        cpu.start()
        t0 = workers.start(fleet)
        t1 = fleet.run_until(lambda: fleet.unsynced() == 0, args.phase_s, "backlog drain")
        figures["backlog"] = backlog
        figures["backlog_batches"] = wire
        figures["drain_s"] = round(t1 - t0, 2)
        figures["drain_lps"] = round(backlog / max(t1 - t0, 1e-6))
        figures["drain_batches_per_s"] = round(wire / max(t1 - t0, 1e-6))
        print(f"ingest outage ({args.outage_s:g} s equivalent): {backlog} listens journaled, "
              f"{wire} batches queued at the broker with the resends; drained in "
              f"{t1 - t0:.2f} s after the ingest came back: {figures['drain_lps']} listens/s",
              flush=True)
        print(f"  {cpu.line()}", flush=True)

        # 4. broker restart
        for s in fleet.speakers:
            s.close_listen("restart", time.time())
        fleet.step(0)
        cpu.start()
        broker.stop()
        fleet.run_for(args.down_s)
        broker.start()
        t0 = time.monotonic()
        t1 = fleet.run_until(fleet.all_connected, args.phase_s, "reconnect")
        figures["reconnect_s"] = round(t1 - t0, 2)
        figures["reconnect_peak_per_s"] = round(peak_rate(fleet.connacks, t0))
        fleet.run_until(lambda: fleet.unsynced() == 0, args.phase_s, "restart drain")
        t2 = time.monotonic()
        print(f"broker restart (down {args.down_s:g} s): all {n} back in {t1 - t0:.2f} s, "
              f"peak {figures['reconnect_peak_per_s']} CONNACKs/s; the listens in flight "
              f"stored {t2 - t0:.2f} s after the restart", flush=True)
        print(f"  {cpu.line()}", flush=True)

        # 5. rollout, as shipped (discovery ends after 1 s without a new speaker), then
        # with a longer quiet time
        for label, discover in (("as shipped", None), ("all", 1.5 + n / 1000)):
            cpu.start()
            models = model_set(tmp / f"models-{label.replace(' ', '-')}")
            cmd = [sys.executable, "-m", "bench.fleet", "--rollout-worker", "--port",
                   str(broker.port), "--models", str(models), "--parallel", str(args.parallel),
                   "--canary", str(args.canary), "--timeout", str(args.phase_s)]
            if discover is not None:
                cmd += ["--discover-s", f"{discover:g}"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO, text=True)
            fleet.run_until(lambda p=proc: p.poll() is not None, args.phase_s * 2 + 30,
                            "rollout")
            out, _ = proc.communicate()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            result = json.loads(out.strip().splitlines()[-1])
            ok = sum(1 for s in fleet.speakers if s.store.installed
                     and s.store.installed[-1] == result["version"])
            reached = sum(result["counts"].values())
            print(f"rollout ({label}, discovery ends after {result['discover_s']:g} s quiet): "
                  f"{result['counts']} of {reached} speakers seen, in "
                  f"{result['rollout_s']:.2f} s (canary {args.canary:g}, {args.parallel} at "
                  f"once); {ok} of {n} installed version {result['version']}", flush=True)
            print(f"  {cpu.line()}; the rollout process {spent:.1f} CPU s", flush=True)
            if discover is None:
                figures["rollout_shipped_reached"] = reached
            else:
                figures["rollout_s"] = round(result["rollout_s"], 2)
                figures["rollout_ok"] = ok

        # 6. settle and count
        fleet.run_until(lambda: fleet.unsynced() == 0, args.phase_s, "settle")
        fleet.stop()
        workers.stop()
        rows = stored_rows(db)
        made = {(s.device_id, e) for s in fleet.speakers for e in s.journal.made}
        keys = [(d, e) for d, e, _t, _l in rows]
        distinct = set(keys)
        lags = [lag * 1000 for _d, _e, t, lag in rows if t.startswith("steady/")]
        figures["lag_p50_ms"] = round(pct(lags, 0.50), 1)
        figures["lag_p95_ms"] = round(pct(lags, 0.95), 1)
        figures["listens"] = len(made)
        figures["stored"] = len(distinct)
        figures["resent_batches"] = sum(s.window.stats.timeouts for s in fleet.speakers)
        figures["stale_acks"] = sum(s.window.stats.stale_acks for s in fleet.speakers)
        figures["lost"] = len(made - distinct)
        figures["doubled"] = (len(keys) - len(distinct)) + len(distinct - made)
        figures["unsynced"] = fleet.unsynced()
        stats = workers.stats
        figures["ingest_batches"] = sum(s.get("batches", 0) for s in stats)
        print(f"ingest lag (ended -> stored) of the steady listens: p50 "
              f"{figures['lag_p50_ms']} ms, p95 {figures['lag_p95_ms']} ms", flush=True)
        print(f"load average at the end {_load()}", flush=True)
    finally:
        if fleet is not None and not fleet.stopping:
            with contextlib.suppress(Exception):
                fleet.stop()
        if workers is not None:
            with contextlib.suppress(Exception):
                workers.stop()
        if broker is not None:
            broker.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    figures["wall_s"] = round(time.monotonic() - t_start, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--devices", type=int, default=1000, help=f"speakers (1-{MAX_DEVICES})")
    p.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--ingest-workers", type=int, default=1)
    p.add_argument("--listen-every-s", type=float, default=180.0,
                   help="one listen closes every this many seconds per playing speaker")
    p.add_argument("--speedup", type=float, default=1.0,
                   help="the steady phase's listen rate, times a fleet playing all day")
    p.add_argument("--steady-s", type=float, default=20.0)
    p.add_argument("--outage-s", type=float, default=600.0,
                   help="the ingest outage, in the speakers' time (listens and resends)")
    p.add_argument("--down-s", type=float, default=1.0, help="the broker's restart gap")
    p.add_argument("--batch", type=int, default=100, help="the outbox's rows per batch")
    p.add_argument("--ack-timeout-s", type=float, default=30.0,
                   help="the outbox's wait for an acknowledgement (sync_ack_timeout_s)")
    p.add_argument("--parallel", type=int, default=16, help="rollout transfers at once")
    p.add_argument("--canary", type=float, default=0.1)
    p.add_argument("--phase-s", type=float, default=180.0, help="each phase's time limit")
    p.add_argument("--max-s", type=float, default=900.0, help="the whole run's time limit")
    # internal: the processes the run starts
    p.add_argument("--ingest-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rollout-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--share", help=argparse.SUPPRESS)
    p.add_argument("--client-id", help=argparse.SUPPRESS)
    p.add_argument("--models", help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    p.add_argument("--discover-s", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.ingest_worker:
        ingest_worker(args)
        return 0
    if args.rollout_worker:
        logging.getLogger("trainer.sync.rollout").setLevel(logging.ERROR)
        rollout_worker(args)
        return 0
    if not 1 <= args.devices <= MAX_DEVICES:
        p.error(f"--devices must be 1-{MAX_DEVICES}")
    # thousands of speakers each warning about the same stale ack or resend: counted instead
    for name in ("device.mqtt.outbox", "device.mqtt.model_receiver"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        figures = run(args)
    except PhaseTimeout as exc:
        print(f"fleet: stopped: {exc}", flush=True)
        print(f"devices={args.devices} lost=-1 doubled=-1 error=timeout", flush=True)
        return 1
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return 0 if figures["lost"] == 0 and figures["doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
