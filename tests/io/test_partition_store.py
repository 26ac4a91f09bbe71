import os
import shutil
import stat
import tempfile
from pathlib import Path

import polars as pl
import pytest

from binclf.io.partition_store import MissingPartitionsError, PartitionStore


def _frame(day: int) -> pl.DataFrame:
    return pl.DataFrame({"event_id": [day * 10 + i for i in range(3)], "amount": [1.5, 2.5, day]})


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def store(tmp_path: Path) -> PartitionStore:
    return PartitionStore(tmp_path / "data")


@pytest.mark.parametrize(
    "key", ["../x", "2026-1-1", "2026-01-01/../../etc", "../../2026-01-01", "2026-01-01 ", ""]
)
def test_key_that_is_not_a_plain_date_is_rejected_and_nothing_is_written(
    tmp_path: Path, store: PartitionStore, key: str
) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        store.write("raw_events", _frame(1), key)
    with pytest.raises(ValueError, match="is not a date"):
        store.path("raw_events", key)

    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("asset", ["../raw_events", "raw/events", "", ".hidden"])
def test_asset_name_that_is_not_a_plain_identifier_is_rejected(
    store: PartitionStore, asset: str
) -> None:
    with pytest.raises(ValueError, match="is not a plain identifier"):
        store.path(asset, "2026-03-01")


def test_partition_lives_in_a_readable_file_named_by_its_date_under_the_root(
    store: PartitionStore,
) -> None:
    path = store.write("raw_events", _frame(1), "2026-03-01")

    assert path == store.root / "raw_events" / "2026-03-01.parquet"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable like every other state file
    assert store.path("validation_profile") == store.root / "validation_profile" / "data.parquet"


def test_written_partition_reads_back_equal(store: PartitionStore) -> None:
    store.write("raw_events", _frame(1), "2026-03-01")

    assert store.read("raw_events", "2026-03-01").equals(_frame(1))
    assert store.exists("raw_events", "2026-03-01")
    assert not store.exists("raw_events", "2026-03-02")


def test_rewriting_a_partition_replaces_only_that_partition(
    store: PartitionStore,
) -> None:
    for day in (1, 2, 3):
        store.write("raw_events", _frame(day), f"2026-03-0{day}")
    before = _files(store.root)

    store.write("raw_events", _frame(9), "2026-03-02")

    after = _files(store.root)
    assert after.pop("raw_events/2026-03-02.parquet") != before.pop("raw_events/2026-03-02.parquet")
    assert after == before
    assert store.read("raw_events", "2026-03-02").equals(_frame(9))


