"""``moodspeaker-train speakers add|list|remove``: the handlers (``trainer.provision.cli``
holds their arguments)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from device.shared.errors import UserError
from device.shared.mqtt_protocol import ProtocolError, check_device_id

from . import passwd
from .acl import ROLES, SERVICE_USERS
from .broker_conf import DEFAULT_PERSISTENCE, Listeners, Tls
from .broker_dir import STATE, BrokerDir

RELOAD = ("Reload Mosquitto so that it reads the new password file and ACL: "
          "sudo systemctl reload mosquitto (or send it SIGHUP).")
RESTART = ("The listeners changed: restart Mosquitto (sudo systemctl restart mosquitto); "
           "a reload does not reopen listeners.")


def check_name(name: str) -> str:
    try:
        return check_device_id(name)
    except ProtocolError as exc:
        raise UserError(f"speaker name: {exc}") from None


def _file(path: Path | None, what: str) -> Path | None:
    if path is None:
        return None
    if not path.is_file():
        raise UserError(f"{what} {path} is not a readable file")
    return path.resolve()


def _port(value: int | None, what: str) -> int | None:
    if value is not None and not 0 < value < 65536:
        raise UserError(f"{what} {value} is not a TCP port")
    return value


def listeners_from_args(args: argparse.Namespace, old: Listeners | None) -> Listeners:
    """The stored listeners with what the command line gives on top."""
    tls_files = [_file(args.tls_ca, "--tls-ca"), _file(args.tls_cert, "--tls-cert"),
                 _file(args.tls_key, "--tls-key")]
    if any(tls_files) and not all(tls_files):
        raise UserError("--tls-ca, --tls-cert and --tls-key go together (the broker's CA, "
                        "its certificate and its key)")
    port = _port(args.port, "--port")
    tls_port = _port(args.tls_port, "--tls-port")
    base = old or Listeners(host=socket.getfqdn() or socket.gethostname(),
                            persistence=DEFAULT_PERSISTENCE)
    tls = base.tls
    if all(tls_files):
        ca, cert, key = (p for p in tls_files if p is not None)
        tls = Tls(ca, cert, key, tls_port or (tls.port if tls else 8883))
    elif tls_port is not None:
        if tls is None:
            raise UserError("--tls-port needs the broker's TLS files (--tls-ca --tls-cert "
                            "--tls-key)")
        tls = Tls(tls.ca, tls.cert, tls.key, tls_port)
    listeners = Listeners(
        host=args.host or base.host,
        port=port or base.port,
        bind=args.bind if args.bind is not None else base.bind,
        tls=tls,
        persistence=(args.persistence_dir.resolve() if args.persistence_dir
                     else base.persistence),
    )
    if listeners.tls is not None and listeners.tls.port == listeners.port:
        raise UserError(f"the TLS listener and the plain one both use port {listeners.port}")
    return listeners


def cmd_add(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    role = args.role
    folder: Path = args.broker_dir
    with BrokerDir.locked(folder):
        fresh = not (folder / STATE).exists()
        broker = None if fresh else BrokerDir.load(folder)
        listeners = listeners_from_args(args, broker.listeners if broker else None)
        if broker is None:
            broker = BrokerDir(folder.resolve(), listeners)
            folder.chmod(0o755)
        restart = not fresh and listeners != broker.listeners
        broker.listeners = listeners
        hashes = broker.read_passwords()
        made: dict[str, str] = {}
        if fresh:
            for service in SERVICE_USERS:
                broker.users[service] = service
                made[service] = passwd.new_password()
        if name in SERVICE_USERS and not args.rotate:
            raise UserError(f"{name} is a service user's name (made with the broker folder); "
                            "choose another name, or --rotate to replace its password")
        if name in broker.users:
            if not args.rotate:
                raise UserError(
                    f"{name} exists ({broker.users[name]}); --rotate gives it a new password "
                    f"(then copy {broker.credential_file(name)} to where it is used)")
            if args.role_given and broker.users[name] != role:
                raise UserError(f"{name} exists with role {broker.users[name]}, not {role}")
        elif args.rotate:
            raise UserError(f"--rotate: {name} is not a user of {folder}")
        else:
            broker.users[name] = role
        made[name] = passwd.new_password()
        for user, password in made.items():
            hashes[user] = passwd.hash_password(password)
        written = [broker.write_credentials(user, password) for user, password in made.items()]
        broker.save(hashes)
    for path in written:
        print(f"{broker.users[path.stem]:<13} {path.stem:<20} {path}")
    print(f"Broker configuration: {folder.resolve() / 'moodspeaker.conf'}")
    print(RESTART if restart else RELOAD)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    broker = BrokerDir.load(args.broker_dir)
    ls = broker.listeners
    where = f"{ls.host}:{ls.port}" + (f", TLS on {ls.tls.port}" if ls.tls else "")
    print(f"# broker {where} ({args.broker_dir.resolve() / 'moodspeaker.conf'})")
    print(f"{'ROLE':<13} {'USER':<20} CREDENTIALS")
    hashes = broker.read_passwords()
    for user in sorted(broker.users, key=lambda u: (broker.users[u] == "speaker", u)):
        missing = "" if user in hashes else "  (no password line!)"
        print(f"{broker.users[user]:<13} {user:<20} {broker.credential_file(user)}{missing}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    with BrokerDir.locked(args.broker_dir):
        broker = BrokerDir.load(args.broker_dir)
        if name not in broker.users:
            raise UserError(f"{name} is not a user of {args.broker_dir}")
        if name in SERVICE_USERS:
            raise UserError(f"{name} is a service user the trainer and Home Assistant need; "
                            f"`speakers add {name} --rotate` replaces its password instead")
        role = broker.users[name]
        hashes = broker.read_passwords()
        hashes.pop(name, None)
        broker.forget(name)
        broker.save(hashes)
    print(f"removed {role} {name}: its password line, ACL block and credential files")
    print(RELOAD + " Until then the broker still lets it in.")
    return 0


__all__ = ["ROLES", "cmd_add", "cmd_list", "cmd_remove"]
