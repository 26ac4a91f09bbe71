"""The small end-to-end story the UI test plays before its webserver starts.

A retraining launched through the workspace, a monitoring run over days across the change point,
one tick of the drift sensor by a daemon, the model health view, and a candidate rejected by a
strict gate. The instance's queue holds the run the drift sensor requests (a tag limit of 0), so
the story does not train a third time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import yaml
from dagster import AssetSelection, DagsterInstance, DagsterRunStatus, materialize
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus
from pipeline_support import (
    ALL_KEYS,
    QUIET,
    SMALL_TRAINING,
    TINY_GATES,
    PipelineWorld,
    failures,
    tiny_spec,
)

from pipelines.definitions import build_definitions
from pipelines.launch import daemon, local_runs

MONITORED = ALL_KEYS[14:20]  # across the change point (day 16): quiet days and drifted ones
RETRAIN = {  # a changed search budget makes a new candidate from the same labels
    **QUIET,
    "ops": {
        **SMALL_TRAINING,
        "model_search": {"config": {**SMALL_TRAINING["model_search"]["config"], "n_trials": 4}},
    },
}


DRIFT_SENSOR = "drift_retrain_sensor"
HELD = {"key": "dagster/sensor_name", "value": DRIFT_SENSOR, "limit": 0}


@dataclasses.dataclass(frozen=True)
class Story:
    """What the module did before the webserver started, to compare with what the UI shows."""

    world: PipelineWorld
    launched_training: str
    trained: str
    drift_retrain: str
    rejected: str


def hold_drift_retrains(home: Path) -> None:
    """The instance's queue keeps the runs the drift sensor requests: never dequeued."""
    path = home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config["concurrency"]["runs"]["tag_concurrency_limits"] = [HELD]
    path.write_text(yaml.safe_dump(config))


def wait_for_tick_end(instance: DagsterInstance, sensor: str, timeout: float = 60.0) -> None:
    """Wait until the sensor's newest tick has ended: the daemon records its run ids and then
    ends the tick, and a daemon stopped in between leaves it started."""
    (state,) = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == sensor
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        if ticks and ticks[0].status != TickStatus.STARTED:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the tick of {sensor} did not end within {timeout:.0f} s")


def play_story(world: PipelineWorld) -> Story:
    with daemon(world.instance) as workspace, local_runs(world.instance) as runs:
        training = workspace.wait(runs.submit("training_job", run_config=RETRAIN))
        assert training.status == DagsterRunStatus.SUCCESS, training.status
        trained = world.latest_metadata("model_candidate")["version"]
        monitored = world.run_range("monitoring_job", MONITORED[0], MONITORED[-1])
        assert monitored.success, failures(monitored)
        ticked_after = time.time()
        runs.start_sensor(DRIFT_SENSOR)  # its first tick comes at once, then every 300 s
        requested = workspace.wait_for_sensor_run(DRIFT_SENSOR, after=ticked_after)
        assert requested is not None, "the drift sensor requested no run"
        wait_for_tick_end(world.instance, DRIFT_SENSOR)
    health = materialize(
        list(world.defs.assets),
        selection=AssetSelection.assets("model_health"),
        instance=world.instance,
        resources=world.defs.resources,
        run_config=QUIET,
    )
    assert health.success, failures(health)
    strict_spec = tiny_spec(gates={**TINY_GATES, "min_roc_auc": 0.999})
    strict = dataclasses.replace(
        world, spec=strict_spec, defs=build_definitions(strict_spec, str(world.root))
    )
    refused = strict.train()
    assert not refused.success  # the blocking gate stops the run before the decision
    rejected = strict.latest_metadata("model_candidate")["version"]
    return Story(world, training.run_id, trained, requested.run_id, rejected)
