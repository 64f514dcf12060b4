"""``moodspeaker journal tail``: the latest listens, newest last."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict

from device.shared.errors import UserError
from device.storage.journal import Journal
from device.system.config import load_config


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def cmd_tail(args) -> int:
    cfg = load_config(args.config)
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    path = cfg.journal_path
    if not path.exists():
        raise UserError(f"{path}: no journal yet (has the speaker run with this state dir?)")
    with Journal(path) as journal:
        rows = journal.tail(args.n)
    for r in rows:
        if args.json:
            print(json.dumps(asdict(r)))
            continue
        dur = f"{r.duration_s:.0f}" if r.duration_s else "?"
        print(f"{_when(r.started_at)}  {r.user:10s} {r.mood:8s} {r.mood_confidence:.2f}  "
              f"{(r.genre or '-'):9s} {r.position_s:6.1f}/{dur:>4s} s  "
              f"{(r.end_reason or 'playing'):11s} {r.track_id}")
    return 0
