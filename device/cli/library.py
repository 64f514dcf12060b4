"""``moodspeaker library scan|stats|list``: index the music folder (tags, then each
track's valence and arousal from its audio), summarise the index, or list its tracks."""

from __future__ import annotations

import json

from device.music.library import LibraryIndex, scan_library
from device.music.library.scoring import score_library
from device.music.picker_setup import load_mood_model
from device.system.config import load_config


def _config(args):
    cfg = load_config(args.config)
    if args.path is not None:
        cfg.library.path = args.path
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    return cfg


def cmd_scan(args) -> int:
    cfg = _config(args)
    model = None if args.no_mood else load_mood_model(cfg.models.dir)
    with LibraryIndex(cfg.library_index_path) as index:
        report = scan_library(cfg.library.path, index,
                              genre_overrides=cfg.library.genre_overrides)
        print(report.summary())
        for path, err in report.broken:
            print(f"  broken: {path}: {err}")
        if model is not None:
            scored = score_library(index, model, progress=_progress if args.progress else None)
            print(scored.summary())
    return 1 if report.seen and not (report.added + report.updated + report.unchanged) else 0


def cmd_stats(args) -> int:
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
    print(f"mood scores: {stats['mood_scored']} tracks, "
          f"{stats['mood_undecodable']} undecodable (picked by genre only)")
    for path, err in errors[:20]:
        print(f"  {path}: {err}")
    return 0


def _progress(state) -> None:
    print(f"  {state.short}", flush=True)


def cmd_list(args) -> int:
    cfg = _config(args)
    with LibraryIndex(cfg.library_index_path) as index:
        rows = index.rows(playable_only=not args.all)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            va = (f"{'-':^11s}" if row["valence"] is None
                  else f"{row['valence']:+.2f} {row['arousal']:+.2f}")
            print(f"{row['genre'] or '-':10s} {va}  {row['track_id']}")
    return 0
