"""Runs launched through the workspace are listed under their job, and a sensor switched on ticks.

A temporary Dagster home (SQLite storage, run monitoring on) and a tiny synthetic dataset; the
daemon of `pipelines.launch` dequeues the run and ticks the sensor, as in production. Runs made
by `LocalRuns` carry the same origin, whether executed here or submitted to the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.tags import PARTITION_NAME_TAG
from pipeline_support import FIRST_DAY, tiny_spec_data

from pipelines.definitions import build_definitions
from pipelines.launch import daemon, local_runs
from pipelines.season_setup import write_instance_config

SENSOR = "drift_retrain_sensor"
TICK_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    """A persistent instance in a temporary home, the tiny dataset in the environment."""
    home = tmp_path / "dagster_home"
    write_instance_config(home)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec_data()))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("BINCLF_DATASET", str(spec_path))
    monkeypatch.setenv("BINCLF_STATE", str(tmp_path / "state"))
    with DagsterInstance.from_config(str(home)) as opened:
        yield opened


def sensor_ticks(instance: DagsterInstance, name: str) -> list:
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == name
    ]
    return [
        tick
        for state in states
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
    ]


def ended(ticks: list) -> bool:
    return any(tick.status != TickStatus.STARTED for tick in ticks)


@pytest.mark.slow
def test_launched_run_is_listed_under_its_job_and_sensor_ticks(instance: DagsterInstance) -> None:
    with daemon(instance) as workspace:
        run = workspace.wait(workspace.launch("profile_job"), timeout_seconds=120.0)
        workspace.start_sensor(SENSOR)
        try:
            deadline = time.monotonic() + TICK_TIMEOUT_SECONDS
            ticks = sensor_ticks(instance, SENSOR)
            # A tick is recorded as STARTED before the sensor answers: wait for one that ended.
            while not ended(ticks) and time.monotonic() < deadline:
                time.sleep(1.0)
                ticks = sensor_ticks(instance, SENSOR)
        finally:
            workspace.stop_sensor(SENSOR)

    assert run.status == DagsterRunStatus.SUCCESS, run.status
    assert run.job_name == "profile_job"
    assert run.remote_job_origin is not None, "a launched run carries its code-location origin"
    assert run.remote_job_origin.repository_origin.code_location_origin.location_name == "binclf"
    assert ticks, f"{SENSOR} was switched on but no tick was recorded"
    # No drift was ever measured: the sensor's recorded answer is a skip with that reason.
    assert any("no drift" in (tick.skip_reason or "") for tick in ticks), [
        (t.status, t.skip_reason) for t in ticks
    ]


def test_local_runs_are_listed_under_their_job_and_use_the_environments_dataset(
    instance: DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.definitions
    from binclf.spec import load_spec

    # As an earlier import in this process may have left it: definitions of another state folder.
    stale = build_definitions(load_spec(), str(tmp_path / "stale"))
    monkeypatch.setattr(pipelines.definitions, "defs", stale)
    day = FIRST_DAY.isoformat()
    with local_runs(instance) as runs:
        profiled = runs.run("profile_job")
        ingested = runs.run("ingest_job", tags={PARTITION_NAME_TAG: day})
        queued_id = runs.submit("profile_job")

    for run in (profiled, ingested):
        assert run.status == DagsterRunStatus.SUCCESS, run.status
        assert run.remote_job_origin is not None
        assert run.remote_job_origin.location_name == "binclf"
        assert run.tags["dagster/code_location"] == "binclf"
    assert ingested.tags[PARTITION_NAME_TAG] == day
    # The location was loaded as a new code server would: the dataset and state of the
    # environment now, whatever it was when this process first imported the definitions.
    assert (tmp_path / "state" / "data" / "raw_events" / f"{day}.parquet").is_file()
    assert pipelines.definitions.defs.resources["state"].root == str(tmp_path / "state")
    materialized = instance.get_latest_materialization_event(AssetKey("raw_events"))
    assert materialized is not None and materialized.run_id == ingested.run_id
    # Without a daemon a submitted run waits in the queue, with the same origin.
    queued = instance.get_run_by_id(queued_id)
    assert queued is not None and queued.status == DagsterRunStatus.QUEUED, queued
    assert queued.remote_job_origin is not None
    assert queued.remote_job_origin.location_name == "binclf"
