"""The batched SQLite storage records a range run's per-day events as Dagster's own storage does."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.event_log import HELD_SHARDS, BatchedSqliteEventLogStorage
from pipelines.sensors import latest_by_partition, metadata_value

DAYS = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-06")
KEYS = DAYS.get_partition_keys()
PROJECT_INSTANCE = Path(__file__).resolve().parents[2] / "dagster.yaml"


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def daily(context: AssetExecutionContext) -> None:
    """Each day's own number, as the monitoring assets write theirs."""
    for key in context.partition_keys:
        context.add_asset_metadata({"day": int(key[-2:])}, partition_key=key)


def _project_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME configured as the project's, with its storage under `tmp_path`."""
    config = yaml.safe_load(PROJECT_INSTANCE.read_text())
    config["storage"]["custom"]["config"]["base_dir"] = str(tmp_path / "storage")
    for name in ("local_artifact_storage", "compute_logs"):
        config[name]["config"]["base_dir"] = str(tmp_path / name)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """An instance configured as the project's, with its storage under `tmp_path`."""
    with DagsterInstance.from_config(str(_project_home(tmp_path))) as instance:
        yield instance


def _run_range(instance: DagsterInstance) -> Any:
    tags = {ASSET_PARTITION_RANGE_START_TAG: KEYS[0], ASSET_PARTITION_RANGE_END_TAG: KEYS[-1]}
    return materialize([daily], instance=instance, tags=tags)


def test_a_range_runs_per_day_events_are_written_as_batches_and_read_back_per_day(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = BatchedSqliteEventLogStorage._store_asset_events

    def spy(self: Any, run_id: str, events: list[Any]) -> None:
        batches.append(len(events))
        original(self, run_id, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "_store_asset_events", spy)

    result = _run_range(instance)
    newest = latest_by_partition(instance, "daily")

    assert result.success
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
    assert batches == [len(KEYS), len(KEYS)]  # the planned events, then the materializations
    assert {key: metadata_value(newest[key], "day") for key in KEYS} == {
        key: int(key[-2:]) for key in KEYS
    }
    planned = instance.get_latest_storage_id_by_partition(
        AssetKey("daily"), DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    )
    assert set(planned) == set(KEYS)
    record = instance.get_asset_records([AssetKey("daily")])[0]
    last = record.asset_entry.last_materialization_record
    assert last is not None and last.storage_id == max(r.storage_id for r in newest.values())
    assert last.event_log_entry.dagster_event.partition == KEYS[-1]
    assert record.asset_entry.last_run_id == result.run_id
    assert instance.get_materialized_partitions(AssetKey("daily")) == set(KEYS)


def test_events_commit_without_a_sync_and_the_log_is_whole_after_the_instance_closes(
    tmp_path: Path,
) -> None:
    with DagsterInstance.from_config(str(_project_home(tmp_path))) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchedSqliteEventLogStorage)
        for _ in range(HELD_SHARDS + 2):
            assert _run_range(instance).success
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL, not FULL
        # the index and the newest runs' databases stay open, never one per run ever written
        assert len(list((tmp_path / "storage").rglob("*.db-wal"))) <= HELD_SHARDS
    # closing the instance checkpointed every log into its database
    assert list((tmp_path / "storage").rglob("*.db-wal")) == []
    with DagsterInstance.from_config(str(tmp_path)) as reopened:
        runs = reopened.get_run_records()
        assert len(runs) == HELD_SHARDS + 2
        for record in runs:
            stored = [
                e
                for e in reopened.all_logs(record.dagster_run.run_id)
                if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
            ]
            assert len(stored) == len(KEYS)
        assert reopened.get_materialized_partitions(AssetKey("daily")) == set(KEYS)
