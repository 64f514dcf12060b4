"""Hypothesis strategies for the command topics: command names (topic levels a broker
accepts), raw ``set/<name>`` payloads and JSON ``command`` bodies; shared by the speaker's
fuzz and the adversarial suite."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from device.shared.commands import COMMAND_NAMES

# Topic levels a broker accepts (it disconnects a client that sends control characters).
names = st.one_of(st.sampled_from(COMMAND_NAMES),
                  st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                                        blacklist_characters="/+#"), min_size=1, max_size=20))
payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=60).map(str.encode),
    st.sampled_from([b"", b"55", b"+5", b"-500", b"true", b"sad 5", b"auto", b"nan",
                     b"1e309", b"\xff", b"{}", b"[]", b"null", b"sad 0", b"happy 99999"]),
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(["id", "command", "value", "x"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=30), st.sampled_from(COMMAND_NAMES),
                              st.lists(st.integers(), max_size=3)), max_size=4)
    .map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
)
