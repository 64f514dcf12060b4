"""``moodspeaker user [NAME]``: show or set the active listener (a running speaker follows)."""

from __future__ import annotations

from device.storage.active_user import active_user, user_file, write_active_user
from device.system.config import config_from_dict, load_config


def cmd_user(args) -> int:
    cfg = load_config(args.config)
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    path = user_file(cfg)
    if args.name is None:
        print(active_user(cfg))
        return 0

    config_from_dict({"user": {"active": args.name}})  # same validation as the config key
    write_active_user(path, args.name)
    print(f"active user: {args.name}")
    return 0
