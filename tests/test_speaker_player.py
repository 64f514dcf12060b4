"""Real libvlc playing the real MP3 clips through the dummy and the WAV-file outputs."""

from __future__ import annotations

import time
import wave

import pytest

from device.playback import DummyOutput, PlaybackError, VlcPlayer, WavFileOutput
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import clips_dir

require_libvlc()


def _play_to_end(player, path, start_at, timeout=15.0):
    player.play(path, start_at=start_at, volume=30)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = player.poll()
        if st.state in ("ended", "error"):
            return st
        time.sleep(0.05)
    raise AssertionError("did not end")


def test_real_clip_plays_to_the_end_on_dummy_output():
    clip = clips_dir() / "classical" / "10.mp3"
    player = VlcPlayer(DummyOutput())
    try:
        # start 2.5 s before the end: the real decoder, real clock, real end of stream
        st = _play_to_end(player, clip, start_at=57.5)
        assert st.state == "ended" and st.duration_s == pytest.approx(60.0, abs=0.5)
        assert st.position_s > 57.5
    finally:
        player.release()


def test_wav_file_output_receives_the_audio(tmp_path):
    clip = clips_dir() / "pop" / "16.mp3"
    out = tmp_path / "out.wav"
    player = VlcPlayer(WavFileOutput(out))
    try:
        assert _play_to_end(player, clip, start_at=58.0).state == "ended"
    finally:
        player.release()
    with wave.open(str(out)) as w:
        assert w.getnframes() / w.getframerate() > 1.0  # about 2 s of decoded audio


def test_unreadable_and_corrupt_files_are_errors_not_plays(tmp_path):
    player = VlcPlayer(DummyOutput())
    try:
        with pytest.raises(PlaybackError, match="No such file"):
            player.play(tmp_path / "missing.mp3")
        bad = tmp_path / "bad.mp3"
        bad.write_bytes(b"garbage" * 200)
        assert _play_to_end(player, bad, 0.0).state == "error"
    finally:
        player.release()


def test_pause_resume_volume_and_fade():
    player = VlcPlayer(DummyOutput())
    try:
        player.play(clips_dir() / "rock" / "16.mp3", volume=0)
        time.sleep(0.3)
        player.fade(50, 0.3)
        assert player.volume == 50
        player.toggle()
        assert player.poll().state == "paused"
        pos = player.poll().position_s
        time.sleep(0.4)
        assert player.poll().position_s == pytest.approx(pos, abs=0.05)
        player.toggle()
        time.sleep(0.5)
        assert player.poll().state == "playing"
        player.stop()
        assert player.poll().state == "idle"
    finally:
        player.release()
