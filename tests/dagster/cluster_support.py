"""Support of the cluster tests: a throwaway PostgreSQL server on loopback and a tiny dataset.

`pytest_plugins = ["cluster_support"]` in a test module brings in the session-scoped `postgres`
fixture: one server for every module that needs it, skipped (with the reason) only when the
PostgreSQL server binaries are not installed. They come from the Debian `postgresql` package
(`/usr/lib/postgresql/<version>/bin`) or the PATH. initdb refuses to run as root, so as root
the cluster belongs to the `postgres` user and every server command runs as that user.
Connections from 127.0.0.1 are trusted: the server listens on loopback only, on a free port,
with durability off (tests need no crash safety), and is stopped and deleted at the end.

PYTEST_DONT_REWRITE: test modules import this module before registering it as a plugin.
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

import pytest

from binclf.spec import DatasetSpec, spec_from_dict

SERVER_USER = "postgres"
SERVER_PROGRAMS = ("initdb", "pg_ctl")
TINY_DAYS = ("2026-02-01", "2026-02-02")


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
        """Create a database and return its URL (the server is shared: names must differ)."""
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
        pg_ctl = [str(bin_dir / "pg_ctl"), "-w", "-D", str(data)]
        try:
            start = [*pg_ctl, "-l", str(log), "-o", options, "start"]
            subprocess.run(_as_server_user(start), **run)
        except subprocess.CalledProcessError as error:
            detail = log.read_text() if log.is_file() else error.stderr
            raise RuntimeError(f"PostgreSQL did not start: {detail}") from error
        try:
            yield PostgresServer(port=port)
        finally:
            subprocess.run(
                _as_server_user([*pg_ctl, "-m", "immediate", "stop"]),
                check=False,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on loopback for the whole session."""
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
            "install Debian's `postgresql` package (.ci/run does)"
        )
    with running_postgres(bin_dir) as server:
        yield server


def tiny_synthetic_spec() -> DatasetSpec:
    """The demo generator over two days of 300 rows: quick to ingest and validate."""
    return spec_from_dict(
        {
            "name": "tiny_synthetic",
            "source": {
                "kind": "synthetic",
                "start_date": TINY_DAYS[0],
                "days": len(TINY_DAYS),
                "rows_per_day": 300,
                "change_point_day": None,
            },
            "target": "is_fraud",
            "positive": 1,
            "negative": [0],
            "id_column": "transaction_id",
            "time_column": "event_time",
            "label_time_column": "label_time",
            "categorical": ["merchant_category", "country", "channel", "customer_age_group"],
            "validation": {"reference_days": len(TINY_DAYS)},
        }
    )
