"""The fault-injection suite with its slow cases, and the "fault | outcome" table.

    python -m bench.faults                 # tests/faults, then 25 kills: about 3 minutes
    python -m bench.faults --kills 100     # a longer kill -9 storm
    python -m bench.faults --no-suite      # the slow cases only

1. ``pytest tests/faults`` in a subprocess (the CI cases; its conftest hands the rows over
   as JSON), timed: the whole of tests/faults must stay well inside the CI budget.
2. Slow cases, too long for CI:
   - a kill -9 storm: the real ``moodspeaker run`` (real libvlc on the dummy output, real
     MP3 clips from ../shared/data, no camera, positions written every 0.2 s) killed
     ``--kills`` times at random moments after it starts, every other one within 0.8 s, so
     kills land in the start (lock, library scan, journal recovery, resume) as well as
     among the journal writes. After each kill the journal and the library index pass
     ``integrity_check`` and at most one listen is open; a last clean run closes it, and
     every listen ever cut is then closed as interrupted.

Prints the table (Markdown, as in docs/benchmarks.md, "Fault injection: what it survives")
and the figures; exit 1 if any case failed.
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
import time
from pathlib import Path

from tests.harness.faults import TABLE_ENV, format_table, journal_rows, moodspeaker, write_config
from tests.harness.speaker import copy_clips

REPO = Path(__file__).resolve().parent.parent


def run_suite() -> tuple[list[tuple[str, str]], float, int]:
    """``pytest tests/faults``: (rows, wall seconds, exit status)."""
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "rows.json"
        env = {**os.environ, TABLE_ENV: str(table)}
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/faults"], cwd=REPO, env=env)
        wall = time.monotonic() - t0
        rows = [tuple(r) for r in json.loads(table.read_text())] if table.exists() else []
    return rows, wall, proc.returncode


def _integrity(db: Path) -> str:
    if not db.exists():
        return "ok"
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def kill_storm(kills: int, seed: int) -> tuple[str, str]:
    """The row for ``kills`` kill -9 at random moments, then a clean run."""
    fault = f"kill -9 at random moments, {kills} times (start and journal writes)"
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib = copy_clips(root / "music", per_genre=1)
        state = root / "state"
        cfg = write_config(root / "config.toml", camera={"source": "none"},
                           library={"path": lib}, audio={"output": "dummy", "fade_s": 0.2},
                           state={"dir": state}, journal={"position_interval_s": 0.2},
                           resume={"enabled": True, "rewind_s": 1.0})
        db, index = state / "journal.sqlite3", state / "library.sqlite3"
        cut: set[str] = set()
        in_start = 0
        t0 = time.monotonic()
        for i in range(kills):
            before = len(journal_rows(db))
            proc = moodspeaker("run", "--config", str(cfg), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 0.8) if i % 2 else rng.uniform(0.8, 3.0))
            if proc.poll() is not None:
                return fault, f"failed: run {i + 1} exited {proc.returncode} before the kill"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            rows = journal_rows(db)
            in_start += len(rows) == before  # killed before its first listen
            for name, path in (("journal", db), ("library index", index)):
                if (check := _integrity(path)) != "ok":
                    return fault, f"failed: {name} after kill {i + 1}: {check}"
            open_rows = [r for r in rows if r[3] is None]
            if len(open_rows) > 1:
                return fault, f"failed: {len(open_rows)} listens open after kill {i + 1}"
            cut.update(r[0] for r in open_rows)
        proc = moodspeaker("run", "--config", str(cfg), "--seconds", "2")
        _out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            return fault, f"failed: the clean run exited {proc.returncode}: {err[-300:]}"
        rows = journal_rows(db)
        by_id = {r[0]: r for r in rows}
        problems = [f"{i} is {by_id[i][5] if i in by_id else 'gone'}" for i in sorted(cut)
                    if i not in by_id or by_id[i][5] != "interrupted"]
        problems += [f"{r[0]} is open" for r in rows if r[3] is None]
        if _integrity(db) != "ok" or problems:
            return fault, f"failed: {'; '.join(problems[:3]) or 'integrity_check'}"
        took = time.monotonic() - t0
    return fault, (f"passed ({len(cut)} listens cut and closed as interrupted, "
                   f"{in_start} kills before the first listen, {len(rows)} listens, "
                   f"{took:.0f} s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=25, help="kill -9 storm length")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-suite", action="store_true", help="the slow cases only")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()

    rows: list[tuple[str, str]] = []
    figures = []
    status = 0
    if not args.no_suite:
        suite, wall, status = run_suite()
        rows += suite
        figures.append(f"tests/faults: {len(suite)} cases in {wall:.0f} s "
                       f"(pytest exit {status})")
    if args.kills > 0:
        rows.append(kill_storm(args.kills, args.seed))
    print()
    print("\n".join(format_table(rows)))
    print()
    for line in figures:
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "figures": figures}, indent=1))
    failed = [o for _, o in rows if o.startswith(("failed", "error", "xpassed"))]
    return 1 if status or failed else 0


if __name__ == "__main__":
    sys.exit(main())
