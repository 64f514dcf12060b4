"""``moodspeaker-train speakers``: provision the house's Mosquitto broker (the arguments;
the handlers are in ``trainer.provision.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .acl import ROLES


class _Role(argparse.Action):
    """--role, remembering that it was given (an existing user's role is not changed)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.role_given = True


def register(subparsers: argparse._SubParsersAction) -> None:
    area = subparsers.add_parser(
        "speakers", help="provision the MQTT broker: users, passwords, ACL, mosquitto.conf",
        description="Keep a Mosquitto broker folder: the password file, the ACL, a complete "
        "moodspeaker.conf, and each user's connection settings. See docs/mqtt.md.")
    sub = area.add_subparsers(dest="speakers_command", required=True, metavar="COMMAND")

    def folder(p: argparse.ArgumentParser) -> None:
        p.add_argument("--broker-dir", type=Path, required=True, metavar="DIR",
                       help="the broker folder (made by the first add)")

    a = sub.add_parser("add", help="add a speaker (or a service user) with a new password")
    a.add_argument("name", metavar="NAME", help="the speaker's device id (its user name)")
    folder(a)
    a.add_argument("--role", choices=ROLES, default="speaker", action=_Role,
                   help="speaker (default), or another ingest/publisher/homeassistant user")
    a.add_argument("--rotate", action="store_true",
                   help="NAME exists: give it a new password")
    a.set_defaults(role_given=False)
    g = a.add_argument_group("broker (kept in DIR; given again, they replace the stored ones)")
    g.add_argument("--host", help="the name or address clients connect to "
                   "(default: this machine's name)")
    g.add_argument("--port", type=int, help="the plain listener's port (default 1883)")
    g.add_argument("--bind", help="listen on this address only (default: every interface)")
    g.add_argument("--tls-ca", type=Path, help="the CA that signed the broker's certificate")
    g.add_argument("--tls-cert", type=Path, help="the broker's certificate (PEM)")
    g.add_argument("--tls-key", type=Path, help="the broker's key (PEM)")
    g.add_argument("--tls-port", type=int, help="the TLS listener's port (default 8883)")
    g.add_argument("--persistence-dir", type=Path,
                   help="where Mosquitto saves sessions (default /var/lib/mosquitto)")
    a.set_defaults(handler="trainer.provision.commands:cmd_add")

    ls = sub.add_parser("list", help="the users and their roles (never the passwords)")
    folder(ls)
    ls.set_defaults(handler="trainer.provision.commands:cmd_list")

    r = sub.add_parser("remove", help="remove a user: passwd line, ACL block, credentials")
    r.add_argument("name", metavar="NAME")
    folder(r)
    r.set_defaults(handler="trainer.provision.commands:cmd_remove")
