"""A real PostgreSQL server for the tests: a cluster of our own in a temporary folder.

`initdb` makes it and `pg_ctl` starts it listening only on a Unix socket inside that
folder (no TCP port to collide with), trust authentication, the C locale (the byte
order SQLite sorts text in).  Each test gets a fresh database of its own
(`Cluster.new_database`), dropped again when the cluster stops.  PostgreSQL refuses to
run as root, so under root the server runs as the `postgres` system user.

Where no server binaries are found, `Cluster.missing()` says why, and the tests that
need PostgreSQL skip with that reason (`make test` installs Debian's postgresql-15
where it can)."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

BIN_DIRS = [Path(os.environ.get("KNOWNFIX_PG_BIN", "")), *sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _bin_dir() -> Path | None:
    for folder in BIN_DIRS:
        if str(folder) not in ("", ".") and (folder / "initdb").is_file() \
                and (folder / "pg_ctl").is_file():
            return folder
    return None


class Cluster:
    """One running PostgreSQL server of the tests' own."""

    _names = itertools.count(1)

    @staticmethod
    def missing() -> str | None:
        """Why no cluster can be started here, or None."""
        if _bin_dir() is None:
            return ("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin;"
                    " `make test` installs Debian's postgresql-15 where it can")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` user to run the server as"
        return None

    def __init__(self, durable: bool = False) -> None:
        """`durable`: PostgreSQL's own defaults (fsync, synchronous commit, full page
        writes, 128 MB shared buffers), for benchmarks; the tests trade them for speed."""
        reason = self.missing()
        if reason:
            raise RuntimeError(reason)
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="knownfix-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root  # sockets live beside the data folder
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--locale=C", "--encoding=UTF8", "--no-sync")
        fast = "" if durable else ("-c fsync=off -c synchronous_commit=off "
                                   "-c full_page_writes=off -c shared_buffers=64MB ")
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
                   f"{fast}-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.root / "server.log"), "start")
        self.started = True

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args],
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")

    def url(self, database: str = "postgres") -> str:
        """A libpq address of a database on this server."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def new_database(self) -> str:
        """A new empty database; returns its address."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if getattr(self, "started", False):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
