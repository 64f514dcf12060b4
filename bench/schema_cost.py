"""What validating a command and a listen row costs, hand-written against msgspec.

    python -m bench.schema_cost            # ours only
    pip install msgspec && python -m bench.schema_cost   # both, side by side

The hand-written checks (``device.shared.commands``, ``mqtt_protocol.check_listen``) stay
while their cost is small beside the MQTT round trip (a command's p95 is ~30 ms) because
they name the row and the field in words a user can act on; msgspec's messages are
generic ("Expected `float` <= 1.0 - at `$.mood_confidence`").
"""

from __future__ import annotations

import json
import timeit
from typing import Annotated, Any, Literal

from device.shared.commands import parse_command
from device.shared.mqtt_protocol import check_listen

try:  # optional: only the comparison needs it
    import msgspec
except ImportError:
    msgspec = None

ROW: dict[str, Any] = {
    "event_id": "a" * 32, "user": "ann", "track_id": "t", "path": "/m/x.mp3", "genre": "pop",
    "mood": "happy", "mood_confidence": 0.9, "started_at": 1.7e9, "ended_at": 1.7e9 + 200,
    "position_s": 200.0, "duration_s": 210.0, "end_reason": "completed", "start_offset_s": 0.0,
    "explanation": None, "error": None, "ended_by": "end", "seq": 1,
}


def per_call_us(fn, n: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6


def msgspec_decoder():
    if msgspec is None:
        return None

    class Row(msgspec.Struct):
        event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
        user: str
        track_id: str
        path: str
        genre: str | None
        mood: Literal["happy", "sad", "angry", "neutral", "unknown"]
        mood_confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
        started_at: float
        ended_at: float
        position_s: float
        duration_s: float | None
        end_reason: Literal["completed", "skipped", "stopped", "error", "interrupted"]
        start_offset_s: float
        explanation: str | None
        error: str | None
        ended_by: str | None
        seq: Annotated[int, msgspec.Meta(ge=0)]

    return msgspec.json.Decoder(Row)


def main() -> None:
    raw = json.dumps(ROW).encode()
    rows = [("command 'volume 55', parsed and checked", lambda: parse_command("volume", "55")),
            ("listen row, json + check_listen", lambda: check_listen(json.loads(raw)))]
    dec = msgspec_decoder()
    if dec is not None:
        rows.append(("listen row, msgspec decode + validate", lambda: dec.decode(raw)))
    for label, fn in rows:
        print(f"{label:<42} {per_call_us(fn):6.2f} us")
    if dec is None:
        print("msgspec: not installed (pip install msgspec to compare)")


if __name__ == "__main__":
    main()
