"""One person's taste, for that person to check: a mood x genre heatmap shaded by the
evidence behind each cell, the genres that moved most from the prior, and a sample of their
posts with the mood read from each (text, JSON, PNG). Post text never enters taste.npz:
the sample comes from the posts given to ``build`` or ``report``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.genres import DISPLAY_NAMES
from device.shared.manifest import load_manifest
from device.shared.taste import TasteModel

EvidenceSources = tuple[np.ndarray, np.ndarray]  # (posts (U, E), speaker (U, E))


def evidence_sources(models_dir: Path) -> tuple[tuple[str, ...], EvidenceSources] | None:
    """Per person and mood, the evidence from posts and from the speaker, as the build
    recorded it in taste.npz (``evidence_posts``, ``evidence_speaker``); None for a model
    built before it did (call after ``load_taste``, which verified the file)."""
    spec = load_manifest(models_dir).taste
    if spec is None:
        return None
    with np.load(spec.path, allow_pickle=False) as npz:
        if "evidence_posts" not in npz.files or "evidence_speaker" not in npz.files:
            return None
        users = tuple(str(u) for u in npz["users"])
        return users, (npz["evidence_posts"], npz["evidence_speaker"])


@dataclass(frozen=True)
class PersonReport:
    person: str
    known: bool  # False: not in the taste file, so the prior answers for them
    moods: tuple[str, ...]
    genres: tuple[str, ...]
    preferences: list[list[float]]  # (E, G) 0-10
    prior: list[list[float]]
    evidence: list[list[float]]  # plays of that genre around posts in that mood
    mood_evidence: list[float]  # plays around posts in each mood: how sure each row is
    moved: list[dict]  # the cells furthest from the prior, with their evidence
    sample: list[dict]  # {"time", "text", "mood", "confidence"}
    # per mood: speaker listens (completions and early skips, spread over the moods the
    # camera may have mistaken) and plays around posts behind it; empty: not recorded
    speaker_evidence: list[float] = field(default_factory=list)
    post_evidence: list[float] = field(default_factory=list)

    @property
    def total_evidence(self) -> float:
        return float(np.sum(self.evidence))


def person_report(model: TasteModel, person: str, sample: list[dict] | None = None,
                  top: int = 6, sources: tuple[tuple[str, ...], EvidenceSources] | None = None
                  ) -> PersonReport:  # fmt: skip
    """``sources`` (``evidence_sources``): show per mood what came from posts and from
    the speaker."""
    known = model.knows(person)
    speaker: list[float] = []
    posts: list[float] = []
    if sources is not None:
        names, (by_posts, by_speaker) = sources
        if person in names:
            row = names.index(person)
            posts = np.round(by_posts[row], 1).tolist()
            speaker = np.round(by_speaker[row], 1).tolist()
        else:
            posts = speaker = [0.0] * len(model.moods)
    prefs = model.preferences[model.users.index(person)] if known else model.prior
    if known and model.evidence is not None:
        evidence = model.evidence[model.users.index(person)]
    else:
        evidence = np.zeros_like(model.prior)
    delta = prefs - model.prior
    order = np.argsort(-np.abs(delta), axis=None)[:top]
    moved = []
    for flat in order:
        e, g = np.unravel_index(flat, delta.shape)
        if abs(delta[e, g]) < 0.05:
            break
        moved.append({
            "mood": model.moods[e], "genre": model.genres[g],
            "prior": round(float(model.prior[e, g]), 2), "now": round(float(prefs[e, g]), 2),
            "change": round(float(delta[e, g]), 2),
            "plays_in_mood": round(float(evidence[e].sum()), 1),
        })  # fmt: skip
    return PersonReport(
        person, known, tuple(model.moods), tuple(model.genres),
        np.round(prefs, 2).tolist(), np.round(model.prior, 2).tolist(),
        np.round(evidence, 1).tolist(), np.round(evidence.sum(axis=1), 1).tolist(), moved,
        list(sample or []), speaker, posts,
    )  # fmt: skip


def text(report: PersonReport) -> str:
    if not report.known:
        head = f"{report.person}: not in the taste file; the speaker uses the prior for them"
    else:
        head = f"{report.person}: {report.total_evidence:.0f} plays of evidence"
        if report.speaker_evidence:
            head += (f" ({sum(report.speaker_evidence):.0f} speaker listens, "
                     f"{sum(report.post_evidence):.0f} plays around posts)")  # fmt: skip
    names = [DISPLAY_NAMES.get(g, g) for g in report.genres]
    lines = [head, "", f"{'':8s}" + "".join(f"{n[:11]:>12s}" for n in names) + "  plays"]
    rows = zip(report.moods, report.preferences, report.evidence, report.mood_evidence,
               strict=True)  # fmt: skip
    for mood, row, ev, total in rows:
        cells = "".join(f"{v:6.1f} ({e:3.0f})" for v, e in zip(row, ev, strict=True))
        lines.append(f"{mood:8s}{cells}  {total:5.0f}")
    lines.append("(preference 0-10; in brackets the plays of that genre in that mood: "
                 "speaker listens and plays around posts; a mood without plays is inferred)")
    if report.speaker_evidence:
        lines += ["", "where the evidence came from, per mood:"]
        for mood, sp, po in zip(report.moods, report.speaker_evidence, report.post_evidence,
                                strict=True):  # fmt: skip
            total = sp + po
            share = f"{100 * sp / total:3.0f} % speaker" if total > 0 else "  no evidence"
            lines.append(f"  {mood:8s} speaker {sp:6.1f}  posts {po:6.1f}  ({share})")
        lines.append("(speaker: listens heard to the end or skipped early, spread over the "
                     "moods the camera may have mistaken; posts: plays within the window of a "
                     "post in that mood)")  # fmt: skip
    if report.moved:
        lines += ["", "moved most from the prior:"]
        lines += [f"  {m['mood']} {DISPLAY_NAMES.get(m['genre'], m['genre'])}: {m['prior']} -> "
                  f"{m['now']} ({m['change']:+.1f}; {m['plays_in_mood']:g} plays in that mood)"
                  for m in report.moved]  # fmt: skip
    if report.sample:
        lines += ["", "posts and the mood read from each (is it right?):"]
        lines += [f"  {s['time']} {s['mood']:8s} {s['confidence']:.2f}  {_short(s['text'])}"
                  for s in report.sample]  # fmt: skip
    return "\n".join(lines)


def _short(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def write_png(report: PersonReport, path: Path) -> Path:
    """Mood x genre heatmap; moods with few plays around their posts fade toward white."""
    import matplotlib  # heavy (matplotlib, ~0.3 s): only the plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display

    values = np.asarray(report.preferences)
    evidence = np.asarray(report.evidence)
    rows = np.asarray(report.mood_evidence)[:, None] * np.ones_like(values)
    alpha = 0.2 + 0.8 * rows / (rows + 5.0)  # n / (n + 5): 5 plays around the mood = half
    rgba = plt.get_cmap("viridis")(values / 10.0)
    rgba[..., :3] = rgba[..., :3] * alpha[..., None] + (1 - alpha[..., None])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.imshow(rgba, aspect="auto")
    light = rgba[..., :3] @ np.array([0.299, 0.587, 0.114]) > 0.5
    for (e, g), v in np.ndenumerate(values):
        ax.text(g, e, f"{v:.1f}\n({evidence[e, g]:.0f})", ha="center", va="center", fontsize=8,
                color="black" if light[e, g] else "white")  # fmt: skip
    ax.set_xticks(range(len(report.genres)), [DISPLAY_NAMES.get(g, g) for g in report.genres])
    pairs = zip(report.moods, report.mood_evidence, strict=True)
    ax.set_yticks(range(len(report.moods)), [f"{m} ({n:.0f} plays)" for m, n in pairs])
    kind = "the prior, no evidence" if report.total_evidence < 0.5 else "faded: few plays"
    ax.set_title(f"{report.person}: preference 0-10 (plays); {kind}", fontsize=10)
    fig.colorbar(plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, 10)), ax=ax)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(report: PersonReport, out_dir: Path) -> list[Path]:
    """``out_dir/<person>.png`` and ``.json``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in report.person) or "person"
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        png = write_png(report, out_dir / f"{safe}.png")
        js = out_dir / f"{safe}.json"
        js.write_text(to_json(report) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write the report: {exc}") from None
    return [png, js]


def to_json(report: PersonReport) -> str:
    return json.dumps({**asdict(report), "total_evidence": report.total_evidence},
                      ensure_ascii=False, indent=1)  # fmt: skip
