"""``moodspeaker demo``: the speaker with bundled face frames and a synthesised library."""

from __future__ import annotations

import tempfile
from pathlib import Path

from device.shared.manifest import load_manifest
from device.system.app import serve
from device.system.demo import demo_config, make_library
from device.system.status import count


def cmd_demo(args) -> int:
    tmp = None
    if args.state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="moodspeaker-demo-")
        state = Path(tmp.name)
    else:
        state = Path(args.state_dir)
    try:
        audio = "default" if args.sound else ("file:" + str(args.wav) if args.wav else "dummy")
        cfg = demo_config(state, audio=audio)
        if args.models:
            cfg.models.dir = args.models
        make_library(cfg.library.path)
        print(f"demo: faces from {cfg.camera.source[7:]}, library {cfg.library.path}, "
              f"audio {cfg.audio.output}, {args.seconds:.0f} s (Ctrl-C stops)")
        if _flat_taste(cfg.models.dir):
            print("demo: note: the shipped taste model is a flat prior (every genre 5/10), so"
                  " genres are drawn at random whatever the mood; see moodspeaker-train taste")
        stats = serve(cfg, seconds=args.seconds)
        genres = ", ".join(f"{p.mood}->{p.genre}" for p in stats.picks)
        print(f"demo: played {count(stats.played, 'track')}, "
              f"{count(stats.mood_switches, 'mood switch', 'mood switches')}; picks: {genres}")
        print(f"demo: journal {cfg.journal_path}" + (" (temporary)" if tmp else ""))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _flat_taste(models_dir: Path) -> bool:
    """Whether the taste artifact is the committed placeholder (says so in its manifest)."""
    try:
        taste = load_manifest(models_dir).taste
    except Exception:  # the speaker itself reports a broken manifest, with its reason
        return False
    return taste is None or str(taste.extra.get("source", "")).startswith("flat")
