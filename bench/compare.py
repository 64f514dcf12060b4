"""The same benchmark on another commit and on this tree, one after the other, side by side.

    python -m bench.compare --base HEAD~1                        # speaker_load and mqtt, short
    python -m bench.compare --base 750bc1f --bench mqtt
    python -m bench.compare --base v1 --bench speaker_load --full -- --seconds 60
    python -m bench.compare --base HEAD~1 --out bench/results/compare.txt
    python -m bench.compare --base 750bc1f --head HEAD     # two commits, neither this tree

A temporary ``git worktree`` of ``--base`` is made next to a link to ``../shared`` (the
benches find the shared data beside the checkout), the benchmark runs there the way that
tree runs it (``python -m bench.NAME`` when its bench/ is a package, else
``python bench/FILE.py``; ``PYTHONPATH`` set to that tree; ``speaker_load`` was
``bench/device.py`` before it was renamed), then here as ``python -m bench.NAME``, both
with this interpreter and their own working directory. ``--head REV`` runs a worktree of
REV instead of this tree (uncommitted changes left out). The worktrees are removed afterwards.

The figures each script prints are parsed and shown side by side with the change; when a
side prints none of them (another format), both outputs are shown, labelled. Unless
``--full``, each bench gets its short-run options (a 20 s speaker run, 100 MQTT commands);
arguments after ``--`` are added to every run of every bench named.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Options that keep each run within a minute or two (see each script's argparse).
SHORT_ARGS = {
    "speaker_load": ["--seconds", "20", "--scan-files", "500", "--tracks", "20000"],
    "mqtt": ["--commands", "100", "--backlog", "2000", "--ingest-rows", "8000",
             "--repeats", "1"],
}
#: Earlier file names of a bench (bench/device.py shadowed the device package).
FORMER_NAMES = {"speaker_load": ["device"]}

_NUM = r"([\d,]+(?:\.\d+)?)"
#: Per bench: (figure, unit, pattern whose groups are the values, one name per group).
FIGURES: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "speaker_load": [
        (rf"run \(.*?wall {_NUM} s .*?CPU {_NUM} s = {_NUM}% of one core, peak RSS {_NUM} MB",
         [("run: wall", "s"), ("run: CPU time", "s"), ("run: CPU", "% of one core"),
          ("run: peak RSS", "MB")]),
        (rf"scan: .*?full scan {_NUM} s = {_NUM} files/s; rescan {_NUM} s = {_NUM} files/s",
         [("scan: full", "s"), ("scan: full", "files/s"), ("scan: rescan", "s"),
          ("scan: rescan", "files/s")]),
        (rf"pick: .*?median {_NUM} ms, p99 {_NUM} ms, max {_NUM} ms",
         [("pick: median", "ms"), ("pick: p99", "ms"), ("pick: max", "ms")]),
    ],
    "mqtt": [
        (rf"command -> result, .*?{_NUM} / {_NUM} / {_NUM} ms",
         [("command -> result p50", "ms"), ("command -> result p95", "ms"),
          ("command -> result max", "ms")]),
        (rf"sync into the store, .*?\s{_NUM} listens/s", [("sync into the store", "listens/s")]),
        (rf"backlog drain\s+{_NUM} s", [("backlog drain", "s")]),
        (rf"ingest, 1 worker .*?\s{_NUM} listens/s", [("ingest, 1 worker", "listens/s")]),
        (rf"ingest, 2 workers .*?\s{_NUM} listens/s", [("ingest, 2 workers", "listens/s")]),
    ],
}


def parse_figures(bench: str, text: str) -> dict[str, tuple[float, str]]:
    """``{figure: (value, unit)}`` in the order the script prints them."""
    out: dict[str, tuple[float, str]] = {}
    for pattern, names in FIGURES.get(bench, []):
        m = re.search(pattern, text)
        if not m:
            continue
        for (name, unit), value in zip(names, m.groups(), strict=True):
            out[f"{name} ({unit})"] = (float(value.replace(",", "")), unit)
    return out


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[tuple[Path, str]]:
    """A detached worktree of ``rev`` beside a link to ../shared; ``(path, full sha)``."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    holder = Path(tempfile.mkdtemp(prefix="moodspeaker-compare-"))
    tree = holder / REPO.name
    shared = REPO.parent / "shared"
    if shared.exists():
        (holder / "shared").symlink_to(shared)
    try:
        git("worktree", "add", "--detach", "--quiet", str(tree), sha)
        yield tree, sha
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            git("worktree", "remove", "--force", str(tree))
        git("worktree", "prune")
        shutil.rmtree(holder, ignore_errors=True)


