"""Every reader, on fixtures written here in each service's real export layout (no real
personal data): Mastodon outbox in a .tar.gz, X tweets.js, Spotify Extended and Account
Data in a .zip, Last.fm CSVs with and without a header, the Weibo crawler CSV."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from device.shared.errors import UserError
from device.shared.genres import GENRES, GenreMapper
from trainer.taste.importers import Input, match_key, read_inputs, read_track_table
from trainer.taste.records import ImportReport

UTC = timezone.utc
HAPPY, SAD, ANGRY = "今天好开心[哈哈]", "伤心，难过，想哭[泪][泪]", "真是气死了，愤怒，恼火[怒]"
# (artist, title, library track id, raw genre tag, length s)
TRACKS = [
    ("Sunny Band", "Good Day", "pop/sunny.mp3", "Dance Pop", 200.0),
    ("Beyoncé", "Halo, Live", "pop/halo.mp3", "R&B", 240.0),
    ("Quiet Strings", "Nocturne No. 2", "classical/nocturne.flac", "Classical", 300.0),
    ("Loud Amps", "Smash", "rock/smash.mp3", "Hard Rock", 180.0),
]


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- writers, in each service's layout ------------------------------------------------


def mastodon_outbox(posts: list[tuple[datetime, str]], boosts: int = 0) -> dict:
    items = [{
        "id": f"https://social.example/users/ann/statuses/{i}/activity", "type": "Create",
        "actor": "https://social.example/users/ann", "published": iso(t),
        "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [],
        "object": {"id": f"https://social.example/users/ann/statuses/{i}", "type": "Note",
                   "summary": None, "inReplyTo": None, "published": iso(t),
                   "url": f"https://social.example/@ann/{i}", "sensitive": False,
                   "content": f"<p>{text}</p>", "contentMap": {"zh": f"<p>{text}</p>"},
                   "attachment": [], "tag": []},
    } for i, (t, text) in enumerate(posts)]  # fmt: skip
    items += [{
        "id": f"https://social.example/users/ann/statuses/b{i}/activity", "type": "Announce",
        "actor": "https://social.example/users/ann", "published": "2024-01-02T00:00:00Z",
        "object": f"https://other.example/users/bob/statuses/{i}",
    } for i in range(boosts)]  # fmt: skip
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": "outbox.json",
            "type": "OrderedCollection", "totalItems": len(items), "orderedItems": items}


def write_mastodon_tar(path: Path, posts, boosts: int = 0) -> Path:
    files = {
        "outbox.json": json.dumps(mastodon_outbox(posts, boosts), ensure_ascii=False),
        "actor.json": json.dumps({"type": "Person", "preferredUsername": "ann"}),
        "likes.json": json.dumps(
            {"type": "OrderedCollection", "orderedItems": ["https://other.example/s/9"]}
        ),
        "bookmarks.json": json.dumps({"type": "OrderedCollection", "orderedItems": []}),
    }
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        img = b"\xff\xd8\xff\xe0" + bytes(2000)
        info = tarfile.TarInfo("media_attachments/files/109/original/a.jpg")
        info.size = len(img)
        tf.addfile(info, io.BytesIO(img))
    return path


def tweets_js(tweets: list[tuple[datetime, str]], part: str = "tweets.part0") -> str:
    rows = [{"tweet": {
        "edit_info": {"initial": {"editTweetIds": [str(1000 + i)]}}, "retweeted": False,
        "source": "<a href=\"https://mobile.twitter.com\">Twitter Web App</a>",
        "entities": {"hashtags": [], "user_mentions": []}, "display_text_range": ["0", "40"],
        "favorite_count": "0", "id_str": str(1000 + i), "truncated": False, "retweet_count": "0",
        "id": str(1000 + i), "created_at": t.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "favorited": False, "full_text": text, "lang": "en",
    }} for i, (t, text) in enumerate(tweets)]  # fmt: skip
    return f"window.YTD.{part} = " + json.dumps(rows, indent=2, ensure_ascii=False)


def spotify_extended(plays: list[tuple[datetime, str, str, int]], username: bool = False):
    """(ended at, artist, title, ms played) -> Streaming_History_Audio_*.json entries."""
    rows = []
    for t, artist, title, ms in plays:
        row = {"ts": iso(t), "platform": "android", "ms_played": ms, "conn_country": "DE",
               "ip_addr": "192.0.2.1", "master_metadata_track_name": title,
               "master_metadata_album_artist_name": artist,
               "master_metadata_album_album_name": "Album",
               "spotify_track_uri": f"spotify:track:{abs(hash(title)) % 10**8}",
               "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
               "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": False,
               "skipped": False, "offline": False, "offline_timestamp": None,
               "incognito_mode": False}  # fmt: skip
        if username:
            row["username"] = "spotifyuser123"
        rows.append(row)
    return rows


def podcast_entry(t: datetime) -> dict:
    return {"ts": iso(t), "platform": "ios", "ms_played": 600000,
            "master_metadata_track_name": None, "master_metadata_album_artist_name": None,
            "master_metadata_album_album_name": None, "spotify_track_uri": None,
            "episode_name": "Episode 1", "episode_show_name": "A Show",
            "spotify_episode_uri": "spotify:episode:1"}  # fmt: skip


def spotify_account(plays: list[tuple[datetime, str, str, int]]) -> list[dict]:
    return [{"endTime": t.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), "artistName": a,
             "trackName": title, "msPlayed": ms} for t, a, title, ms in plays]  # fmt: skip


def write_spotify_zip(path: Path, extended=None, account=None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if extended is not None:
            zf.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2024.json",
                        json.dumps(extended))  # fmt: skip
            zf.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory"
                        ".pdf", b"%PDF-1.4 not a real pdf")  # fmt: skip
        if account is not None:
            zf.writestr("Spotify Account Data/StreamingHistory_music_0.json", json.dumps(account))
            zf.writestr("Spotify Account Data/StreamingHistory_podcast_0.json", json.dumps([
                {"endTime": "2024-01-01 10:00", "podcastName": "Show", "episodeName": "E",
                 "msPlayed": 1000}]))  # fmt: skip
            zf.writestr("Spotify Account Data/Userdata.json", json.dumps({"username": "x"}))
    return path


def write_library(path: Path) -> Path:
    from device.music.library.index import SCHEMA

    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    for artist, title, track_id, genre, length in TRACKS:
        con.execute(
            "INSERT INTO tracks (track_id, path, title, artist, genre_raw, genre, duration_s, "
            "mtime, size) VALUES (?, ?, ?, ?, ?, NULL, ?, 0, 1)",
            (track_id, f"/music/{track_id}", title, artist, genre, length),
        )
    con.commit()
    con.close()
    return path


WEIBO_HEADER = ("id,bid,正文,头条文章url,原始图片url,视频url,位置,日期,工具,点赞数,评论数,转发数,"
                "话题,@用户,完整日期,是否原创,源用户id,源用户昵称,源微博id,源微博正文")  # fmt: skip


def weibo_csv(rows: list[tuple[str, str, bool]]) -> str:
    """(Beijing time 'YYYY-mm-dd HH:MM:SS', text, original)."""
    lines = [WEIBO_HEADER]
    for i, (stamp, text, original) in enumerate(rows):
        src = ",,,," if original else ',1234,某人,999,"别人的微博，很开心[哈哈]"'
        lines.append(f'{4900000000 + i},Nx{i},"{text}",,,,,{stamp[:10]},iPhone客户端,3,1,0,,,'
                     f'{stamp},{original}{src}')  # fmt: skip
    return "\ufeff" + "\n".join(lines) + "\n"


def reader(inputs, catalog=None, **kw):
    return read_inputs(inputs, GenreMapper(), catalog, **kw)


# ---- tests ------------------------------------------------------------------------------


def test_mastodon_tar_gz_and_its_unpacked_folder(tmp_path):
    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    posts = [(t0, HAPPY), (t0 + timedelta(hours=1), "fish &amp; chips &lt;3<br>yes"),
             (t0 + timedelta(hours=2), "")]  # fmt: skip
    archive = write_mastodon_tar(tmp_path / "archive-20240315093012-8b1f2c.tar.gz", posts, 2)
    got = reader([Input(archive, "posts", "ann")])
    assert [p.text for p in got.posts] == [HAPPY, "fish & chips <3\nyes"]
    assert {p.user for p in got.posts} == {"ann"} and got.people == ("ann",)
    assert got.posts[0].time == t0.timestamp()
    (src,) = got.report.sources
    assert src.reposts == 2 and src.reasons["no text"] == 1 and src.read["ann"] == 2
    assert got.report.ignored[str(archive)] == 4  # actor, likes, bookmarks, the image
    summary = got.report.summary()
    assert "2 reposts/boosts left out" in summary and "2024-03-01 to 2024-03-01" in summary
    # the same archive unpacked, renamed: found by content; both given: counted once
    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tf:
        tf.extractall(folder, filter="data")
    (folder / "outbox.json").rename(folder / "my statuses.json")
    both = reader([Input(archive, "posts", "ann"), Input(folder, "posts", "ann")])
    assert len(both.posts) == 2 and both.report.duplicates["posts"] == 2


def test_archive_formats_need_a_person(tmp_path):
    archive = write_mastodon_tar(tmp_path / "a.tar.gz", [(datetime(2024, 1, 1), HAPPY)])
    with pytest.raises(UserError, match="does not say whose it is: give --user"):
        reader([Input(archive, "posts", None)])


def test_x_archive_tweets_parts_retweets_and_entities(tmp_path):
    t0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    folder = tmp_path / "twitter-2024-05-02-abc" / "data"
    folder.mkdir(parents=True)
    (folder / "tweets.js").write_text(tweets_js([
        (t0, "bread &amp; butter &gt; toast"), (t0, "RT @bob: great news &amp; more"),
    ]))  # fmt: skip
    (folder / "tweets-part1.js").write_text(tweets_js([(t0 + timedelta(days=1), SAD)],
                                                       "tweets.part1"))  # fmt: skip
    (folder / "account.js").write_text('window.YTD.account.part0 = [{"account": {}}]')
    (folder / "tweet-headers.js").write_text("window.YTD.tweet_headers.part0 = []")
    old = tmp_path / "old" / "tweet.js"  # older archives: tweet.js, window.YTD.tweet.part0
    old.parent.mkdir()
    old.write_text(tweets_js([(t0 + timedelta(days=2), ANGRY)], "tweet.part0"))
    got = reader([Input(folder.parent, "posts", "me"), Input(old, "posts", "me")])
    texts = [p.text for p in sorted(got.posts, key=lambda p: p.time)]
    assert texts == ["bread & butter > toast", SAD, ANGRY]
    assert min(p.time for p in got.posts) == t0.timestamp()
    assert sum(s.reposts for s in got.report.sources) == 1
    kept = reader([Input(folder.parent, "posts", "me")], include_reposts=True)
    assert "RT @bob: great news & more" in [p.text for p in kept.posts]
    assert "kept (--include-reposts)" in kept.report.summary()


def test_weibo_crawler_csv_beijing_time_reposts_and_timezone(tmp_path):
    from trainer.taste.importers.times import zone

    f = tmp_path / "1669879400.csv"
    f.write_text(weibo_csv([("2024-03-15 09:30:12", SAD, True),
                            ("2024-03-15 10:00:00", "转发微博", False),
                            ("not a date", HAPPY, True), ("2024-03-16", HAPPY, True)]),
               encoding="utf-8")  # fmt: skip
    got = reader([Input(f, "posts", "bo")])
    assert [p.text for p in got.posts] == [SAD]
    # 09:30:12 in Beijing (UTC+8) is 01:30:12 UTC
    assert got.posts[0].time == datetime(2024, 3, 15, 1, 30, 12, tzinfo=UTC).timestamp()
    (src,) = got.report.sources
    assert src.kind == "Weibo crawler CSV" and src.reposts == 1 and src.reasons["bad time"] == 1
    assert src.reasons["no time of day"] == 1
    assert any(f"{f}:4" in s for s in got.report.skipped)
    utc = reader([Input(f, "posts", "bo")], timezone=zone("UTC"))
    assert utc.posts[0].time - got.posts[0].time == 8 * 3600
    with pytest.raises(UserError, match="not a time zone"):
        zone("Mars/Olympus")


def test_spotify_zip_extended_and_account_data_with_library_index(tmp_path):
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    ext = [*spotify_extended([(t0, "Sunny Band", "Good Day", 100_000),
                              (t0 + timedelta(minutes=5), "BEYONCE", "Halo Live", 240_000),
                              (t0 + timedelta(minutes=9), "Nobody", "Unknown Song", 5_000),
                              (t0 + timedelta(minutes=12), "Nobody", "Unknown Song", 5_000)],
                             username=True), podcast_entry(t0)]  # fmt: skip
    acc = spotify_account([(t0 + timedelta(days=1), "Loud Amps", "Smash", 90_000)])
    export = write_spotify_zip(tmp_path / "my_spotify_data.zip", ext, acc)
    catalog = read_track_table(write_library(tmp_path / "library.sqlite3"))
    got = reader([Input(export, "listens", "ann")], catalog)
    assert [(x.track_id, x.genre, x.user) for x in got.listens] == [
        ("pop/sunny.mp3", "pop", "ann"), ("pop/halo.mp3", "pop", "ann"),
        ("rock/smash.mp3", "rock", "ann")]  # fmt: skip
    first = got.listens[0]
    assert first.ended_at == t0.timestamp() and first.ended_at - first.started_at == 100.0
    assert first.duration_s == 200.0  # the library's length, not the time played
    smash = got.listens[2]  # Account Data: endTime is UTC, to the minute
    assert smash.ended_at == (t0 + timedelta(days=1)).timestamp()
    assert got.report.unmatched == {"Nobody - Unknown Song": 2} and got.report.matched == 3
    summary = got.report.summary()
    assert "Nobody - Unknown Song (2)" in summary and "1 not music" in summary
    kinds = {s.kind for s in got.report.sources}
    assert kinds == {"Spotify Extended Streaming History", "Spotify Account Data"}
    with pytest.raises(UserError, match="give --tracks"):
        reader([Input(export, "listens", "ann")])
    with pytest.raises(UserError, match="which is listens, not posts: give it to --listens"):
        reader([Input(export, "posts", "ann")], catalog)


def test_normalised_match_key():
    assert match_key("Beyoncé", "Halo, Live") == match_key("BEYONCE", "halo live")
    assert match_key("Sigur Rós - Hoppípolla") == match_key("sigur ros", "hoppipolla")
    assert match_key("AC/DC", "T.N.T.") == "ac dc t n t"


def test_lastfm_header_quoted_header_and_headerless(tmp_path):
    catalog = read_track_table(write_library(tmp_path / "library.sqlite3"))
    plain = tmp_path / "ann.csv"  # lastfm.ghan.nl export, default name <username>.csv
    plain.write_text("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
                     "1714550400,01 May 2024 08:00,Sunny Band,,Album,,Good Day,\n"
                     "nope,bad,Sunny Band,,Album,,Good Day,\n")  # fmt: skip
    quoted = tmp_path / "export.csv"
    quoted.write_text('"uts","utc_time","artist","artist_mbid","album","album_mbid","track",'
                      '"track_mbid"\n"1714554000","01 May 2024, 09:00","Loud Amps","","A","",'
                      '"Smash",""\n')  # fmt: skip
    bare = tmp_path / "scrobbles.csv"  # lastfm-to-csv: no header, commas stripped
    bare.write_text("Beyonce,Album,Halo Live,01 May 2024 10:00\n"
                    "Quiet Strings,Album,Nocturne No 2,01 May 2024 11:00\n")  # fmt: skip
    got = reader([Input(p, "listens", "ann") for p in (plain, quoted, bare)], catalog)
    assert [(x.track_id, x.started_at) for x in got.listens] == [
        ("pop/sunny.mp3", 1714550400.0), ("rock/smash.mp3", 1714554000.0),
        ("pop/halo.mp3", 1714557600.0), ("classical/nocturne.flac", 1714561200.0)]  # fmt: skip
    assert got.listens[0].ended_at - got.listens[0].started_at == 200.0  # a whole play
    assert any(f"{plain}:3" in s for s in got.report.skipped)
    assert {s.kind for s in got.report.sources} == {"Last.fm CSV"}


def test_project_tables_and_bad_rows(tmp_path):
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text(
        "user,time,text\n"
        "ann,2024-05-01T10:00:00+02:00,好开心[哈哈] &amp; <b>yes</b>\n"
        "ann,1714550400,so happy today\n"
        "ann,yesterday,bad time\n"
        ",1714550400,no user\n"
    )
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text('{"user": "bo", "time": 1714550400, "text": "hi"}\n{oops\n')
    got = reader([Input(csv_file, "posts", None), Input(jsonl, "posts", None)])
    assert [p.user for p in got.posts] == ["ann", "ann", "bo"]
    assert got.posts[0].time == 1714550400.0 and got.posts[0].text == "好开心[哈哈] & yes"
    bad = got.report.skipped
    assert any("posts.csv:4" in s for s in bad) and any("posts.csv:5" in s for s in bad)
    assert any("posts.jsonl:2" in s for s in bad)
    # --user makes every row this person's, and the report says which names the file had
    mine = reader([Input(csv_file, "posts", "me")])
    assert {p.user for p in mine.posts} == {"me"} and len(mine.posts) == 3
    assert "the file's user names (ann) taken as the owner's" in mine.report.summary()


def test_unreadable_inputs_are_one_line_errors(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("just some words\n")
    with pytest.raises(UserError, match="not a posts format the trainer reads"):
        reader([Input(junk, "posts", "a")])
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError, match=r"broken\.zip"):
        reader([Input(broken, "listens", "a")])
    with pytest.raises(UserError, match="not found"):
        reader([Input(tmp_path / "nope.zip", "listens", "a")])
    report = ImportReport()
    assert report.summary().endswith("read nothing; skipped 0 bad rows/files")


def _journal(path: Path, extra_columns: bool = False) -> Path:
    """The speaker's journal schema; the MQTT ingest store adds device, seq, received_at."""
    from device.storage.journal import SCHEMA

    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    if extra_columns:
        for col in ("device TEXT", "seq INTEGER", "received_at REAL"):
            con.execute(f"ALTER TABLE listens ADD COLUMN {col}")
    rows = [("e1", "ann", "pop/sunny.mp3", "Dance Pop", 1000.0, 1100.0, 200.0, "completed"),
            ("e2", "bo", "rock/smash.mp3", "rock", 2000.0, 2100.0, 180.0, "skipped"),
            ("e3", "ann", "x.mp3", "Vaporwave", 3000.0, None, 180.0, None)]  # fmt: skip
    for event, user, track, genre, start, end, length, reason in rows:
        con.execute(
            "INSERT INTO listens (event_id, user, track_id, path, genre, mood, mood_confidence,"
            " started_at, ended_at, duration_s, end_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (event, user, track, f"/m/{track}", genre, "happy", 0.9, start, end, length, reason),
        )
    if extra_columns:
        con.execute("UPDATE listens SET device = 'kitchen', seq = rowid, received_at = 5")
        con.execute(
            "INSERT INTO listens (event_id, user, track_id, path, genre, mood, mood_confidence,"
            " started_at, ended_at, duration_s, device, seq, received_at) VALUES "
            "('e4','bo','pop/halo.mp3','/m/h','pop','sad',0.5,4000,4100,240,'hall',1,5)"
        )
    con.commit()
    con.close()
    return path


