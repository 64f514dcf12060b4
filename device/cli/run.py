"""``moodspeaker run``: the service (camera -> mood -> track -> sound, journalled)."""

from __future__ import annotations

from pathlib import Path


def cmd_run(args) -> int:
    from device.system.app import serve
    from device.system.config import load_config
    from device.system.status import count

    cfg = load_config(args.config)
    if args.state_dir:
        cfg.state.dir = Path(args.state_dir)
    stats = serve(cfg, seconds=args.seconds)
    switches = count(stats.mood_switches, "mood switch", "mood switches")
    print(f"played {count(stats.played, 'track')} ({stats.completed} completed, "
          f"{count(stats.errors, 'error')}), {switches}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("run", help="run the speaker (the systemd service runs this)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML config (default /etc/moodspeaker/config.toml; absent = defaults)")
    p.add_argument("--seconds", type=float, default=None, help="stop cleanly after N seconds")
    p.add_argument("--state-dir", type=Path, default=None, help="override [state] dir")
    p.set_defaults(handler=cmd_run)