def label(rev: str, sha: str) -> str:
    return sha[:7] if sha.startswith(rev) else f"{rev} = {sha[:7]}"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout


def command_in(tree: Path, bench: str) -> tuple[list[str], dict[str, str]] | None:
    """How ``tree`` runs ``bench``: (argv, extra environment), or None if it has no such."""
    env = {} if tree == REPO else {"PYTHONPATH": str(tree)}
    if (tree / "bench" / "__init__.py").exists() and (tree / "bench" / f"{bench}.py").exists():
        return [sys.executable, "-m", f"bench.{bench}"], env
    for name in [bench, *FORMER_NAMES.get(bench, [])]:
        if (tree / "bench" / f"{name}.py").exists():
            return [sys.executable, f"bench/{name}.py"], env
    return None


def run(tree: Path, bench: str, args: list[str], timeout: float) -> tuple[str, str, float]:
    """(the command as shown, its stdout + stderr, wall seconds)."""
    found = command_in(tree, bench)
    if found is None:
        return "(none)", f"no bench/{bench}.py in {tree}", 0.0
    argv, env_extra = found
    env = {**os.environ, **env_extra}
    shown = " ".join([*(f"{k}={v}" for k, v in env_extra.items()), "python", *argv[1:], *args])
    t0 = time.monotonic()
    try:
        proc = subprocess.run([*argv, *args], cwd=tree, env=env, capture_output=True,
                              text=True, timeout=timeout)
        text = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.stderr.strip() else "")
        if proc.returncode != 0:
            text += f"\n[exit status {proc.returncode}]"
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        text = (out or "") + f"\n[stopped after {timeout:.0f} s]"
    return shown, text.strip(), time.monotonic() - t0


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def side_by_side(base_label: str, here_label: str, base: dict, here: dict) -> list[str]:
    names = list(base) + [k for k in here if k not in base]
    rows = [("figure", base_label, here_label, "change")]
    for name in names:
        b = base.get(name, (None, ""))[0]
        h = here.get(name, (None, ""))[0]
        change = f"{100 * (h - b) / b:+.1f} %" if b and h is not None else ""
        rows.append((name, fmt(b), fmt(h), change))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join([rows[0][0].ljust(widths[0])]
                       + [c.rjust(w) for c, w in zip(rows[0][1:], widths[1:], strict=True)])]
    lines.append("-" * len(lines[0]))
    for r in rows[1:]:
        lines.append("  ".join([r[0].ljust(widths[0])]
                               + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]))
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 usage="python -m bench.compare --base REV [--bench NAME...]"
                                       " [--full] [--out FILE] [-- extra args]")
    ap.add_argument("--base", required=True, help="the commit to compare with (any git rev)")
    ap.add_argument("--head", help="run a worktree of this rev instead of this tree")
    ap.add_argument("--bench", nargs="+", default=["speaker_load", "mqtt"],
                    help="bench/NAME.py to run (default: speaker_load mqtt)")
    ap.add_argument("--full", action="store_true",
                    help="no short-run options: each bench's own defaults")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument("--raw", action="store_true", help="also print both outputs in full")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)

    report: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        report.append(line)

    with contextlib.ExitStack() as stack:
        tree, sha = stack.enter_context(worktree(args.base))
        base_label = f"base {label(args.base, sha)}"
        if args.head:
            here, head_sha = stack.enter_context(worktree(args.head))
            here_label = f"head {label(args.head, head_sha)}"
        else:
            here = REPO
            dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
            head = git("rev-parse", "--short", "HEAD").strip()
            here_label = f"here {head}{' + uncommitted changes' if dirty else ''}"
        say(f"bench.compare: {', '.join(args.bench)}; {base_label} vs {here_label}")
        say(f"  python {sys.version.split()[0]} ({sys.executable}); {os.cpu_count()} CPUs")
        for bench in args.bench:
            bench_args = ([] if args.full else SHORT_ARGS.get(bench, [])) + extra
            say()
            say(f"== {bench}")
            outputs = {}
            for side, where in ((base_label, tree), (here_label, here)):
                shown, text, wall = run(where, bench, bench_args, args.timeout)
                say(f"  {side}: {shown}  ({wall:.0f} s)")
                outputs[side] = text
            base_fig = parse_figures(bench, outputs[base_label])
            here_fig = parse_figures(bench, outputs[here_label])
            say()
            if base_fig and here_fig:
                for line in side_by_side(base_label, here_label, base_fig, here_fig):
                    say(line)
            if args.raw or not (base_fig and here_fig) or set(base_fig) != set(here_fig):
                for side, text in outputs.items():
                    say()
                    say(f"--- {bench}, {side}: output")
                    for line in text.splitlines():
                        say(f"    {line}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