def test_journal_and_ingest_store_read_by_column_name(tmp_path):
    journal = _journal(tmp_path / "journal.sqlite3")
    store = _journal(tmp_path / "ingest.sqlite3", extra_columns=True)
    got = reader([Input(journal, "listens", None), Input(store, "listens", None)])
    # e1, e2 from the journal; the store's copies of them count once; e4 only in the store
    # (read as columns), where a listener is the user on that speaker (issue 24: one name,
    # two speakers)
    assert [(x.user, x.track_id, x.genre) for x in got.listens] == [
        ("ann", "pop/sunny.mp3", "pop"), ("bo", "rock/smash.mp3", "rock")]  # fmt: skip
    [stored] = got.stored
    assert [(got.names.name(int(u)), stored.tracks[int(t)], GENRES[int(g)]) for u, t, g in zip(
        stored.user, stored.track, stored.genre, strict=True)] == [
        ("bo@hall", "pop/halo.mp3", "pop")]  # fmt: skip
    assert got.report.duplicates["listens"] == 3  # e1, e2, e3 again
    assert any("still playing" in s for s in got.report.skipped)
    assert got.people == ("ann", "bo", "bo@hall")
    merged = read_inputs([Input(journal, "listens", None), Input(store, "listens", None)],
                         listeners={"bo@hall": "bo"})  # the people file's listeners
    assert merged.people == ("ann", "bo")
    one = reader([Input(journal, "listens", "ann")])  # --user: every row is ann's
    assert {x.user for x in one.listens} == {"ann"} and len(one.listens) == 2
    library = write_library(tmp_path / "library.sqlite3")
    with pytest.raises(UserError, match="give it to --tracks"):
        reader([Input(library, "listens", None)])
    folder = tmp_path / "speaker-data"  # the speaker's data folder: library index ignored
    folder.mkdir()
    for p in (journal, library):
        (folder / p.name).write_bytes(p.read_bytes())
    both = reader([Input(folder, "listens", None)])
    assert len(both.listens) == 2 and both.report.ignored[str(folder)] == 1
    assert [s.source for s in both.report.sources] == [f"{folder}/journal.sqlite3"]


