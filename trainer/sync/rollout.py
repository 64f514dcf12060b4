"""``moodspeaker-train rollout``: one model set to a group of speakers or to all, staged.

A canary share goes first (at least one speaker); only if every canary answers ok does the
rest get it. Transfers run several at once over one MQTT connection (``--parallel``). A
speaker that is offline (its retained ``availability`` says so) still gets the transfer:
its persistent session at the broker queues it, and it installs and answers when it comes
back; until then the report calls it ``queued``. A speaker that never announced itself has
no session to queue into, and is reported as ``unknown`` without being sent anything.

The fleet is every speaker with a retained ``availability`` on the broker (``--all``), a
group from a fleet file (``--group NAME --fleet FILE``, TOML: ``[groups] kitchen = ["spk1",
"spk2"]``), or ``--device ID`` (repeatable). The report (JSON, ``--report``) says for each
speaker which version it has now (the delivered manifest's sha256 prefix, or the one it
kept) and, for a refusal, why.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from device.shared.errors import UserError
from device.shared.mqtt_client import MqttSettings, connect, make_client, settings_from_args
from device.shared.mqtt_protocol import (
    BASE_TOPIC,
    Result,
    Topics,
    check_device_id,
    new_id,
)

from .publish import Delivery, PublishError, plan, result_of, send

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

#: the fleet is known when no speaker's retained availability has arrived for QUIET_S (the
#: broker sends them all right after the subscription), or after DISCOVER_MAX_S at most
QUIET_S = 1.0
DISCOVER_MAX_S = 120.0


@dataclass
class Outcome:
    device: str
    state: str  # ok | refused | queued | no answer | unknown | not sent
    version: str | None  # the model version it has after this rollout, when known
    error: str | None = None
    stage: str = ""  # canary | rest


class _Fleet:
    """Availability and results of every speaker, from the connection's network thread."""

    def __init__(self, base_topic: str):
        self.base = base_topic
        self.availability: dict[str, str] = {}
        self.last_heard = time.monotonic()  # the latest availability message
        self.results: dict[str, Result] = {}  # transfer -> result
        self.answered = threading.Condition()

    def topics(self) -> list[tuple[str, int]]:
        return [(f"{self.base}/+/availability", 1), (f"{self.base}/+/models/result", 1)]

    def on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) == 3 and parts[2] == "availability":
            self.availability[parts[1]] = bytes(msg.payload).decode(errors="replace")
            self.last_heard = time.monotonic()
            return
        result = result_of(msg)
        if result is None:
            return
        with self.answered:
            self.results[result.transfer] = result
            self.answered.notify_all()

    def discover(self) -> None:
        """Until the retained availability messages stop coming (a fleet of thousands takes
        longer than a fixed wait: 1.5 s missed 364 of 10,000 speakers)."""
        start = time.monotonic()
        while time.monotonic() - start < DISCOVER_MAX_S:
            if time.monotonic() - self.last_heard >= QUIET_S:
                return
            time.sleep(0.1)
        log.warning("rollout: speakers were still announcing themselves after %.0f s; "
                    "going on with %d", DISCOVER_MAX_S, len(self.availability))

    def wait(self, transfers: Iterable[str], timeout: float) -> None:
        wanted, deadline = set(transfers), time.monotonic() + timeout
        with self.answered:
            while not wanted <= set(self.results):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.answered.wait(left)


