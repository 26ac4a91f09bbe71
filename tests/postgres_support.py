"""A throwaway PostgreSQL server on loopback for tests: initdb in a temporary folder, pg_ctl.

The server binaries come from the Debian `postgresql` package (`/usr/lib/postgresql/<v>/bin`)
or the PATH. initdb refuses to run as root, so as root the cluster belongs to the `postgres`
user and every server command runs as that user. Connections from 127.0.0.1 are trusted: the
server listens on loopback only, on a free port, with durability off (tests need no crash
safety), and is stopped and deleted when the context ends.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"
SERVER_PROGRAMS = ("initdb", "pg_ctl")


def server_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest Debian version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if all(Path(folder, program).is_file() for program in SERVER_PROGRAMS):
            return Path(folder)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    return None


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    """A running server: its port, and SQLAlchemy URLs of its databases."""

    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        """An SQLAlchemy URL with the psycopg2 driver (SQLAlchemy 2.1 defaults to psycopg 3)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def query(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of one query, read straight from the server."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=database
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@contextmanager
def running_postgres(bin_dir: Path) -> Iterator[PostgresServer]:
    """Initialize a cluster in a temporary folder, start it on a free port, stop it at the end."""
    base = Path(tempfile.mkdtemp(prefix="binclf-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(base, account.pw_uid, account.pw_gid)
    data, log = base / "data", base / "server.log"
    port = free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            **run,
        )
        options = (
            f"-k {base} -p {port} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        try:
            subprocess.run(
                _as_server_user(
                    [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"]
                    + ["start"]
                ),
                **run,
            )
        except subprocess.CalledProcessError as error:
            detail = log.read_text() if log.is_file() else error.stderr
            raise RuntimeError(f"PostgreSQL did not start: {detail}") from error
        try:
            yield PostgresServer(port=port)
        finally:
            subprocess.run(
                _as_server_user(
                    [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                check=False,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
