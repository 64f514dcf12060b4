"""``taste build`` and ``taste report``: the person's side of the trainer.

The import report is printed first, before anything can fail later, then the overlap of
posts and listens per person, then the build. Exit 3 means: written, but someone has no
evidence (they get the prior) - listed above it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from device.shared.errors import UserError

NO_EVIDENCE_EXIT = 3


def inputs_from(args: argparse.Namespace) -> list:
    from .importers import Input, read_people

    if args.user is not None and not args.user.strip():
        raise UserError("--user: give a name")
    user = args.user.strip() if args.user else None
    inputs = read_people(args.people) if args.people else []
    inputs += [Input(p, "posts", user) for p in args.posts or []]
    inputs += [Input(p, "listens", user) for p in args.listens or []]
    if not inputs:
        raise UserError("nothing to read: give --posts/--listens (with --user NAME) or --people")
    return inputs


def _anchor(path: Path | None):
    from device.shared.manifest import ManifestError
    from device.shared.taste import load_taste

    from .build import SHIPPED_MODELS

    if path is None:
        if not (SHIPPED_MODELS / "taste.npz").exists():
            return None
        path = SHIPPED_MODELS
    try:
        return load_taste(path).prior
    except (ManifestError, OSError) as exc:
        raise UserError(f"--prior {path}: {exc}") from None


def run_build(args: argparse.Namespace) -> int:
    from device.shared.genres import GenreMapper

    from .build import BuildConfig, build
    from .export import export
    from .importers import read_inputs, read_track_table
    from .importers.times import zone
    from .tucker import TuckerConfig

    inputs = inputs_from(args)
    cfg = BuildConfig(
        window_min=args.window,
        normalise=args.normalise,
        tucker=TuckerConfig(ranks=args.ranks, l1=args.l1, l2=args.l2, k0=args.k0, seed=args.seed),
        threshold=args.threshold,
        min_confidence=args.min_confidence,
        relabel=not args.no_relabel,
        anchor=_anchor(args.prior),
    )
    catalog = read_track_table(*args.tracks) if args.tracks else None
    mapper = GenreMapper(override=args.genre_aliases)
    tz = zone(args.timezone) if args.timezone else None
    imported = read_inputs(inputs, mapper, catalog, tz, args.include_reposts)
    print("import:")
    print(imported.report.summary())
    print(mapper.report())
    if not imported.people:
        raise UserError("no posts or listens could be read (see the import report above)")
    print(f"overlap (posts with a listen within {args.window:g} minutes):")
    result = build(imported, cfg, say=lambda line: print(f"  {line}"))
    path = export(result.artifact, args.out)
    n = len(imported.people)
    print(f"wrote {path} ({n} {'person' if n == 1 else 'people'}) and the taste entry of "
          f"{args.out}/manifest.json")  # fmt: skip
    if args.report:
        from device.shared.taste import load_taste

        from .person_report import person_report, write

        model = load_taste(args.out)
        for person in imported.people:
            files = write(person_report(model, person, result.samples[person]), args.report)
            print(f"report for {person}: {', '.join(map(str, files))}")
        if imported.report.unmatched:
            path = write_unmatched(imported.report.unmatched, args.report)
            print(f"unmatched tracks, most played first: {path} (fill in genre and "
                  "duration_s, then give it to --tracks)")  # fmt: skip
    empty = result.without_evidence()
    if empty:
        print(f"no evidence, the prior only: {', '.join(empty)} (see the overlap above)")
        return NO_EVIDENCE_EXIT
    return 0


def write_unmatched(unmatched, out_dir: Path) -> Path:
    """A track table to fill in: ``track_id`` is ``Artist - Title``, as ``--tracks`` reads."""
    import csv

    path = Path(out_dir) / "unmatched_tracks.csv"
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["track_id", "genre", "duration_s", "plays"])
            writer.writerows([name, "", "", n] for name, n in unmatched.most_common())
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc}") from None
    return path


def run_report(args: argparse.Namespace) -> int:
    from device.shared.manifest import ManifestError
    from device.shared.taste import load_taste

    from .person_report import person_report, text, to_json, write

    try:
        model = load_taste(args.models)
    except (ManifestError, OSError) as exc:
        raise UserError(f"{args.models}: {exc}") from None
    sample: list[dict] = []
    if args.posts:
        from .build import BuildConfig, classify_each, sample_posts
        from .importers import read_posts
        from .importers.times import zone
        from .records import ImportReport

        report = ImportReport()
        tz = zone(args.timezone) if args.timezone else None
        posts = read_posts(args.posts, report, args.user, tz, args.include_reposts)
        threshold = BuildConfig(min_confidence=args.min_confidence).post_min_confidence()
        results = classify_each(posts, threshold)
        sample = sample_posts(posts, results, args.user, args.sample)
    rep = person_report(model, args.user, sample)
    print(to_json(rep) if args.json else text(rep))
    if args.out:
        files = write(rep, args.out)
        if not args.json:
            print(f"wrote {', '.join(map(str, files))}")
    return 0 if rep.known else NO_EVIDENCE_EXIT


def add_input_args(p: argparse.ArgumentParser) -> None:
    """Options shared by build and report for reading exports."""
    p.add_argument("--timezone", metavar="ZONE",
                   help="zone of the Weibo crawler's times (default Asia/Shanghai)")  # fmt: skip
    p.add_argument("--include-reposts", action="store_true",
                   help="keep reposts/retweets as the person's own posts (default: counted, "
                   "left out)")  # fmt: skip


def register_report(sub) -> None:
    r = sub.add_parser("report", help="one person's taste: heatmap, moved genres, post moods")
    r.add_argument("--user", required=True, metavar="NAME")
    r.add_argument("--models", type=Path, required=True, metavar="DIR",
                   help="the folder with taste.npz and manifest.json")  # fmt: skip
    r.add_argument("--posts", nargs="+", type=Path, metavar="INPUT",
                   help="their posts, for a sample with the mood read from each")  # fmt: skip
    r.add_argument("--out", type=Path, metavar="DIR", help="write DIR/NAME.png and NAME.json")
    r.add_argument("--json", action="store_true", help="print JSON instead of text")
    r.add_argument("--sample", type=int, default=12, help="posts in the sample")
    r.add_argument("--min-confidence", type=float, default=None)
    add_input_args(r)
    r.set_defaults(handler=run_report)


