"""The arrival sensor asks for the days of new and changed source files, each change once.

The code location is loaded on an empty source folder; files land afterwards, as they do when a
pipeline runs for months. The sensor is evaluated by Dagster on a real ephemeral instance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, build_sensor_context
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from binclf.spec import spec_from_dict
from pipelines.definitions import build_definitions

SENSOR = "source_arrival_sensor"


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    instance = DagsterInstance.ephemeral()
    yield instance
    instance.dispose()


def evaluate(defs: Definitions, instance: DagsterInstance, cursor: str | None):
    context = build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    return defs.resolve_sensor_def(SENSOR).evaluate_tick(context)


def land(events: pl.DataFrame, folder: Path, day: date) -> Path:
    path = folder / f"{day.isoformat()}.parquet"
    events.filter(pl.col("event_time").dt.date() == day).write_parquet(path)
    return path


def test_arrival_sensor_asks_for_each_landed_or_changed_day_once(
    tmp_path: Path, instance: DagsterInstance, make_spec_dict: Callable, make_events: Callable
) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    data = make_spec_dict("events", partitions={"start_date": "2026-03-01"})  # open end
    defs = build_definitions(spec_from_dict(data, base_dir=tmp_path), str(tmp_path / "state"))
    events = make_events(days=5)

    empty = evaluate(defs, instance, None)
    assert not empty.run_requests and "0 changed file(s)" in (empty.skip_message or "")

    land(events, folder, date(2026, 3, 1))
    changed = land(events, folder, date(2026, 3, 2))
    land(events, folder, date(2026, 3, 4))  # 03-03 has not landed: two stretches, two runs
    landed = evaluate(defs, instance, empty.cursor)
    ranges = [
        (r.tags.get(ASSET_PARTITION_RANGE_START_TAG), r.tags.get(ASSET_PARTITION_RANGE_END_TAG))
        for r in landed.run_requests
    ]
    assert ranges == [("2026-03-01", "2026-03-02"), (None, None)]
    assert landed.run_requests[1].partition_key == "2026-03-04"
    assert {r.job_name for r in landed.run_requests} == {"ingest_job"}  # no champion yet
    assert len({r.run_key for r in landed.run_requests}) == 2

    quiet = evaluate(defs, instance, landed.cursor)
    assert not quiet.run_requests

    status = changed.stat()  # the day's file rewritten: late labels, a correction
    os.utime(changed, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    relanded = evaluate(defs, instance, quiet.cursor)
    assert [r.partition_key for r in relanded.run_requests] == ["2026-03-02"]
    assert relanded.run_requests[0].run_key not in {r.run_key for r in landed.run_requests}


def test_arrival_sensor_exists_only_for_file_sources_with_event_time(
    tmp_path: Path, make_spec_dict: Callable
) -> None:
    snapshot = make_spec_dict("events", time_column=None)
    (tmp_path / "events").mkdir()
    defs = build_definitions(spec_from_dict(snapshot, base_dir=tmp_path), str(tmp_path / "s"))

    assert SENSOR not in {s.name for s in defs.sensors or []}
