import json
import sqlite3

from device.genres import GenreMapper
from trainer.taste.importers import read_listens, read_posts
from trainer.taste.records import ImportReport


def test_posts_csv_jsonl_and_bad_rows(tmp_path):
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text(
        "user,time,text\n"
        "ann,2024-05-01T10:00:00+02:00,好开心[哈哈]\n"
        "ann,1714550400,so happy today\n"
        "ann,yesterday,bad time\n"
        ",1714550400,no user\n"
    )
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text('{"user": "bo", "time": 1714550400, "text": "hi"}\n{oops\n')
    report = ImportReport()
    posts = read_posts([csv_file, jsonl], report)
    assert [p.user for p in posts] == ["ann", "ann", "bo"]
    assert posts[0].time == 1714550400.0  # 10:00+02:00 == 08:00Z
    assert any("posts.csv:4" in s for s in report.skipped)
    assert any("posts.csv:5" in s for s in report.skipped)
    assert any("posts.jsonl:2" in s for s in report.skipped)


def test_mastodon_and_tweets(tmp_path):
    outbox = tmp_path / "outbox.json"
    outbox.write_text(json.dumps({"orderedItems": [
        {"type": "Create",
         "object": {"published": "2024-05-01T10:00:00Z", "content": "<p>sad</p>"}},
        {"type": "Announce", "object": "https://x"},
    ]}))  # fmt: skip
    tweets = tmp_path / "tweets.js"
    tweets.write_text(
        'window.YTD.tweets.part0 = [{"tweet": {"created_at": '
        '"Wed May 01 10:00:00 +0000 2024", "full_text": "angry!"}}]'
    )
    report = ImportReport()
    posts = read_posts([outbox, tweets], report, user="me")
    assert [p.text for p in posts] == ["sad", "angry!"]
    assert posts[0].time == posts[1].time


def test_listens_csv_and_journal(tmp_path):
    f = tmp_path / "listens.csv"
    f.write_text(
        "user,track_id,genre,started_at,ended_at,duration_s\n"
        "ann,t1,Hip-Hop,100,200,180\n"
        "ann,t2,Vaporwave,100,200,180\n"
        "ann,t3,rock,300,200,180\n"
    )
    db = tmp_path / "journal.sqlite3"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE listens (event_id, user, track_id, path, genre, mood, "
        "mood_confidence, started_at, ended_at, position_s, duration_s, end_reason, "
        "synced)"
    )
    con.execute(
        "INSERT INTO listens VALUES ('e1','ann','t9','/x.mp3','classical','sad',0.9,"
        "1000.5,1100.5,100,200,'finished',0)"
    )
    con.execute(
        "INSERT INTO listens VALUES ('e2',NULL,'t9','/x.mp3','classical','sad',0.9,"
        "1000.5,1100.5,100,200,'finished',0)"
    )
    con.commit()
    con.close()
    report, mapper = ImportReport(), GenreMapper()
    listens = read_listens([f, db], report, mapper)
    got = [(x.track_id, x.genre) for x in listens]
    assert got == [("t1", "rap"), ("t2", None), ("t9", "classical")]
    assert mapper.unmapped["vaporwave"] == 1
    assert any("listens.csv:4" in s for s in report.skipped)
    assert any("rowid 2" in s for s in report.skipped)


def _library(tmp_path):
    from device.library.index import SCHEMA

    db = tmp_path / "library.sqlite3"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    con.execute(
        "INSERT INTO tracks (track_id, path, title, artist, genre_raw, genre, duration_s, "
        "mtime, size) VALUES ('a/b.mp3', '/m/a/b.mp3', 'Song', 'Band', 'Indie Rock', 'rock', "
        "200, 0, 1)"
    )
    con.commit()
    con.close()
    return db


def test_spotify_with_library_index(tmp_path):
    from trainer.taste.importers import read_track_table

    history = tmp_path / "Streaming_History_Audio_2024.json"
    history.write_text(json.dumps([
        {"ts": "2024-05-01T10:03:20Z", "ms_played": 100000, "username": "ann",
         "master_metadata_album_artist_name": "Band", "master_metadata_track_name": "Song",
         "spotify_track_uri": "spotify:track:1"},
        {"ts": "2024-05-01T11:00:00Z", "ms_played": 5000,
         "master_metadata_album_artist_name": "Nobody", "master_metadata_track_name": "X"},
        {"ms_played": 5},
    ]))  # fmt: skip
    report = ImportReport()
    tracks = read_track_table(_library(tmp_path))
    listens = read_listens([history], report, GenreMapper(), tracks)
    assert len(listens) == 1
    x = listens[0]
    assert (x.user, x.genre, x.duration_s) == ("ann", "rock", 200.0)
    assert x.ended_at - x.started_at == 100.0
    assert any("not in the track table" in s for s in report.skipped)
    assert any("[2]" in s for s in report.skipped)


def test_lastfm_scrobbles_with_and_without_header(tmp_path):
    table = tmp_path / "tracks.csv"
    table.write_text("track_id,genre,duration_s\nBand - Song,Hip-Hop,180\n")
    with_header = tmp_path / "lastfm_scrobbles.csv"
    with_header.write_text(
        "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
        "1714550400,01 May 2024 08:00,Band,,Album,,Song,\n"
        "1714550500,01 May 2024 08:01,Other,,Album,,Unknown,\n"
        "nope,bad,Band,,Album,,Song,\n"
    )
    bare = tmp_path / "scrobbles_bo.csv"
    bare.write_text("Band,Album,Song,01 May 2024 09:00\n")
    from trainer.taste.importers import read_track_table

    report = ImportReport()
    listens = read_listens([with_header, bare], report, GenreMapper(), read_track_table(table))
    assert [(x.user, x.genre, x.started_at) for x in listens] == [
        ("lastfm_scrobbles", "rap", 1714550400.0), ("scrobbles_bo", "rap", 1714554000.0),
    ]  # fmt: skip
    assert listens[0].ended_at - listens[0].started_at == 180.0
    assert any("lastfm_scrobbles.csv:3" in s for s in report.skipped)
    assert any("lastfm_scrobbles.csv:4" in s for s in report.skipped)


def test_spotify_needs_a_track_table(tmp_path):
    import pytest

    from device.errors import UserError

    history = tmp_path / "history.json"
    history.write_text("[]")
    with pytest.raises(UserError, match="--tracks"):
        read_listens([history], ImportReport(), GenreMapper())