def test_failed_write_keeps_the_old_partition_and_leaves_no_partial_file(
    store: PartitionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("raw_events", _frame(1), "2026-03-01")
    before = _files(store.root)

    def crash_half_way(frame: pl.DataFrame, path: str) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", crash_half_way)
    with pytest.raises(OSError, match="No space left"):
        store.write("raw_events", _frame(2), "2026-03-01")
    with pytest.raises(OSError, match="No space left"):
        store.write("raw_events", _frame(2), "2026-03-02")

    assert _files(store.root) == before
    monkeypatch.undo()
    assert store.read("raw_events", "2026-03-01").equals(_frame(1))


def test_frame_that_cannot_be_stored_leaves_no_file(store: PartitionStore) -> None:
    unstorable = pl.DataFrame({"value": [object()]})

    with pytest.raises(pl.exceptions.ComputeError):
        store.write("raw_events", unstorable, "2026-03-01")

    assert _files(store.root) == {}
    assert store.keys("raw_events") == []


def test_keys_are_the_written_dates_oldest_first(store: PartitionStore) -> None:
    for key in ("2026-03-10", "2026-02-28", "2026-03-01"):
        store.write("raw_events", _frame(1), key)
    store.write("raw_events", _frame(1))

    assert store.keys("raw_events") == ["2026-02-28", "2026-03-01", "2026-03-10"]
    assert store.keys("never_written") == []


def test_scan_over_partitions_stacks_them_and_names_missing_ones(store: PartitionStore) -> None:
    store.write("raw_events", _frame(1), "2026-03-01")
    store.write("raw_events", _frame(2), "2026-03-02")

    stacked = store.scan("raw_events", ["2026-03-01", "2026-03-02"]).collect()

    assert stacked.equals(pl.concat([_frame(1), _frame(2)]))
    with pytest.raises(MissingPartitionsError, match="partition\\(s\\) 2026-03-03, 2026-03-04"):
        store.scan("raw_events", ["2026-03-01", "2026-03-03", "2026-03-04"])
    with pytest.raises(MissingPartitionsError, match="no partitions were asked for"):
        store.scan("raw_events", [])


def test_staged_partitions_replace_stored_ones_only_when_the_whole_staging_succeeds(
    store: PartitionStore,
) -> None:
    store.write("raw_events", _frame(1), "2026-03-01")
    before = _files(store.root)

    with pytest.raises(RuntimeError, match="third day"), store.staging() as staging:
        staging.write("raw_events", _frame(2), "2026-03-01")
        staging.write("raw_events", _frame(3), "2026-03-02")
        assert store.read("raw_events", "2026-03-01").equals(_frame(1))
        assert store.keys("raw_events") == ["2026-03-01"]
        raise RuntimeError("the third day cannot be read")

    assert _files(store.root) == before
    with store.staging() as staging:
        staging.write("raw_events", _frame(2), "2026-03-01")
        staging.write("raw_events", _frame(3), "2026-03-02")
    assert store.read("raw_events", "2026-03-01").equals(_frame(2))
    assert store.read("raw_events", "2026-03-02").equals(_frame(3))
    assert sorted(_files(store.root)) == [
        "raw_events/2026-03-01.parquet",
        "raw_events/2026-03-02.parquet",
    ]


def test_linked_partition_is_the_same_file_and_outlives_a_rewrite_of_its_source(
    store: PartitionStore,
) -> None:
    store.write("raw_events", _frame(1), "2026-03-01")

    with store.staging() as staging:
        linked = staging.link("validated_events", "raw_events", "2026-03-01")

    assert os.path.samefile(linked, store.path("raw_events", "2026-03-01"))
    store.write("raw_events", _frame(2), "2026-03-01")
    assert store.read("validated_events", "2026-03-01").equals(_frame(1))
    assert store.read("raw_events", "2026-03-01").equals(_frame(2))


def test_partition_linked_across_file_systems_is_copied(
    tmp_path: Path, store: PartitionStore
) -> None:
    shared_memory = Path("/dev/shm")
    if not shared_memory.is_dir() or shared_memory.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second file system at /dev/shm")
    store.write("raw_events", _frame(1), "2026-03-01")
    elsewhere = Path(tempfile.mkdtemp(dir=shared_memory))
    try:
        (store.root / "validated_events").symlink_to(elsewhere)

        with store.staging() as staging:
            linked = staging.link("validated_events", "raw_events", "2026-03-01")

        assert not os.path.samefile(linked, store.path("raw_events", "2026-03-01"))
        assert linked.read_bytes() == store.path("raw_events", "2026-03-01").read_bytes()
        assert stat.S_IMODE(linked.stat().st_mode) == 0o644
        assert [p.name for p in elsewhere.iterdir()] == ["2026-03-01.parquet"]
    finally:
        shutil.rmtree(elsewhere)


def test_linking_a_partition_that_was_never_stored_fails_and_leaves_no_file(
    store: PartitionStore,
) -> None:
    with pytest.raises(FileNotFoundError), store.staging() as staging:
        staging.link("validated_events", "raw_events", "2026-03-01")

    assert _files(store.root) == {}


def test_a_refused_partition_loses_its_older_value_until_a_new_value_is_written(
    store: PartitionStore,
) -> None:
    store.write("validated_events", _frame(1), "2026-01-01")
    store.write("validated_events", _frame(2), "2026-01-02")

    with store.staging() as staging:
        staging.refuse("validated_events", "2026-01-01", "validation failed")

    assert not store.exists("validated_events", "2026-01-01")
    assert store.keys("validated_events") == ["2026-01-02"]
    assert store.is_refused("2026-01-01", "validated_events")
    assert store.is_refused("2026-01-01") and not store.is_refused("2026-01-02")

    store.write("validated_events", _frame(3), "2026-01-01")

    assert store.read("validated_events", "2026-01-01").equals(_frame(3))
    assert not store.is_refused("2026-01-01")
