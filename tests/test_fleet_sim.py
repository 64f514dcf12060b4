"""The simulated fleet (``bench/fleet.py``) runs end to end with 20 speakers: a real
Mosquitto, a real ingest process, a real PostgreSQL when the package is installed (else the
SQLite store), a broker restart and a rollout; nothing is lost or doubled. It keeps the
bench from rotting: the speakers run the outbox's and the model receiver's real code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.broker import MOSQUITTO
from tests.harness.broker import SKIP_REASON as NO_MOSQUITTO
from tests.harness.postgres import find_bin_dir

REPO = Path(__file__).resolve().parent.parent


def _psycopg() -> bool:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(MOSQUITTO is None, reason=NO_MOSQUITTO)
def test_a_small_fleet_loses_and_doubles_nothing() -> None:
    store = "postgres" if find_bin_dir() is not None and _psycopg() else "sqlite"
    out = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--devices", "20", "--store", store,
         "--steady-s", "2", "--speedup", "200", "--phase-s", "60", "--max-s", "150"],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    lines = out.stdout.strip().splitlines()
    assert lines, out.stderr[-3000:]
    figures = dict(kv.split("=", 1) for kv in lines[-1].split())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert figures["devices"] == "20"
    assert figures["store"] == store
    assert figures["lost"] == "0" and figures["doubled"] == "0"
    assert figures["unsynced"] == "0"
    assert figures["rollout_ok"] == "20"
    assert int(figures["stored"]) == int(figures["listens"]) > 20
    # the outage's resends reached the broker as duplicates, and the store kept one each
    assert int(figures["backlog_batches"]) > int(figures["backlog"]) / 4
