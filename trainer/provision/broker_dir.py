"""The broker folder: its settings and users (``broker.json``, no secrets), and every file
made from them, each written atomically (a temp file in the folder, then a rename)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from device.shared.errors import UserError
from device.shared.mqtt_client import PASSWORD_ENV

from . import acl, broker_conf, passwd
from .broker_conf import Listeners, Tls

STATE = "broker.json"
SECRET = 0o600
PUBLIC = 0o644
# Where a speaker's config expects the broker's CA (copy it there).
SPEAKER_CA = Path("/etc/moodspeaker/ca.crt")


def write_atomic(path: Path, text: str, mode: int) -> None:
    """``text`` into ``path`` with ``mode`` from the first byte: a reader sees the old file
    or the new one, never a part, and a secret is never readable by others."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass
class BrokerDir:
    folder: Path
    listeners: Listeners
    users: dict[str, str] = field(default_factory=dict)  # user -> role

    # --- the folder ------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path) -> BrokerDir:
        path = folder / STATE
        if not path.is_file():
            raise UserError(f"{folder} is not a broker folder (no {STATE}): "
                            "`moodspeaker-train speakers add NAME --broker-dir DIR` makes one")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tls = raw["listeners"].pop("tls")
            listeners = Listeners(
                **{**raw["listeners"], "persistence": Path(raw["listeners"]["persistence"])},
                tls=Tls(Path(tls["ca"]), Path(tls["cert"]), Path(tls["key"]), tls["port"])
                if tls else None)
            users = dict(raw["users"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: not a broker state file ({exc})") from None
        return cls(folder, listeners, users)

    @staticmethod
    @contextlib.contextmanager
    def locked(folder: Path) -> Iterator[None]:
        """One ``speakers`` command at a time on a folder."""
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)

    def credential_file(self, name: str) -> Path:
        if self.users.get(name) == "speaker":
            return self.path("speakers", f"{name}.toml")
        return self.path("clients", f"{name}.toml")

    def read_passwords(self) -> dict[str, str]:
        p = self.path("passwd")
        return passwd.parse(p.read_text(encoding="utf-8"), str(p)) if p.exists() else {}

    # --- writing ---------------------------------------------------------------------

    def save(self, hashes: dict[str, str]) -> None:
        """broker.json, passwd, acl and moodspeaker.conf from the current state."""
        ls = self.listeners
        tls = ls.tls
        state = {
            "version": 1,
            "listeners": {
                "host": ls.host, "port": ls.port, "bind": ls.bind,
                "persistence": str(ls.persistence),
                "tls": None if tls is None else {"ca": str(tls.ca), "cert": str(tls.cert),
                                                 "key": str(tls.key), "port": tls.port},
            },
            "users": self.users,
        }
        ordered = {u: hashes[u] for u in sorted(hashes) if u in self.users}
        write_atomic(self.path("passwd"), passwd.render(ordered), SECRET)
        write_atomic(self.path("acl"), acl.render(self.users), PUBLIC)
        write_atomic(self.path("moodspeaker.conf"),
                     broker_conf.render(self.folder, self.listeners), PUBLIC)
        write_atomic(self.path(STATE), json.dumps(state, indent=2) + "\n", PUBLIC)

    def write_credentials(self, name: str, password: str) -> Path:
        """The user's connection settings with its password (0600)."""
        role = self.users[name]
        ls = self.listeners
        target = self.credential_file(name)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        if role == "speaker":
            lines = [
                f"# Speaker {name!r}: its [mqtt] section for /etc/moodspeaker/config.toml",
                "# (keep that file 0600: it holds the password).",
                "[mqtt]",
                f"host = {toml_str(ls.host)}",
                f"port = {ls.client_port}",
                f"device_id = {toml_str(name)}",
                f"username = {toml_str(name)}",
                f"password = {toml_str(password)}",
            ]
            if ls.tls is not None:
                lines += [f"# copy {ls.tls.ca.resolve()} to the speaker as {SPEAKER_CA}",
                          f"tls_ca = {toml_str(str(SPEAKER_CA))}"]
            write_atomic(target, "\n".join(lines) + "\n", SECRET)
            return target
        args = self.client_args(name)
        lines = [
            f"# Service user {name!r} (role {role}): its connection settings.",
            f"# moodspeaker-train ... {' '.join(args)}",
            f"# with ${PASSWORD_ENV} set to the password (see {name}.env).",
            "[mqtt]",
            f"host = {toml_str(ls.host)}",
            f"port = {ls.client_port}",
            f"username = {toml_str(name)}",
            f"password = {toml_str(password)}",
        ]
        if ls.tls is not None:
            lines.append(f"tls_ca = {toml_str(str(ls.tls.ca.resolve()))}")
        write_atomic(target, "\n".join(lines) + "\n", SECRET)
        env = [f"{PASSWORD_ENV}={password}", f"MQTT_ARGS={' '.join(args)}"]
        if role == "ingest":  # systemd/moodspeaker-ingest.service reads INGEST_ARGS
            env.append(f"INGEST_ARGS={' '.join(args)}")
        write_atomic(target.with_suffix(".env"), "\n".join(env) + "\n", SECRET)
        return target

    def client_args(self, name: str) -> list[str]:
        ls = self.listeners
        args = ["--host", ls.host, "--port", str(ls.client_port), "--username", name]
        if ls.tls is not None:
            args += ["--tls-ca", str(ls.tls.ca.resolve())]
        return args

    def forget(self, name: str) -> None:
        """Remove the user's credential files (its passwd line and ACL block go with
        the next :meth:`save`)."""
        target = self.credential_file(name)
        for p in (target, target.with_suffix(".env")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        del self.users[name]
