"""A new run database made without alembic's script reading equals the one Dagster makes."""

import sqlite3
from pathlib import Path

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from sqlalchemy.pool import NullPool

from pipelines.run_shards import create_new_run_database


def _schema_and_revision(path: Path) -> tuple[list[tuple[str, str, str]], list[str], str]:
    with sqlite3.connect(path) as connection:
        schema = connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        revisions = [row[0] for row in connection.execute("SELECT * FROM alembic_version")]
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    return schema, revisions, journal


def _engine(path: Path):
    return create_engine(f"sqlite:///{path}", poolclass=NullPool)


def test_a_new_run_database_has_dagsters_tables_revision_and_journal(tmp_path: Path) -> None:
    ours, dagsters = tmp_path / "ours.db", tmp_path / "dagster" / "run.db"
    dagsters.parent.mkdir()
    SqliteEventLogStorage(str(dagsters.parent))._initdb(_engine(dagsters))

    assert create_new_run_database(_engine(ours), str(ours))

    assert _schema_and_revision(ours) == _schema_and_revision(dagsters)
    assert _schema_and_revision(ours)[1]  # one revision stamped, not an empty table


def test_an_existing_run_database_is_left_to_dagster(tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    assert create_new_run_database(_engine(path), str(path))
    before = path.read_bytes()

    assert not create_new_run_database(_engine(path), str(path))
    assert path.read_bytes() == before
