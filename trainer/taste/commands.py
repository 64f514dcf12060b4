"""``taste build`` and ``taste report``: the person's side of the trainer.

The import report is printed first, before anything can fail later, then the overlap of
posts and listens per person, then the build. Exit 3 means: written, but someone has no
evidence (they get the prior) - listed above it.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.genres import GenreMapper
from device.shared.manifest import ManifestError
from device.shared.taste import load_taste
from trainer.sync.store_postgres import redact

from .build import (
    SHIPPED_MODELS,
    SPEAKER_WEIGHT,
    BuildConfig,
    build,
    camera_confusion,
    classify_each,
    sample_posts,
)
from .evaluate import run_evaluation
from .export import export
from .importers import (
    Input,
    is_store,
    read_inputs,
    read_listeners,
    read_people,
    read_posts,
    read_track_table,
)
from .importers.times import zone
from .person_report import evidence_sources, person_report, text, to_json, write
from .prior import cross_validate, fit_prior, plot, prior_artifact, read_sources, table
from .records import ImportReport
from .report import write_report
from .simulate import planted_tastes, simulate, write_simulation
from .speaker_sim import simulate_speaker, write_journal
from .speaker_sim import write_simulation as write_speaker_simulation
from .tucker import TuckerConfig

NO_EVIDENCE_EXIT = 3


def inputs_from(args: argparse.Namespace) -> list:
    if args.user is not None and not args.user.strip():
        raise UserError("--user: give a name")
    user = args.user.strip() if args.user else None
    inputs = read_people(args.people) if args.people else []
    inputs += [Input(p, "posts", user) for p in args.posts or []]
    inputs += [Input(p, "listens", user) for p in args.listens or []]
    db = getattr(args, "db", None)
    if db is not None:
        if not is_store(db):
            raise UserError(f"--db {redact(str(db))}: not an ingest store (no listens table "
                            "with a device column); give a journal or export to --listens")
        inputs.append(Input(db, "listens", user))
    if not inputs:
        raise UserError("nothing to read: give --posts/--listens/--db (with --user NAME) or "
                        "--people")
    return inputs


def _anchor(path: Path | None):
    if path is None:
        if not (SHIPPED_MODELS / "taste.npz").exists():
            return None
        path = SHIPPED_MODELS
    try:
        return load_taste(path).prior
    except (ManifestError, OSError) as exc:
        raise UserError(f"--prior {path}: {exc}") from None


def _camera(path: Path | None):
    try:
        return camera_confusion(path or SHIPPED_MODELS)
    except ManifestError as exc:
        raise UserError(f"--camera {path or SHIPPED_MODELS}: {exc}") from None


def run_build(args: argparse.Namespace) -> int:
    inputs = inputs_from(args)
    cfg = BuildConfig(
        window_min=args.window,
        normalise=args.normalise,
        tucker=TuckerConfig(ranks=args.ranks, l1=args.l1, l2=args.l2, k0=args.k0, seed=args.seed),
        threshold=args.threshold,
        min_confidence=args.min_confidence,
        relabel=not args.no_relabel,
        anchor=_anchor(args.prior),
        camera_confusion=_camera(getattr(args, "camera", None)),
        speaker_weight=SPEAKER_WEIGHT if getattr(args, "speaker_weight", None) is None
        else args.speaker_weight,
    )
    catalog = read_track_table(*args.tracks) if args.tracks else None
    mapper = GenreMapper(override=args.genre_aliases)
    tz = zone(args.timezone) if args.timezone else None
    imported = read_inputs(inputs, mapper, catalog, tz, args.include_reposts,
                           listeners=read_listeners(args.people) if args.people else None)
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
        model = load_taste(args.out)
        sources = evidence_sources(args.out)
        for person in imported.people:
            rep = person_report(model, person, result.samples[person], sources=sources)
            files = write(rep, args.report)
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
    try:
        model = load_taste(args.models)
    except (ManifestError, OSError) as exc:
        raise UserError(f"{args.models}: {exc}") from None
    sample: list[dict] = []
    if args.posts:
        report = ImportReport()
        tz = zone(args.timezone) if args.timezone else None
        posts = read_posts(args.posts, report, args.user, tz, args.include_reposts)
        threshold = BuildConfig(min_confidence=args.min_confidence).post_min_confidence()
        results = classify_each(posts, threshold)
        sample = sample_posts(posts, results, args.user, args.sample)
    rep = person_report(model, args.user, sample, sources=evidence_sources(args.models))
    print(to_json(rep) if args.json else text(rep))
    if args.out:
        files = write(rep, args.out)
        if not args.json:
            print(f"wrote {', '.join(map(str, files))}")
    return 0 if rep.known else NO_EVIDENCE_EXIT

def cmd_simulate(args: argparse.Namespace) -> int:
    corpus = "nlpcc" if args.posts_from == "nlpcc" else "smp"
    source = args.smp if corpus == "smp" else args.nlpcc
    if source is None:
        raise UserError(f"--posts-from {args.posts_from} needs --{corpus} PATH")
    sim = simulate(source, args.lastfm, args.users, args.posts_per_user, seed=args.seed,
                   mood_share=args.mood_share, posts_from=args.posts_from)  # fmt: skip
    write_simulation(sim, args.out)
    print(f"wrote {args.out}/posts.csv ({len(sim.posts)}), listens.csv ({len(sim.listens)}), "
          "truth.npz")  # fmt: skip
    return 0


def cmd_simulate_speaker(args: argparse.Namespace) -> int:
    confusion = _camera(args.camera)
    rng = np.random.default_rng(args.seed)
    users = tuple(f"sim{i:04d}" for i in range(args.users))
    sim = simulate_speaker(planted_tastes(args.users, rng), users, confusion,
                           args.listens_per_user, args.days, seed=args.seed + 1)  # fmt: skip
    write_speaker_simulation(sim, args.out)
    if args.old_journal:
        write_journal(sim.listens, args.out / "journal.sqlite3", old=True)
    print(f"wrote {args.out}/journal.sqlite3 ({len(sim.listens)} listens) and truth.npz "
          f"(camera: {'perfect' if confusion is None else 'validation confusion'})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    result = run_evaluation(
        args.dataset, args.data, args.folds, args.seed, args.context_rows, args.repeats
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = write_report(result, Path(args.json).with_suffix(""))
    print(markdown)
    return 0


def cmd_prior(args: argparse.Namespace) -> int:
    sources = read_sources(args.data)
    prior = fit_prior(sources, k=args.k)
    for rows in sources:
        print(f"{rows.source}: {len(rows.score)} rows, unmapped genres {rows.unmapped or 'none'}")
    print(table(prior))
    cv = cross_validate(sources, k=args.k)
    print("held-out MSE (5-fold, rows with a mood):", json.dumps(cv["mse"]))
    path = export(prior_artifact(prior), args.out)
    print(f"wrote {path} (population prior only) and the taste entry of {args.out}/manifest.json")
    if args.json:
        result = {**prior.details(), "cv": cv}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        plot(prior, Path(args.json).with_suffix(".png"))
        Path(args.json).with_suffix(".md").write_text(
            "# Population prior: value (rows with that mood and genre)\n\n" + table(prior)
            + "\nHeld-out MSE (5-fold over rows, rows with a mood): "
            + json.dumps(cv["mse"]) + "\n", encoding="utf-8")  # fmt: skip
    return 0

