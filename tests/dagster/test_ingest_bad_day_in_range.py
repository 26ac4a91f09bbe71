"""A range run with empty days and one bad day: the bad day fails alone.

The run ingests, validates and scores six days of the tiny stream in one run. Two days have no
rows and one has duplicate ids. The good and empty days reach `validated_events` and scoring; the
bad day's validation verdict fails on its own partition, nothing downstream stores it, and
ingesting it again once fixed completes the range.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from dagster import AssetCheckKey, AssetKey
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pipeline_support import ALL_KEYS, PipelineWorld, TrainedTemplate, failures, tiny_spec_data

from assets.ingest import VALIDATION_CHECK
from binclf.ingest.reader import PartitionReader
from binclf.ingest.sources import read_partition
from binclf.spec import DatasetSpec, spec_from_dict

pytest_plugins = ["pipeline_support"]

RANGE = ALL_KEYS[12:18]
EMPTY = [RANGE[1], RANGE[3]]
BAD = RANGE[4]
GOOD_OR_EMPTY = [k for k in RANGE if k != BAD]
NO_HTML = {"ops": {"drift": {"config": {"html_report": "none"}}}}
CHECK = AssetCheckKey(AssetKey("raw_events"), VALIDATION_CHECK)


def _with_duplicate_ids(frame: pl.DataFrame) -> pl.DataFrame:
    first = pl.int_range(pl.len()) < 2
    return frame.with_columns(
        pl.when(first).then(pl.first("transaction_id")).otherwise("transaction_id")
    )


@pytest.fixture
def world(trained_template: TrainedTemplate, tmp_path: Any) -> Iterator[PipelineWorld]:
    """The trained state, with a spec that accepts days without rows (no minimum)."""
    data = tiny_spec_data()
    data["validation"] = {**data["validation"], "min_rows": 0}
    spec: DatasetSpec = spec_from_dict(data)
    copy = trained_template.copy_to(tmp_path)
    world = PipelineWorld.create(spec, copy.root)
    assert world.materialize_profile().success
    yield world
    world.instance.dispose()


def test_a_bad_day_in_a_range_run_fails_alone_and_a_rerun_after_the_fix_completes_it(
    world: PipelineWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def source(reader: PartitionReader, key: str) -> pl.DataFrame:
        frame = read_partition(reader.spec, key)
        if key in EMPTY:
            return frame.clear()
        return _with_duplicate_ids(frame) if key == BAD else frame

    monkeypatch.setattr(PartitionReader, "read", source)

    result = world.run_range("daily_job", RANGE[0], RANGE[-1], run_config=NO_HTML)

    assert result.success, failures(result)
    assert len(world.instance.get_run_records()) == 1 + 1  # the profile, then the range
    status = world.check_statuses(CHECK)
    assert status[BAD] == AssetCheckExecutionRecordStatus.FAILED
    failed = AssetCheckExecutionRecordStatus.FAILED
    assert all(status[k] != failed for k in GOOD_OR_EMPTY)
    for key in GOOD_OR_EMPTY:
        assert world.store.exists("validated_events", key)
        scores = world.store.read("scores", key)
        assert scores.height == (0 if key in EMPTY else world.store.read("raw_events", key).height)
    for asset in ("validated_events", "scores"):
        assert not world.store.exists(asset, BAD)
        assert world.store.is_refused(BAD, asset)
    assert world.store.read("raw_events", BAD)["transaction_id"].is_duplicated().any()

    monkeypatch.undo()  # the source is fixed
    rerun = world.run_range("daily_job", BAD, BAD, run_config=NO_HTML)

    assert rerun.success, failures(rerun)
    assert world.check_statuses(CHECK)[BAD] == AssetCheckExecutionRecordStatus.SUCCEEDED
    for asset in ("validated_events", "scores"):
        assert all(world.store.exists(asset, key) for key in RANGE)
        assert not world.store.is_refused(BAD, asset)
