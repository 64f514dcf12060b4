"""The broker's ACL: least rights per user, one ``user`` block each.

``use_username_as_clientid true`` makes every client id its user name, so a speaker's user
is its device id and nothing in a topic can be claimed by another login. A speaker writes
what it announces and reads what is sent to it, only under its own tree; the service users
see every speaker but only the topics of their job. Mosquitto 2.0 checks ``write`` on every
PUBLISH (and on a client's last will) and ``read`` on every delivery: it grants any
SUBSCRIBE, even ``#``, but delivers only the messages whose topic the user may read, and
for a shared subscription (``$share/GROUP/<filter>``) it checks the plain topic.
"""

from __future__ import annotations

from device.shared.mqtt_protocol import BASE_TOPIC

HA_PREFIX = "homeassistant"
ROLES = ("speaker", "ingest", "publisher", "homeassistant")
# Created with the broker folder, each with its own password; their names are their roles.
SERVICE_USERS = ("ingest", "publisher", "homeassistant")

Rule = tuple[str, str]  # (read | write | readwrite, topic)


def rules(name: str, role: str, base: str = BASE_TOPIC) -> list[Rule]:
    """The ACL lines for user ``name`` in ``role``."""
    if role == "speaker":
        own = f"{base}/{name}"
        return [
            ("write", f"{own}/availability"),
            ("write", f"{own}/state"),
            ("write", f"{own}/mood"),
            ("write", f"{own}/command/result"),
            ("write", f"{own}/listens"),
            ("write", f"{own}/models/result"),
            ("write", f"{HA_PREFIX}/device/{name}/config"),
            ("read", f"{own}/set/+"),
            ("read", f"{own}/command"),
            ("read", f"{own}/listens/ack"),
            ("read", f"{own}/models/#"),
            ("read", f"{HA_PREFIX}/status"),
        ]
    if role == "ingest":
        return [
            # Also covers `ingest --share GROUP`: Mosquitto checks a $share/GROUP/<filter>
            # subscription's deliveries against the plain topic.
            ("read", f"{base}/+/listens"),
            ("write", f"{base}/+/listens/ack"),
        ]
    if role == "publisher":
        return [
            ("write", f"{base}/+/models/begin"),
            ("write", f"{base}/+/models/chunk/#"),
            ("write", f"{base}/+/models/commit"),
            ("read", f"{base}/+/models/result"),
            ("read", f"{base}/+/availability"),
        ]
    if role == "homeassistant":
        return [
            ("read", f"{base}/+/state"),
            ("read", f"{base}/+/mood"),
            ("read", f"{base}/+/availability"),
            ("read", f"{base}/+/command/result"),
            ("write", f"{base}/+/set/+"),
            ("write", f"{base}/+/command"),
            ("readwrite", f"{HA_PREFIX}/#"),
        ]
    raise ValueError(f"unknown role {role!r}")


def block(name: str, role: str, base: str = BASE_TOPIC) -> str:
    lines = [f"# {name}: {role}", f"user {name}"]
    lines += [f"topic {access} {topic}" for access, topic in rules(name, role, base)]
    return "\n".join(lines) + "\n"


def render(users: dict[str, str], base: str = BASE_TOPIC) -> str:
    """The whole file for ``{user: role}`` (service users first, then by name)."""
    head = ("# Written by `moodspeaker-train speakers`; edits are overwritten.\n"
            "# No pattern lines and no anonymous access: a user not named here may do "
            "nothing.\n")
    order = sorted(users, key=lambda u: (u not in SERVICE_USERS, u))
    return head + "".join("\n" + block(u, users[u], base) for u in order)
