"""``moodspeaker-train taste ...``: build, report, evaluate, simulate, mood, prior."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ranks(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ranks must be three integers, not {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"ranks must be three positive integers: {text!r}")
    return values  # type: ignore[return-value]


def cmd_build(args: argparse.Namespace) -> int:
    from .commands import run_build

    return run_build(args)


def cmd_simulate(args: argparse.Namespace) -> int:
    from device.shared.errors import UserError

    from .simulate import simulate, write_simulation

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


def cmd_mood(args: argparse.Namespace) -> int:
    from .mood.commands import run_mood

    return run_mood(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import run_evaluation
    from .report import write_report

    result = run_evaluation(
        args.dataset, args.data, args.folds, args.seed, args.context_rows, args.repeats
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = write_report(result, Path(args.json).with_suffix(""))
    print(markdown)
    return 0


def cmd_prior(args: argparse.Namespace) -> int:
    from .export import export
    from .prior import cross_validate, fit_prior, plot, prior_artifact, read_sources, table

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


def register(subparsers) -> None:
    from .commands import add_input_args, register_report

    area = subparsers.add_parser(
        "taste", help="mood-aware genre preferences from posts and listening"
    )
    sub = area.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="posts + listens -> DIR/taste.npz and manifest entry")
    b.add_argument("--posts", nargs="+", type=Path, metavar="INPUT",
                   help="file, folder, .zip or .tar.gz as downloaded")  # fmt: skip
    b.add_argument("--listens", nargs="+", type=Path, metavar="INPUT")
    b.add_argument("--user", metavar="NAME", help="every --posts/--listens input is NAME's")
    b.add_argument("--people", type=Path, metavar="TOML",
                   help="a household: each person's posts and listens inputs")  # fmt: skip
    b.add_argument("--out", type=Path, required=True, metavar="DIR")
    b.add_argument("--report", type=Path, metavar="DIR",
                   help="also write each person's report: DIR/NAME.png and .json")  # fmt: skip
    b.add_argument(
        "--tracks",
        type=Path,
        nargs="+",
        help="genres of streamed plays: track table CSV track_id,genre,duration_s, and/or "
        "the speaker's library.sqlite3",
    )
    b.add_argument("--prior", type=Path, metavar="DIR",
                   help="models folder whose prior to shrink to (default: shipped)")  # fmt: skip
    add_input_args(b)
    b.add_argument("--genre-aliases", type=Path, help="alias override TOML")
    b.add_argument("--window", type=float, default=30.0, help="equation 1 window, minutes")
    b.add_argument("--normalise", choices=("max", "saturate"), default="max")
    b.add_argument(
        "--no-relabel",
        action="store_true",
        help="take each post's classified mood as certain, from the classifier's own "
        "threshold (default: every post, its moods weighed per user by its probabilities "
        "and the genres played around it)",
    )
    b.add_argument("--ranks", type=_ranks, default=(6, 4, 7), help="Tucker ranks du,de,dg")
    b.add_argument("--l1", type=float, default=0.1, help="core regularisation")
    b.add_argument("--l2", type=float, default=0.1, help="factor regularisation")
    b.add_argument("--k0", type=float, default=10.0, help="evidence weight n / (n + k0)")
    b.add_argument("--threshold", type=float, default=0.3, help="similarity threshold s")
    b.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="post-mood confidence from which a post counts (default: every post, or the "
        "classifier's own threshold with --no-relabel; chosen on validation simulations)",
    )
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(handler=cmd_build)
    register_report(sub)

    e = sub.add_parser("evaluate", help="k-fold comparison against mood-blind baselines")
    e.add_argument("--dataset", choices=("comoda", "incarmusic", "simulated"), required=True)
    e.add_argument("--data", type=Path, required=True, metavar="PATH")
    e.add_argument("--folds", type=int, default=5, metavar="K")
    e.add_argument("--json", type=Path, required=True, metavar="OUT")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--repeats", type=int, default=1, metavar="R",
                   help="repeat the k folds with seeds SEED .. SEED+R-1 (default 1)")  # fmt: skip
    e.add_argument(
        "--context-rows",
        action="store_true",
        help="incarmusic: train on the rows without a mood too (scored: mood rows)",
    )
    e.set_defaults(handler=cmd_evaluate)

    s = sub.add_parser("simulate", help="semi-synthetic users with planted tastes")
    s.add_argument("--posts-from", choices=("nlpcc", "smp", "smp-eval"), default="nlpcc",
                   help="whose held-out posts users publish: NLPCC 2014's odd rows, "
                   "SMP2020-EWECT's test splits, or its eval splits (for choosing "
                   "settings)")  # fmt: skip
    s.add_argument("--nlpcc", type=Path, help="NLPCC 2014 CSV or directory")
    s.add_argument("--smp", type=Path, help="SMP2020-EWECT directory")
    s.add_argument("--lastfm", type=Path, required=True)
    s.add_argument("--users", type=int, default=200)
    s.add_argument("--posts-per-user", type=int, default=60)
    s.add_argument(
        "--mood-share",
        type=float,
        default=0.5,
        help="share of personal taste variance that depends on mood (0-1)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.set_defaults(handler=cmd_simulate)

    from .mood.commands import add_arguments as add_mood_arguments

    m = sub.add_parser("mood", help="post moods: classify, score on a corpus, evaluate, refit")
    add_mood_arguments(m)
    m.set_defaults(handler=cmd_mood)

    p = sub.add_parser("prior", help="population prior from public data -> DIR/taste.npz")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="the shared data folder (incarmusic/, emotify_sample/, mumr_field_study/)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--k", type=float, default=20.0, help="shrinkage pseudo-count (rows)")
    p.add_argument("--json", type=Path, help="also write the prior, evidence and CV here")
    p.set_defaults(handler=cmd_prior)  # fmt: skip
