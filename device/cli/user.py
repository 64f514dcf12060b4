"""``moodspeaker user [NAME]``: show or set the active listener (a running speaker follows)."""

from __future__ import annotations

from pathlib import Path


def cmd_user(args) -> int:
    from device.storage.active_user import active_user, user_file, write_active_user
    from device.system.config import load_config

    cfg = load_config(args.config)
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    path = user_file(cfg)
    if args.name is None:
        print(active_user(cfg))
        return 0
    from device.system.config import config_from_dict

    config_from_dict({"user": {"active": args.name}})  # same validation as the config key
    write_active_user(path, args.name)
    print(f"active user: {args.name}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("user", help="show or set the active listener")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--state-dir", type=Path, default=None)
    p.set_defaults(handler=cmd_user)
