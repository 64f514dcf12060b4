"""``moodspeaker pick --mood M --count N [--json]``: what would it play in this mood?

N picks, each as if it were the first of a session (the no-repeat window is the
journal's, as at a start), with the speaker's taste model, this listener's learning and
the index's valence/arousal. Each is drawn from the first pick's chances over the whole
library (``Picker.first_picks``); the N draws are spread by systematic sampling
(``picker.spread_draws``), so a track comes as often as its chance says rather than as
often as the luck of N separate draws has it. Nothing is played or journalled: the
journal is only read, and only if it exists.
"""

from __future__ import annotations

import json

from device.music.library import LibraryIndex
from device.music.picker import spread_draws
from device.music.picker_setup import load_taste_or_flat, make_picker
from device.shared.errors import UserError
from device.storage.journal import Journal
from device.system.config import load_config


def pick_rows(cfg, mood: str, count: int, *, user: str, seed: int | None) -> list[dict]:
    if not cfg.library_index_path.exists():
        raise UserError(f"{cfg.library_index_path}: no library index yet "
                        "(run moodspeaker library scan)")
    taste = load_taste_or_flat(cfg.models.dir)
    with LibraryIndex(cfg.library_index_path) as index:
        journal = Journal(cfg.journal_path) if cfg.journal_path.exists() else None
        try:
            picker = make_picker(cfg, index, taste, user=user, journal=journal, seed=seed)
            start = journal.recent_track_ids(user, 50)[::-1] if journal else []
        finally:
            if journal is not None:
                journal.close()
    if not picker.size:
        raise UserError(f"{cfg.library_index_path}: no playable tracks in the index")
    picker.restart(start)
    chances = picker.first_picks(user, mood)
    rows = []
    for i in spread_draws([p.probability for p in chances], count, picker.rng):
        p = chances[i]
        t = p.track
        rows.append({
            "track_id": t.track_id, "path": t.path, "genre": p.genre, "title": t.title,
            "artist": t.artist, "valence": t.valence, "arousal": t.arousal,
            "taste": round(p.score, 3),
            "fit": None if p.fit is None else round(p.fit, 3),
            "score": None if p.total is None else round(p.total, 3),
            "probability": round(p.probability, 5),
            "target": None if p.target is None else {
                "valence": p.target.valence, "arousal": p.target.arousal,
                "strength": p.target.strength, "region": p.target.region},
            "explanation": p.explanation,
        })
    return rows


def cmd_pick(args) -> int:
    cfg = load_config(args.config)
    if args.state_dir is not None:
        cfg.state.dir = args.state_dir
    if args.models_dir is not None:
        cfg.models.dir = args.models_dir
    user = args.user or cfg.user.active
    rows = pick_rows(cfg, args.mood, args.count, user=user, seed=args.seed)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    for row in rows:
        va = ("" if row["valence"] is None
              else f" [v {row['valence']:+.2f} a {row['arousal']:+.2f}]")
        print(f"{row['track_id']}{va}: {row['explanation']}")
    return 0
