"""``taste build`` as a person uses it: their exports as downloaded in, their taste model
out; a household file; and every way posts and listens can fail to meet (listens only,
posts only, nobody in common), which must give the prior with zero evidence, say so, and
exit 3 - never a traceback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from device.shared.taste import load_taste
from tests.test_taste_imports import (
    ANGRY,
    HAPPY,
    SAD,
    spotify_extended,
    weibo_csv,
    write_library,
    write_mastodon_tar,
    write_spotify_zip,
)
from trainer.cli import main

UTC = timezone.utc
MOOD_TRACKS = {  # what ann plays after each kind of post
    HAPPY: [("Sunny Band", "Good Day"), ("Beyonce", "Halo Live")],
    SAD: [("Quiet Strings", "Nocturne No. 2")],
    ANGRY: [("Loud Amps", "Smash")],
}


def ann_exports(tmp_path, start=datetime(2024, 3, 1, tzinfo=UTC), days=12):
    """Ann's Mastodon archive and Spotify export: three posts a day, plays after each."""
    posts, plays = [], []
    for d in range(days):
        for hour, text in ((8, HAPPY), (14, SAD), (20, ANGRY)):
            t = start + timedelta(days=d, hours=hour)
            posts.append((t, text))
            for k in range(3):
                artist, title = MOOD_TRACKS[text][k % len(MOOD_TRACKS[text])]
                plays.append((t + timedelta(minutes=4 * k + 3), artist, title, 170_000))
    mastodon = write_mastodon_tar(tmp_path / "archive-20240315093012-8b1f2c.tar.gz", posts, 3)
    spotify = write_spotify_zip(tmp_path / "my_spotify_data.zip", spotify_extended(plays))
    return mastodon, spotify


