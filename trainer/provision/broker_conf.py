"""A complete Mosquitto 2 configuration for the broker folder (``moodspeaker.conf``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PACKET_BYTES = 1024 * 1024
MAX_QUEUED_MESSAGES = 100_000
MAX_QUEUED_BYTES = 256 * 1024 * 1024
MAX_INFLIGHT_MESSAGES = 20
DEFAULT_PERSISTENCE = Path("/var/lib/mosquitto")
# Mosquitto 2 keeps these per listener even with per_listener_settings false: written
# before the first `listener` line they would configure (and open!) a default listener on
# port 1883 of every interface instead of applying to ours.
PER_LISTENER = [
    "# The client id is the user name: no login can take another's session, and a",
    "# speaker's user is its device id.",
    "use_username_as_clientid true",
]


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path
    port: int = 8883


@dataclass(frozen=True)
class Listeners:
    """Where the broker listens and where its clients find it."""

    host: str  # the name or address the speakers and the trainer connect to
    port: int = 1883
    bind: str | None = None  # None: every interface (a house's speakers are on the LAN)
    tls: Tls | None = None
    persistence: Path = DEFAULT_PERSISTENCE

    @property
    def client_port(self) -> int:
        """The port clients use: TLS when the broker has it."""
        return self.tls.port if self.tls else self.port


def render(folder: Path, listeners: Listeners) -> str:
    folder = folder.resolve()
    bind = f" {listeners.bind}" if listeners.bind else ""
    lines = [
        f"# Mosquitto 2 for Moodspeaker: written by `moodspeaker-train speakers` from {folder}",
        "# (edits are overwritten). Run it as the broker's whole configuration:",
        f"#   mosquitto -c {folder / 'moodspeaker.conf'}",
        "# After `speakers add/remove`: systemctl reload mosquitto (or SIGHUP) re-reads the",
        "# password file and the ACL; a changed listener needs a restart.",
        "",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {folder / 'passwd'}",
        f"acl_file {folder / 'acl'}",
        "# The largest MQTT packet a client may send: a model chunk is at most 256 KiB plus its",
        "# topic and headers, a command at most 4 KiB; larger packets are refused and the",
        "# client disconnected. (message_size_limit is deprecated in Mosquitto 2:",
        "# max_packet_size replaces it.)",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "# QoS 1 messages kept per client while it is offline or slow. The ingest is one",
        "# client for the whole house: while it is down each speaker keeps sending its",
        "# unacknowledged batches again (up to sync_in_flight = 4 each, then one resend per",
        "# growing timeout), so a few hundred speakers queue tens of thousands of batches",
        "# in a day-long outage; 100000 keeps them. The byte cap bounds the broker's memory;",
        "# what it drops is not lost: the speakers' journals hold every listen until acked.",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "# QoS 1 messages in flight to one client at a time (the sync and model chunks).",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        "",
        "# Sessions and queued QoS 1 messages survive a broker restart.",
        "persistence true",
        f"persistence_location {listeners.persistence.resolve()}/",
        "autosave_interval 60",
        "set_tcp_nodelay true",
        "",
        f"listener {listeners.port}{bind}",
        *PER_LISTENER,
    ]
    if listeners.tls is not None:
        tls = listeners.tls
        lines += [
            "",
            f"listener {tls.port}{bind}",
            *PER_LISTENER,
            f"cafile {tls.ca.resolve()}",
            f"certfile {tls.cert.resolve()}",
            f"keyfile {tls.key.resolve()}",
            "# The password is the credential; TLS keeps it (and the data) private.",
            "require_certificate false",
        ]
    return "\n".join(lines) + "\n"
