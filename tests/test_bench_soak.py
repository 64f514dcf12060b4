"""bench/soak.py's verdict: a steady speaker passes, each kind of leak fails it.

The hour-long run itself is a benchmark (``python -m bench.soak``); these check only the
judging of its samples, on series shaped like a real run's (noise included).
"""

from __future__ import annotations

import random

import pytest

from bench import soak


def series(*, minutes=60, rss_mb_per_h=0.0, fd_every_s=None, thread_every_s=None, seed=0):
    """Samples every 10 s: 140 MB +- 0.3 MB noise, 17 fds with a transient +1 now and
    then, 13 threads, 5 % CPU; optional steady growth."""
    rng = random.Random(seed)
    out = []
    for i in range(int(minutes * 6) + 1):
        t = 10.0 * i
        rss = 140 + rss_mb_per_h * t / 3600 + rng.uniform(-0.3, 0.3)
        fds = 17 + (rng.random() < 0.1) + (int(t // fd_every_s) if fd_every_s else 0)
        threads = 13 + (int(t // thread_every_s) if thread_every_s else 0)
        out.append(soak.Sample(t, int(rss * 1024), 0.05 * t, fds, threads, i // 10,
                               4096 * (1 + i // 100), 0))
    return out


def judge(samples, commands=None, exit_code=0):
    tally = commands or soak.Commands(sent=100, answered=100)
    return soak.figures(samples, 120.0, tally, 10, 1, exit_code, 5.0)


def test_a_steady_speaker_passes_with_its_figures():
    fig = judge(series())
    assert fig["problems"] == []
    assert abs(fig["rss_drift_mb_per_h"]) < 1.0
    assert fig["cpu_pct_mean"] == pytest.approx(5.0)
    assert fig["fds_first"] in (17, 18) and fig["threads_max"] == 13
    assert fig["journal_rows_per_h"] == pytest.approx(36.0)
    assert "PASS" in soak.table(fig)


def test_rss_drift_above_the_limit_fails():
    fig = judge(series(rss_mb_per_h=8.0))
    assert fig["rss_drift_mb_per_h"] == pytest.approx(8.0, abs=0.5)
    assert any("RSS drifts" in p for p in fig["problems"])
    assert "FAIL" in soak.table(fig)


def test_the_warm_up_is_left_out_of_the_drift():
    samples = series()
    for s in samples[:12]:  # the first two minutes: models and caches loading
        s.rss_kb -= 30 * 1024
    assert judge(samples)["problems"] == []


def test_a_descriptor_or_thread_leak_fails_but_transients_do_not():
    assert any("descriptors grow" in p for p in judge(series(fd_every_s=600))["problems"])
    assert any("threads grow" in p for p in judge(series(thread_every_s=900))["problems"])
    assert soak.grows([17, 18, 17, 17, 18, 17, 17, 18]) is False


def test_an_unanswered_command_or_a_bad_exit_fails():
    lost = soak.Commands(sent=100, answered=99, unanswered=1)
    assert any("unanswered" in p for p in judge(series(), commands=lost)["problems"])
    assert any("exited" in p for p in judge(series(), exit_code=1)["problems"])