def run(capsys, *argv) -> tuple[int, str]:
    code = main(["taste", *map(str, argv)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out + out.err


def test_one_persons_mastodon_and_spotify_give_their_taste(tmp_path, capsys):
    mastodon, spotify = ann_exports(tmp_path)
    library = write_library(tmp_path / "library.sqlite3")
    out = tmp_path / "models"
    report = tmp_path / "report"
    code, text = run(capsys, "build", "--user", "ann", "--posts", mastodon, "--listens",
                     spotify, "--tracks", library, "--out", out, "--report", report)  # fmt: skip
    assert code == 0, text
    assert text.index("import:") < text.index("overlap") < text.index("wrote")
    assert "3 reposts/boosts left out" in text and "Mastodon outbox" in text
    assert "ann: 36 of 36 posts have a listen within 30 minutes" in text
    model = load_taste(out)
    assert model.users == ("ann",)
    ev = model.evidence[0]
    for mood in ("happy", "sad", "angry"):
        assert ev[model.moods.index(mood)].sum() > 0, mood
    genres = list(model.genres)
    happy, sad = model.preferences[0, 0], model.preferences[0, 1]
    assert happy[genres.index("pop")] > happy[genres.index("classical")]
    assert sad[genres.index("classical")] > sad[genres.index("pop")]
    assert model.track_index is not None and "pop/sunny.mp3" in model.track_index.tracks
    raw = (out / "taste.npz").read_bytes()
    with np.load(out / "taste.npz") as npz:  # the taste file holds no post text
        strings = " ".join(str(v) for k in npz.files if npz[k].dtype.kind == "U" for v in npz[k])
    assert "开心" not in strings and "开心".encode() not in raw
    assert (tmp_path / "report" / "ann.png").stat().st_size > 1000
    assert "开心" in (tmp_path / "report" / "ann.json").read_text(encoding="utf-8")


def test_household_people_file(tmp_path, capsys):
    mastodon, spotify = ann_exports(tmp_path)
    library = write_library(tmp_path / "library.sqlite3")
    bo = tmp_path / "bo"
    bo.mkdir()
    t = datetime(2024, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    (bo / "1669879400.csv").write_text(weibo_csv([("2024-03-02 09:00:00", SAD, True)]),
                                       encoding="utf-8")  # fmt: skip
    (bo / "bo.csv").write_text(  # Last.fm, the tool's default name <username>.csv
        "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
        f"{int(t.timestamp()) + 300},x,Quiet Strings,,A,,Nocturne No 2,\n")  # fmt: skip
    (tmp_path / "cy.csv").write_text("Loud Amps,Album,Smash,01 May 2024 10:00\n")  # no posts
    people = tmp_path / "people.toml"
    people.write_text(f'[ann]\nposts = "{mastodon.name}"\nlistens = ["{spotify.name}"]\n\n'
                      '[bo]\nposts = ["bo/1669879400.csv"]\nlistens = "bo"\n\n'
                      '[cy]\nlistens = "cy.csv"\n')  # fmt: skip
    out = tmp_path / "models"
    code, text = run(capsys, "build", "--people", people, "--tracks", library, "--out", out)
    assert code == 3, text  # cy has listens only: the prior, and the exit code says so
    assert "bo: 1 of 1 posts have a listen within 30 minutes" in text
    assert "cy: 1 listens (2024-05 to 2024-05) but no posts" in text
    assert "no evidence, the prior only: cy" in text
    model = load_taste(out)
    assert model.users == ("ann", "bo", "cy")
    assert model.evidence[1, model.moods.index("sad")].sum() > 0
    np.testing.assert_allclose(model.preferences[2], model.prior)
    assert model.track_scores("cy", "happy", ["rock/smash.mp3"])  # cy's plays still count
    bad = tmp_path / "bad.toml"
    bad.write_text('[ann]\npost = "x"\n')
    code, text = run(capsys, "build", "--people", bad, "--out", out)
    assert code == 2 and "unknown key(s) post" in text


def test_no_overlap_cases_give_the_prior_and_exit_3(tmp_path, capsys):
    mastodon, _ = ann_exports(tmp_path, datetime(2023, 12, 1, tzinfo=UTC), days=100)
    (tmp_path / "old").mkdir()
    _, old_spotify = ann_exports(tmp_path / "old", datetime(2021, 1, 1, tzinfo=UTC), days=1)
    library = write_library(tmp_path / "library.sqlite3")
    out = tmp_path / "models"
    # posts 2023-12 .. 2024-03, listens 2021-01: they never meet
    code, text = run(capsys, "build", "--user", "ann", "--posts", mastodon, "--listens",
                     old_spotify, "--tracks", library, "--out", out)  # fmt: skip
    assert code == 3, text
    assert ("ann: posts span 2023-12 to 2024-03, listens 2021-01 to 2021-01: no post has a "
            "listen within 30 minutes") in text  # fmt: skip
    assert "no evidence, the prior only: ann" in text
    model = load_taste(out)
    assert model.knows("ann") and model.evidence.sum() == 0
    np.testing.assert_allclose(model.preferences[0], model.prior)

    # posts only, listens only, and nobody in common (ann's posts, bo's listens)
    people = tmp_path / "people.toml"
    people.write_text(f'[ann]\nposts = "{mastodon}"\n\n[bo]\nlistens = "{old_spotify}"\n')
    code, text = run(capsys, "build", "--people", people, "--tracks", library, "--out", out)
    assert code == 3, text
    assert "ann: 300 posts (2023-12 to 2024-03) but no listens: the prior" in text
    assert "bo: 9 listens (2021-01 to 2021-01) but no posts: the prior" in text
    assert "no evidence, the prior only: ann, bo" in text
    model = load_taste(out)
    assert model.users == ("ann", "bo") and model.evidence.sum() == 0
    np.testing.assert_allclose(model.preferences, np.broadcast_to(model.prior, (2, 4, 7)))


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to read"),
    (["--posts", "missing.tar.gz", "--user", "a"], "posts file not found"),
    (["--user", " ", "--posts", "x"], "--user: give a name"),
])  # fmt: skip
def test_build_input_errors_are_one_line(tmp_path, capsys, argv, message):
    code, text = run(capsys, "build", "--out", tmp_path / "m", *argv)
    assert code == 2 and message in text


def test_a_big_build_lists_only_the_people_without_evidence():
    from trainer.taste.build import Overlap, overlap_lines

    span = (1.7e9, 1.7e9 + 86400)
    found = [Overlap(f"u{i:02d}", 10, 8, 30, 9, 7 if i >= 3 else 0, span, span)
             for i in range(25)]  # fmt: skip
    lines = overlap_lines(found, 30)
    assert lines[0] == ("25 people: 22 have posts with a clear mood and a listen within 30 "
                        "minutes, 3 do not")  # fmt: skip
    assert [line.split(":")[0] for line in lines[1:]] == ["u00", "u01", "u02"]
    assert "none" not in lines[1] and lines[1].endswith("the prior, zero evidence")
