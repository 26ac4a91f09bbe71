"""A set of partitions switches all at once: a kill during the renames leaves the old set whole.

The kill is real: a child process stages a new set and SIGKILLs itself before its third rename.
The next open of the store must roll the half-done switch back and remove every leftover.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from binclf.io import partition_store
from binclf.io.partition_store import PartitionStore
from binclf.io.switch import STALE_SECONDS, WRITERS, Writer, sweep

DAYS = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]

KILLED_WRITE = """
import os, signal, sys
import polars as pl
from binclf.io.partition_store import PartitionStore

def kill(index):
    if index == 2:
        os.kill(os.getpid(), signal.SIGKILL)

store = PartitionStore(sys.argv[1])
with store.staging(before_rename=kill) as staging:
    for key in sys.argv[2:]:
        staging.write("events", pl.DataFrame({"day": [key], "generation": ["new"]}), key)
        staging.write_json("drift", {"day": key, "generation": "new"}, key)
"""


def _frame(key: str, generation: str) -> pl.DataFrame:
    return pl.DataFrame({"day": [key], "generation": [generation]})


def _old_set(root: Path) -> dict[str, bytes]:
    store = PartitionStore(root)
    with store.staging() as staging:
        for key in DAYS:
            staging.write("events", _frame(key, "old"), key)
            staging.write_json("drift", {"day": key, "generation": "old"}, key)
    return _contents(root)


def _contents(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and WRITERS not in p.parts
    }


def _kill_during_renames(root: Path, keys: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(root), *keys], env=env, timeout=120
    )
    assert result.returncode == -9  # killed, as by `kill -9`


def test_a_kill_during_the_final_renames_leaves_the_old_set_whole(tmp_path: Path) -> None:
    root = tmp_path / "data"
    before = _old_set(root)

    _kill_during_renames(root, DAYS)

    # Two files were renamed before the kill: on disk the sets are mixed until the store opens.
    assert _contents(root) != before
    assert any(p.name.endswith(".tmp") for p in root.rglob("*"))
    assert list((root / WRITERS).glob("*.json"))

    PartitionStore.open(root)

    assert _contents(root) == before
    assert not [p for p in root.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert list((root / WRITERS).iterdir()) == []


def test_a_killed_switch_of_new_partitions_removes_the_ones_it_added(tmp_path: Path) -> None:
    root = tmp_path / "data"
    before = _old_set(root)

    _kill_during_renames(root, [*DAYS[:2], "2026-03-05", "2026-03-06"])
    PartitionStore.open(root)

    assert _contents(root) == before


def test_a_failed_rename_in_process_is_rolled_back_before_the_error_surfaces(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    before = _old_set(root)

    def fail(index: int) -> None:
        if index == 3:
            raise OSError("disk full")

    with (
        pytest.raises(OSError, match="disk full"),
        PartitionStore(root).staging(before_rename=fail) as staging,
    ):
        for key in DAYS:
            staging.write("events", _frame(key, "new"), key)

    assert _contents(root) == before


def test_a_whole_switch_replaces_every_partition_and_leaves_no_journal(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _old_set(root)

    with PartitionStore(root).staging() as staging:
        for key in DAYS:
            staging.write("events", _frame(key, "new"), key)

    store = PartitionStore.open(root)
    assert store.scan("events", DAYS).collect()["generation"].to_list() == ["new"] * 4
    assert list((root / WRITERS).iterdir()) == []
    assert not [p for p in root.rglob("*") if p.name.endswith((".tmp", ".old"))]


def test_leftovers_of_killed_writes_are_removed_and_a_live_writer_keeps_its_files(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    _old_set(root)
    folder = root / "events"
    stale = folder / ".2026-03-01.parquet.k3j9x2ab.tmp"  # a single atomic write, long dead
    stale.write_bytes(b"x")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    fresh = folder / ".2026-03-02.parquet.q8w7e6rt.tmp"  # possibly being written right now
    fresh.write_bytes(b"x")
    staging_folder = folder / ".staging-abc123"
    staging_folder.mkdir()
    os.utime(staging_folder, (old, old))
    dead = folder / ".2026-03-03.parquet.0123456789abcdef.tmp"  # a staged file whose writer died
    dead.write_bytes(b"x")
    live = Writer(root)
    live_file = live.temporary(folder / "2026-03-04.parquet")
    live_file.write_bytes(b"x")

    removed = sweep(root)

    assert set(removed) == {stale, staging_folder, dead}
    assert fresh.exists() and live_file.exists()
    live.release()
    assert not live_file.exists()


def test_the_first_open_of_a_root_in_a_process_sweeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partition_store, "_SWEPT", set())
    root = tmp_path / "data"
    _old_set(root)
    dead = root / "events" / ".2026-03-03.parquet.0123456789abcdef.tmp"
    dead.write_bytes(b"x")

    PartitionStore.open(root)

    assert not dead.exists()
