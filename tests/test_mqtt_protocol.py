"""device.shared.mqtt_protocol: topics and payload codecs, including fuzzed malformed payloads."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.shared import mqtt_protocol as p
from device.shared.listens import LISTEN_COLUMNS


def listen(**over) -> dict:
    row = {
        "event_id": "e1", "user": "ana", "track_id": "t1", "path": "a/b.mp3", "genre": "pop",
        "mood": "happy", "mood_confidence": 0.8, "started_at": 1000.0, "ended_at": 1200.0,
        "position_s": 200.0, "duration_s": 210.0, "end_reason": "completed",
        "start_offset_s": 0.0, "explanation": "because", "error": None, "ended_by": "end",
        "seq": 1,
    }
    row.update(over)
    return row


def test_topics():
    t = p.Topics("kitchen-1")
    assert t.availability == "moodspeaker/kitchen-1/availability"
    assert t.state == "moodspeaker/kitchen-1/state"
    assert t.mood == "moodspeaker/kitchen-1/mood"
    assert t.set("volume") == "moodspeaker/kitchen-1/set/volume"
    assert t.command == "moodspeaker/kitchen-1/command"
    assert t.command_result == "moodspeaker/kitchen-1/command/result"
    assert t.listens_ack == "moodspeaker/kitchen-1/listens/ack"
    assert t.models_chunk("a" * 32, 1, 7) == f"moodspeaker/kitchen-1/models/chunk/{'a' * 32}/1/7"
    assert t.parse_chunk_topic(t.models_chunk("a" * 32, 1, 7)) == ("a" * 32, 1, 7)
    assert t.command_name("moodspeaker/kitchen-1/set/mute") == "mute"
    assert p.device_of_listens_topic("moodspeaker/kitchen-1/listens") == "kitchen-1"
    assert p.device_of_listens_topic("a/b/dev/listens", "a/b") == "dev"
    assert p.listens_subscription(share="g") == "$share/g/moodspeaker/+/listens"
    with pytest.raises(p.ProtocolError, match="unknown command"):
        t.set("reboot")
    for bad in ("", "a/b", "+", "x" * 65, "é"):
        with pytest.raises(p.ProtocolError, match="device id"):
            p.Topics(bad)
    with pytest.raises(p.ProtocolError):
        t.parse_chunk_topic("moodspeaker/kitchen-1/models/chunk/../1/2")
    with pytest.raises(p.ProtocolError):
        p.device_of_listens_topic("moodspeaker/a/b/listens")


def test_listens_roundtrip_and_row_checks():
    payload = p.encode_listens("dev", "b" * 32, [listen(), listen(event_id="e2", seq=2)])
    batch = p.decode_listens(payload)
    assert (batch.device, batch.batch, len(batch.listens)) == ("dev", "b" * 32, 2)
    assert p.check_listen(batch.listens[0]) == {k: v for k, v in listen().items()}
    assert p.check_listen(listen(extra="ignored")) == listen()
    for bad, msg in [
        (listen(ended_at=None), "ended_at"),  # open listens are never sent
        (listen(mood="joyful"), "mood"),
        (listen(mood_confidence=1.5), "mood_confidence"),
        (listen(end_reason="bored"), "end_reason"),
        (listen(seq=True), "seq"),
        (listen(started_at=float("nan")), "started_at"),
        (listen(user=""), "user"),
        (listen(ended_at=10.0), "before started_at"),
        ({k: v for k, v in listen().items() if k != "track_id"}, "track_id"),
    ]:
        with pytest.raises(p.ProtocolError, match=msg):
            p.check_listen(bad)
    with pytest.raises(p.ProtocolError, match="1-200"):
        p.encode_listens("dev", "b" * 32, [listen(event_id=str(i)) for i in range(201)])
    with pytest.raises(p.ProtocolError, match="exceeds"):
        p.decode_listens(b" " * (p.MAX_LISTENS_BYTES + 1))
    with pytest.raises(p.ProtocolError, match="version"):
        p.decode_listens(json.dumps({"v": 2, "device": "d", "batch": "b" * 32, "listens": [{}]}))


def test_ack_roundtrip():
    ack = p.Ack("c" * 32, ["e1"], [{"event_id": "e2", "error": "bad mood"}])
    assert p.decode_ack(p.encode_ack(ack)) == ack


def _begin(files=None, chunk_size=4):
    data = b"0123456789"
    files = files or [("manifest.json", data), ("taste.npz", data)]
    return p.Begin("d" * 32, chunk_size, tuple(
        p.FileSpec(n, len(b), hashlib.sha256(b).hexdigest(), p.chunk_count(len(b), chunk_size))
        for n, b in files))


def test_begin_commit_result():
    begin = _begin()
    assert p.decode_begin(p.encode_begin(begin)) == begin
    assert begin.files[0].chunks == 3
    assert p.decode_commit(p.encode_commit("d" * 32)) == "d" * 32
    r = p.Result("d" * 32, False, "sha256 mismatch", [])
    assert p.decode_result(p.encode_result(r)) == r
    # Names are checked against the allow-list and are never paths.
    for name in ("../evil", "/etc/passwd", ".hidden", "a/b.npz", "x\0y"):
        with pytest.raises(p.ProtocolError, match="plain file name"):
            p.check_file_name(name)
    music = _begin([("manifest.json", b"{}"), ("music_mood.tflite", b"x")])
    with pytest.raises(p.ProtocolError, match="not a model file"):
        p.decode_begin(p.encode_begin(music))
    manifest = {"format": 1, "music": {"file": "music_mood.tflite", "sha256": "0" * 64}}
    allowed = p.allowed_model_files(manifest)
    assert allowed[-1] == "music_mood.tflite"
    assert p.decode_begin(p.encode_begin(music), allowed) == music
    with pytest.raises(p.ProtocolError, match=r"manifest\.json is not among"):
        p.encode_begin(_begin([("taste.npz", b"x")]))
    raw = json.loads(p.encode_begin(begin))
    raw["files"][1]["chunks"] = 2
    with pytest.raises(p.ProtocolError, match="chunks do not fit"):
        p.decode_begin(json.dumps(raw))
    raw["chunk_size"] = p.MAX_CHUNK_BYTES + 1
    with pytest.raises(p.ProtocolError, match="chunk_size"):
        p.decode_begin(json.dumps(raw))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=6),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.sampled_from(["v", "device", "batch", "listens", "transfer",
                                                  "files", "chunk_size", "ok", "event_ids"]),
                                 json_values).map(lambda d: json.dumps({**d, "v": 1}).encode())))
def test_decoders_raise_only_protocol_errors(payload):
    for decode in (p.decode_listens, p.decode_ack, p.decode_begin, p.decode_commit,
                   p.decode_result, lambda b: p.check_listen(json.loads(b))):
        try:
            decode(payload)
        except p.ProtocolError:
            pass
        except (json.JSONDecodeError, UnicodeDecodeError):
            assert decode.__name__ == "<lambda>"  # json.loads itself, outside the codec


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(list(listen())), json_values))
def test_check_listen_fuzz(changes):
    try:
        out = p.check_listen(listen(**changes))
    except p.ProtocolError:
        return
    assert set(out) == {*LISTEN_COLUMNS, "seq"}
