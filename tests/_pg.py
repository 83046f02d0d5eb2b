"""A throw-away PostgreSQL server for the tests and the bench: initdb + pg_ctl in a temporary folder,
listening only on a unix socket there (no port to collide with), trust auth, role `medspa`.

PostgreSQL refuses to run as root, so as root the cluster runs as `nobody` (runuser) in a folder
chowned to it. `server()` raises PgUnavailable with the reason when the binaries are missing or the
server does not start; callers decide whether that fails (tests) or is reported (bench).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

ROLE = "medspa"


class PgUnavailable(RuntimeError):
    pass


def bindir() -> Path | None:
    """$MEDSPA_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else initdb on PATH."""
    env = os.environ.get("MEDSPA_PG_BINDIR")
    cands = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[::-1]
    for cand in cands:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PgServer:
    """A running cluster; `url(db)` is a SQLAlchemy URL for database `db` over the socket."""

    def __init__(self) -> None:
        bins = bindir()
        if bins is None:
            raise PgUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's `postgresql` "
                                "package or set MEDSPA_PG_BINDIR")
        self.bins = bins
        self.dir = Path(tempfile.mkdtemp(prefix="medspa-pg-"))
        self.data, self.sock = self.dir / "data", self.dir
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root
            if not shutil.which("runuser"):
                raise PgUnavailable("running as root and `runuser` is missing: cannot start PostgreSQL as nobody")
            shutil.chown(self.dir, "nobody")
            self._as = ["runuser", "-u", "nobody", "--"]
        self._run([str(bins / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"])
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{self.sock}' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB")
        self._run([str(bins / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                   "-t", "60", "start"])

    def _run(self, cmd: list[str]) -> None:
        res = subprocess.run(self._as + cmd, capture_output=True, text=True, cwd=self.dir)
        if res.returncode != 0:
            log = (self.dir / "log").read_text(errors="replace")[-2000:] if (self.dir / "log").exists() else ""
            raise PgUnavailable(f"{Path(cmd[0]).name} failed ({res.returncode}): {res.stderr.strip()[-1500:]} {log}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://{ROLE}@/{db}?host={self.sock}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.sock), user=ROLE, dbname="postgres", autocommit=True) as con:
            con.execute(sql)

    def create_db(self, prefix: str = "t") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_db(self, url: str) -> None:
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run([str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