def test_project_listens_table_and_endsong_history(tmp_path):
    f = tmp_path / "listens.csv"
    f.write_text(
        "user,track_id,genre,started_at,ended_at,duration_s\n"
        "ann,t1,Hip-Hop,100,200,180\n"
        "ann,t2,Vaporwave,100,200,180\n"
        "ann,t3,rock,300,200,180\n"
    )
    mapper = GenreMapper()
    got = read_inputs([Input(f, "listens", None)], mapper)
    assert [(x.track_id, x.genre) for x in got.listens] == [("t1", "rap"), ("t2", None)]
    assert mapper.unmapped["vaporwave"] == 1
    assert any("listens.csv:4" in s for s in got.report.skipped)
    t0 = datetime(2019, 6, 1, 12, 0, tzinfo=UTC)  # older Extended history: endsong_0.json
    endsong = tmp_path / "MyData" / "endsong_0.json"
    endsong.parent.mkdir()
    endsong.write_text(json.dumps(spotify_extended([(t0, "Loud Amps", "Smash", 180_000)],
                                                   username=True)))  # fmt: skip
    catalog = read_track_table(write_library(tmp_path / "library.sqlite3"))
    old = reader([Input(endsong.parent, "listens", "ann")], catalog)
    assert [(x.user, x.track_id) for x in old.listens] == [("ann", "rock/smash.mp3")]
    assert "the file's user names (spotifyuser123) taken as the owner's" in old.report.summary()
