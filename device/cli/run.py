"""``moodspeaker run``: the service (camera -> mood -> track -> sound, journalled)."""

from __future__ import annotations

from pathlib import Path

from device.system.app import serve
from device.system.config import load_config
from device.system.status import count


def cmd_run(args) -> int:
    cfg = load_config(args.config)
    if args.state_dir:
        cfg.state.dir = Path(args.state_dir)
    stats = serve(cfg, seconds=args.seconds)
    switches = count(stats.mood_switches, "mood switch", "mood switches")
    print(f"played {count(stats.played, 'track')} ({stats.completed} completed, "
          f"{count(stats.errors, 'error')}), {switches}")
    return 0
