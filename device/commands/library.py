"""``moodspeaker library scan|stats``: index the music folder, or summarise the index."""

from __future__ import annotations

import json
from pathlib import Path


def _config(args):
    from ..config import load_config

    cfg = load_config(args.config)
    if args.path is not None:
        cfg.library.path = args.path
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    return cfg


def cmd_scan(args) -> int:
    from ..library import LibraryIndex, scan_library

    cfg = _config(args)
    with LibraryIndex(cfg.library_index_path) as index:
        report = scan_library(cfg.library.path, index,
                              genre_overrides=cfg.library.genre_overrides)
    print(report.summary())
    for path, err in report.broken:
        print(f"  broken: {path}: {err}")
    print(f"index: {cfg.library_index_path}")
    return 1 if report.seen and not (report.added + report.updated + report.unchanged) else 0


def cmd_stats(args) -> int:
    from ..library import LibraryIndex

    cfg = _config(args)
    with LibraryIndex(cfg.library_index_path) as index:
        stats = index.stats()
        errors = index.errors()
    if args.json:
        print(json.dumps({**stats, "errors": errors}, indent=2))
        return 0
    print(f"{stats['tracks']} tracks, {stats['hours']} h, root {stats['root']}")
    for genre, n in sorted(stats["by_genre"].items(), key=lambda kv: -kv[1]):
        print(f"  {genre:12s} {n}")
    print(f"genre from: {stats['genre_source']}")
    if stats["unmapped_tags"]:
        print("unmapped tags: " + ", ".join(f"{t!r} x{n}" for t, n in
                                            stats["unmapped_tags"].items()))
    print(f"broken files: {stats['broken']}")
    for path, err in errors[:20]:
        print(f"  {path}: {err}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("library", help="scan the music folder or show the index")
    lsub = p.add_subparsers(dest="library_command", required=True, metavar="ACTION")
    for name, handler, help_ in (("scan", cmd_scan, "index new and changed files"),
                                 ("stats", cmd_stats, "tracks per genre, unmapped, broken")):
        q = lsub.add_parser(name, help=help_)
        q.add_argument("--config", type=Path, default=None)
        q.add_argument("--path", type=Path, default=None, help="override [library] path")
        q.add_argument("--state-dir", type=Path, default=None, help="override [state] dir")
        if name == "stats":
            q.add_argument("--json", action="store_true")
        q.set_defaults(handler=handler)
