"""``moodspeaker-train taste ...``: build, report, evaluate, simulate, mood, prior: the
arguments (the handlers are in ``trainer.taste.commands`` and ``.mood.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SPLIT = {"nlpcc": "test", "smp": "usual_test", "nlpcc2018": "dev", "goemotions": "test"}
RESULTS = Path("bench/results/post_mood")


def _mood_arguments(m: argparse.ArgumentParser) -> None:
    """``taste mood``'s (the handler is ``trainer.taste.mood.commands.run_mood``)."""
    m.add_argument("text", nargs="*", help="posts to classify (one argument each)")
    m.add_argument("--posts", type=Path, metavar="FILE",
                   help="CSV/JSONL with a text column (and id), or a file taste build reads; "
                   "writes one JSON line per post to --json")  # fmt: skip
    m.add_argument("--nlpcc", type=Path, help="score on this NLPCC 2014 CSV or directory")
    m.add_argument(
        "--corpus",
        nargs=2,
        metavar=("NAME", "PATH"),
        help="score on a corpus: smp|nlpcc2018|goemotions|nlpcc and its directory",
    )
    m.add_argument("--split", default=None,
                   help=f"split to score (default: {DEFAULT_SPLIT}); NLPCC 2014: fit = even "
                   "rows, test = odd rows")  # fmt: skip
    m.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="confidence threshold for every language (default: the shipped ones)",
    )
    m.add_argument(
        "--curve",
        action="store_true",
        help="with --nlpcc/--corpus: precision / coverage / macro-F1 per threshold",
    )
    m.add_argument("--evaluate", type=Path, metavar="DATA",
                   help="score every corpus split under DATA (the shared data folder); write "
                   f"the tables to --out (default {RESULTS})")  # fmt: skip
    m.add_argument("--out", type=Path, default=RESULTS, metavar="DIR")
    m.add_argument(
        "--fit",
        type=Path,
        metavar="DATA",
        help="maintainers: refit the shipped models on the shared data folder",
    )
    m.add_argument("--json", type=Path, metavar="OUT")


def _ranks(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ranks must be three integers, not {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"ranks must be three positive integers: {text!r}")
    return values


def add_input_args(p: argparse.ArgumentParser) -> None:
    """Options shared by build and report for reading exports."""
    p.add_argument("--timezone", metavar="ZONE",
                   help="zone of the Weibo crawler's times (default Asia/Shanghai)")  # fmt: skip
    p.add_argument("--include-reposts", action="store_true",
                   help="keep reposts/retweets as the person's own posts (default: counted, "
                   "left out)")  # fmt: skip


def register_report(sub: argparse._SubParsersAction) -> None:
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
    r.set_defaults(handler="trainer.taste.commands:run_report")




def _path_or_url(text: str) -> Path | str:
    """A file or folder, or a store URL (kept as text: a Path would fold its ``//``)."""
    return text if "://" in text else Path(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    area = subparsers.add_parser(
        "taste", help="mood-aware genre preferences from posts and listening"
    )
    sub = area.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="posts + listens -> DIR/taste.npz and manifest entry")
    b.add_argument("--posts", nargs="+", type=Path, metavar="INPUT",
                   help="file, folder, .zip or .tar.gz as downloaded")  # fmt: skip
    b.add_argument("--listens", nargs="+", type=_path_or_url, metavar="INPUT",
                   help="exports, journals, the ingest store (a path, or a postgresql:// URL)")
    b.add_argument("--db", type=_path_or_url, metavar="PATH|URL",
                   help="the ingest store (an SQLite file, or postgresql://USER@HOST:PORT/DB),"
                        " read in chunks straight into columns")  # fmt: skip
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
    b.add_argument("--camera", type=Path, metavar="DIR",
                   help="models folder whose FER manifest gives the camera's mood confusion "
                   "for speaker listens (default: shipped; none in it: moods seen taken as "
                   "certain)")  # fmt: skip
    b.add_argument("--speaker-weight", type=float, default=None,
                   help="one speaker listen against one play around a post (default 1)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(handler="trainer.taste.commands:run_build")
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
    e.set_defaults(handler="trainer.taste.commands:cmd_evaluate")

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
    s.set_defaults(handler="trainer.taste.commands:cmd_simulate")

    k = sub.add_parser("simulate-speaker",
                       help="a month of speaker use by people with planted tastes")
    k.add_argument("--users", type=int, default=60)
    k.add_argument("--listens-per-user", type=int, default=330)
    k.add_argument("--days", type=float, default=30.0)
    k.add_argument("--camera", type=Path, metavar="DIR",
                   help="models folder whose FER mood_confusion draws the camera's moods "
                   "(default: shipped)")  # fmt: skip
    k.add_argument("--old-journal", action="store_true",
                   help="write the journal without the later columns (ended_by, ...)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--out", type=Path, required=True, metavar="DIR")
    k.set_defaults(handler="trainer.taste.commands:cmd_simulate_speaker")

    m = sub.add_parser("mood", help="post moods: classify, score on a corpus, evaluate, refit")
    _mood_arguments(m)
    m.set_defaults(handler="trainer.taste.mood.commands:run_mood")

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
    p.set_defaults(handler="trainer.taste.commands:cmd_prior")  # fmt: skip
