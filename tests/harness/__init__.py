"""What the tests and the benchmarks share (``from tests.harness.<module> import ...``).

- ``broker``: a real Mosquitto on a free loopback port (start, stop, restart, TLS, ACL),
  ``subscribed_client``;
- ``speaker``: the real MP3 clips, stand-in taste, quiet status line, ``until``;
- ``faults``: the real speaker on a thread or as ``moodspeaker run``, the journal checks
  and the "fault | outcome" table of tests/faults and ``bench/faults.py``;
- ``libvlc``: ``require_libvlc()``, skipping a module when libvlc cannot be used.
"""
