"""A day-named source with a corrupt day file: that day fails alone, with the file's name.

The tiny stream is written as one Parquet file per day (`events/{date}.parquet`). The code
location loads with a corrupt file present (it reads no data), and the validation profile
leaves out a reference day whose file is corrupt. A range run ingests, validates
and scores four days: the corrupt day's validation verdict fails on its own partition and names
the file and the problem, the other days reach `validated_events` and scoring, and re-running
the day once its file is fixed completes the range.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterEventType, Definitions
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pipeline_support import ALL_KEYS, PipelineWorld, TrainedTemplate, failures, tiny_spec_data

from assets.ingest import VALIDATION_CHECK
from binclf.ingest.synthetic import generate_day
from binclf.partitions import partition_day
from binclf.spec import DatasetSpec, SyntheticSource, spec_from_dict
from pipelines.definitions import build_definitions

pytest_plugins = ["pipeline_support"]

RANGE = ALL_KEYS[12:16]
BAD = RANGE[2]
GOOD = [k for k in RANGE if k != BAD]
BAD_REFERENCE = ALL_KEYS[1]
NO_HTML = {"ops": {"drift": {"config": {"html_report": "none"}}}}
CHECK = AssetCheckKey(AssetKey("raw_events"), VALIDATION_CHECK)
FAILED = AssetCheckExecutionRecordStatus.FAILED


def _write_day(spec: DatasetSpec, stream: SyntheticSource, key: str) -> Path:
    path = spec.base_dir / "events" / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_day(stream, partition_day(key)).write_parquet(path)
    return path


@pytest.fixture
def world(trained_template: TrainedTemplate, tmp_path: Path) -> Iterator[PipelineWorld]:
    """The trained state over the same stream read from a file per day, one of them corrupt."""
    data = tiny_spec_data()
    stream = SyntheticSource.model_validate(data["source"])
    data["source"] = {"kind": "parquet", "path": "events/{date}.parquet"}
    spec = spec_from_dict(data, base_dir=tmp_path)
    for key in [*ALL_KEYS[:3], *RANGE]:  # the reference days, and the range
        _write_day(spec, stream, key)
    for key in (BAD, BAD_REFERENCE):
        (tmp_path / "events" / f"{key}.parquet").write_bytes(b"PAR1\x00 not parquet \xff" * 30)
    world = trained_template.copy_to(tmp_path)
    world = PipelineWorld.create(spec, world.root)
    assert world.materialize_profile().success
    yield world
    world.instance.dispose()


def test_the_code_location_loads_with_a_corrupt_day_file(world: PipelineWorld) -> None:
    Definitions.validate_loadable(build_definitions(world.spec, str(world.root)))


def test_the_profile_leaves_out_a_reference_day_whose_file_is_corrupt(world: PipelineWorld) -> None:
    profile = world.latest_metadata("validation_profile")

    assert profile["reference_days_unreadable"] == 1
    stream = SyntheticSource.model_validate(tiny_spec_data()["source"])
    kept = [ALL_KEYS[0], ALL_KEYS[2]]
    assert profile["reference_rows"] == sum(
        generate_day(stream, partition_day(k)).height for k in kept
    )


def test_a_corrupt_day_file_fails_only_its_day_with_its_name_and_a_fixed_file_completes_it(
    world: PipelineWorld,
) -> None:
    result = world.run_range("daily_job", RANGE[0], RANGE[-1], run_config=NO_HTML)

    assert result.success, failures(result)
    verdicts = world.check_statuses(CHECK)
    assert verdicts[BAD] == FAILED
    assert all(verdicts.get(k) != FAILED for k in GOOD)
    failed = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        and not e.event_specific_data.passed
    ]
    assert [(f.partition, f.check_name) for f in failed] == [(BAD, VALIDATION_CHECK)]
    assert f"{BAD}.parquet" in failed[0].description
    assert "source_file_reads" in failed[0].description
    assert "cannot be read" in failed[0].description
    for key in GOOD:
        assert world.store.exists("validated_events", key)
        assert world.store.read("scores", key).height == world.store.read("raw_events", key).height
    for asset in ("validated_events", "scores"):
        assert not world.store.exists(asset, BAD)
        assert world.store.is_refused(BAD, asset)

    data = tiny_spec_data()
    _write_day(world.spec, SyntheticSource.model_validate(data["source"]), BAD)  # fixed
    rerun = world.run_range("daily_job", BAD, BAD, run_config=NO_HTML)

    assert rerun.success, failures(rerun)
    assert world.check_statuses(CHECK)[BAD] == AssetCheckExecutionRecordStatus.SUCCEEDED
    for asset in ("validated_events", "scores"):
        assert all(world.store.exists(asset, key) for key in RANGE)
        assert not world.store.is_refused(BAD, asset)
