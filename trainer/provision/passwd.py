"""Mosquitto's password file, written from Python (no mosquitto install on the desktop).

Mosquitto 2 stores ``user:$7$<iterations>$<base64 salt>$<base64 hash>``, the hash being
PBKDF2-HMAC-SHA512 of the password with that salt (``mosquitto_passwd``'s defaults: 101
iterations, a 12-byte salt, a 64-byte hash). ``$6$`` lines (one SHA512 round, Mosquitto
1.x) are read but never written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from device.shared.errors import UserError

ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 24  # 32 characters of URL-safe base64: 192 random bits


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, iterations: int = ITERATIONS,
                  salt: bytes | None = None) -> str:
    """The ``$7$...`` field for one password (a fresh random salt unless given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` (or ``$6$``) field, as Mosquitto checks it."""
    parts = hashed.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt, want = int(parts[2]), base64.b64decode(parts[3]), parts[4]
            digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
        elif len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), parts[3]
            digest = hashlib.sha512(password.encode() + salt).digest()
        else:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(digest).decode(), want)


def parse(text: str, where: str = "passwd") -> dict[str, str]:
    """``{user: hash}`` in file order; blank lines and ``#`` comments are skipped."""
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed.startswith(("$7$", "$6$")):
            raise UserError(f"{where}:{n}: not a Mosquitto password line (user:$7$...)")
        users[user] = hashed
    return users


def render(users: dict[str, str]) -> str:
    return "".join(f"{user}:{hashed}\n" for user, hashed in users.items())
