"""A real PostgreSQL for the store tests: Debian's server binaries (``initdb``, ``pg_ctl``),
a cluster in a temporary folder, listening on 127.0.0.1 on a free port, its socket in that
folder, stopped and removed at the end. Nothing is faked.

Run as root (as the tests are in CI), the server runs as an unprivileged user (``postgres``
when the package made it, else ``nobody``) through ``runuser``/``setpriv``: initdb refuses
root. Password authentication over TCP (scram-sha-256), so a wrong password is a real one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.harness.broker import free_port

SKIP_REASON = ("PostgreSQL is not installed: `bash bootstrap.sh test` installs it (apt package"
               " postgresql)")
PSYCOPG_SKIP_REASON = ("psycopg is not installed: `bash bootstrap.sh test` installs it (the"
                       " trainer extra, psycopg[binary])")
USER = "moodspeaker"
PASSWORD = "s3cret-pw"


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    versions = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            versions.append((float(d.parent.name), d))
    for _, d in sorted(versions, reverse=True):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def _as_user(user: str | None) -> list[str]:
    if user is None:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"]
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


class Postgres:
    """One cluster; ``url(db)`` for a database in it, ``new_database()`` for a fresh one."""

    def __init__(self, bin_dir: Path, *, durable: bool = False):
        """``durable``: fsync and synchronous commit as a real server has them (benchmarks);
        the tests run without (nothing here survives a power cut anyway)."""
        self.bin_dir = bin_dir
        self.durable = durable
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = USER
        self.password = PASSWORD
        self.run_as: str | None = None
        if os.geteuid() == 0:
            names = {p.pw_name for p in pwd.getpwall()}
            self.run_as = "postgres" if "postgres" in names else "nobody"
        # Not under pytest's root-only (0700) temp folders: the server's user must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="moodspeaker-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.started_s = 0.0
        self.initdb_s = 0.0

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*_as_user(self.run_as), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.dir)

    def start(self) -> Postgres:
        t0 = time.monotonic()
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chmod(self.dir, 0o700)
            for p in (self.dir, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        out = self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user,
                        f"--pwfile={pwfile}", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
                        "--no-instructions")
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stdout}{out.stderr}")
        self.initdb_s = time.monotonic() - t0
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={self.host}"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        out = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.log), "-o", opts, "-w", "-t", "30", "start")
        if out.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {out.stdout}{out.stderr}{log}")
        self.started_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database (its name) for one test."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return name


# --- by hand: a throwaway server, and the store's batch timings -------------------------


def _bench(server: Postgres, sizes: list[int], total: int) -> None:
    """Each batch size on both backends, batches interleaved so that all see the same
    disk (the commit's fsync dominates); a durable server, SQLite with synchronous=FULL.
    ``postgres`` is the store as shipped; ``_copy`` and ``_unnest`` force one way, for
    the choice between them."""
    from tests.test_mqtt_sync import row
    from trainer.sync.store import open_store

    for size in sizes:
        n = max(1, min(total // size, 2000))  # batches of one: 2000 commits say enough
        batches = [[row(b * size + i) for i in range(size)] for b in range(n)]
        stores = {"sqlite": open_store(str(server.dir / f"bench{size}.db")),
                  "postgres": open_store(server.url(server.new_database())),
                  "postgres_copy": open_store(server.url(server.new_database())),
                  "postgres_unnest": open_store(server.url(server.new_database()))}
        stores["postgres_copy"].copy_from_rows = 0  # type: ignore[attr-defined]
        stores["postgres_unnest"].copy_from_rows = 1 << 30  # type: ignore[attr-defined]
        spent = dict.fromkeys(stores, 0.0)
        for i, batch in enumerate(batches):
            for name, store in stores.items():
                t = time.perf_counter()
                store.add_batch(f"dev{i % 10}", batch)
                spent[name] += time.perf_counter() - t
        for name, store in stores.items():
            assert store.count() == n * size
            store.close()
            print(f"store_bench backend={name} batch={size} batches={n}"
                  f" ms_per_batch={spent[name] / n * 1000:.2f}"
                  f" listens_per_s={n * size / spent[name]:.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m tests.harness.postgres",
        description="A throwaway PostgreSQL (serve), or the listen store's batch timings on"
                    " both backends (bench)")
    ap.add_argument("what", choices=["serve", "bench"])
    ap.add_argument("--sizes", default="1,20,64,200", help="bench: rows per batch")
    ap.add_argument("--total", type=int, default=12000, help="bench: rows per size")
    args = ap.parse_args(argv)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print(SKIP_REASON)
        return 1
    server = Postgres(bin_dir, durable=True).start()
    print(f"postgres: initdb {server.initdb_s:.2f} s, initdb and start {server.started_s:.2f} s",
          flush=True)
    try:
        if args.what == "serve":
            print(f"postgres: {server.url()} (Ctrl-C stops and removes it)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        else:
            _bench(server, [int(s) for s in args.sizes.split(",")], args.total)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