def read_group(fleet_file: Path, group: str) -> list[str]:
    try:
        groups = tomllib.loads(fleet_file.read_text(encoding="utf-8")).get("groups", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{fleet_file}: cannot read the fleet file: {exc}") from None
    members = groups.get(group) if isinstance(groups, dict) else None
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        known = ", ".join(sorted(groups)) if isinstance(groups, dict) else ""
        raise UserError(f"{fleet_file}: no group {group!r} (a list of device ids under "
                        f"[groups]; known: {known or 'none'})")
    return members


def version_of(delivery: Delivery) -> str:
    """The delivered set's version: its manifest's sha256, shortened."""
    manifest = next(s for s in delivery.begin.files if s.name == "manifest.json")
    return manifest.sha256[:12]


def canaries(devices: list[str], share: float) -> list[str]:
    """The first ``share`` of the fleet (at least one), in a stable order: sorted by a hash
    of the id, so the canaries are spread over names and the same on a rerun."""
    order = sorted(devices, key=lambda d: hashlib.sha256(d.encode()).hexdigest())
    return order[:max(1, math.ceil(share * len(order)))] if order else []


def rollout(settings: MqttSettings, delivery: Delivery, *, devices: list[str] | None,
            canary: float = 0.1, parallel: int = 8, timeout: float = 120.0,
            base_topic: str = BASE_TOPIC) -> list[Outcome]:
    """Send ``delivery`` to ``devices`` (None: every speaker the broker knows), staged."""
    fleet = _Fleet(base_topic)
    subscribed = threading.Event()

    def on_connect(client, _userdata, _flags, reason, _props) -> None:
        if not reason.is_failure:
            client.subscribe(fleet.topics())

    client = make_client(settings, f"moodspeaker-rollout-{uuid.uuid4().hex[:12]}")
    client.on_connect, client.on_message = on_connect, fleet.on_message
    client.on_subscribe = lambda *_: subscribed.set()
    connect(client, settings, timeout=min(timeout, 30.0))
    try:
        if not subscribed.wait(10):
            raise PublishError(f"{settings.where()}: the broker did not confirm the rollout's"
                               " subscriptions")
        fleet.last_heard = time.monotonic()
        fleet.discover()  # the retained availability of every speaker arrives now
        targets = sorted(set(devices)) if devices is not None else sorted(fleet.availability)
        for d in targets:
            check_device_id(d)
        if not targets:
            raise UserError("rollout: no speaker to send to (none has announced itself on "
                            f"{settings.where()} under {base_topic}/)")
        first = canaries(targets, canary)
        outcomes = _stage(client, fleet, delivery, first, "canary", parallel, timeout,
                          base_topic)
        bad = [o for o in outcomes if o.state not in ("ok", "queued")]
        rest = [d for d in targets if d not in first]
        if bad:
            log.error("rollout: %d of %d canaries did not take the models; the other %d "
                      "speakers get nothing", len(bad), len(first), len(rest))
            outcomes += [Outcome(d, "not sent", None, "a canary failed", "rest") for d in rest]
        elif rest:
            outcomes += _stage(client, fleet, delivery, rest, "rest", parallel, timeout,
                               base_topic)
        return outcomes
    finally:
        client.disconnect()
        client.loop_stop()


def _stage(client: mqtt.Client, fleet: _Fleet, delivery: Delivery, devices: list[str],
           stage: str, parallel: int, timeout: float, base_topic: str) -> list[Outcome]:
    """Send to ``devices`` at once (``parallel`` at a time), then wait for the answers of
    those that are online."""
    version = version_of(delivery)
    sent: dict[str, Delivery] = {}
    outcomes: dict[str, Outcome] = {}

    def one(device: str) -> None:
        state = fleet.availability.get(device)
        if state is None:
            outcomes[device] = Outcome(device, "unknown", None, "it never announced itself "
                                       "(no session at the broker to queue into)", stage)
            return
        mine = Delivery(dataclasses.replace(delivery.begin, transfer=new_id()),
                        delivery.paths)
        send(client, Topics(device, base_topic), mine, timeout)
        sent[device] = mine

    with ThreadPoolExecutor(max_workers=max(1, parallel),
                            thread_name_prefix="rollout") as pool:
        for device, future in [(d, pool.submit(one, d)) for d in devices]:
            try:
                future.result()
            except PublishError as exc:
                outcomes[device] = Outcome(device, "not sent", None, str(exc), stage)
    online = [d for d in sent if fleet.availability.get(d) == "online"]
    fleet.wait([sent[d].begin.transfer for d in online], timeout)
    for device, mine in sent.items():
        result = fleet.results.get(mine.begin.transfer)
        if result is not None:
            outcomes[device] = Outcome(device, "ok" if result.ok else "refused",
                                       version if result.ok else None, result.error, stage)
        elif fleet.availability.get(device) != "online":
            outcomes[device] = Outcome(device, "queued", None, "offline: the broker keeps "
                                       "the transfer until it comes back", stage)
        else:
            outcomes[device] = Outcome(device, "no answer", None,
                                       f"no result within {timeout:g} s", stage)
    for device, o in outcomes.items():
        log.info("rollout: %s (%s): %s%s", device, stage, o.state,
                 f": {o.error}" if o.error and o.state != "ok" else "")
    return [outcomes[d] for d in devices]


def report(outcomes: list[Outcome], delivery: Delivery) -> dict:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.state] = counts.get(o.state, 0) + 1
    return {"version": version_of(delivery), "counts": counts,
            "speakers": [dataclasses.asdict(o) for o in outcomes]}


def write_report(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def cmd_rollout(args: argparse.Namespace) -> int:
    if not 0.0 < args.canary <= 1.0:
        raise UserError(f"--canary: {args.canary} is not in (0, 1]")
    if args.group is not None and args.fleet is None:
        raise UserError("--group needs --fleet FILE (the groups)")
    devices = (None if args.all else
               read_group(args.fleet, args.group) if args.group else args.device)
    delivery = plan(args.models, args.files, args.chunk_size)
    outcomes = rollout(settings_from_args(args), delivery, devices=devices,
                       canary=args.canary, parallel=args.parallel, timeout=args.timeout,
                       base_topic=args.base_topic)
    data = report(outcomes, delivery)
    if args.report is not None:
        write_report(args.report, data)
    print(json.dumps(data))
    return 0 if all(o.state in ("ok", "queued") for o in outcomes) else 1
