"""The retraining sensors, evaluated by Dagster on a real ephemeral instance.

Each case plants the materializations the monitoring assets would record (drift shares and volume
per partition, label counts and lateness, the time of the last training) and evaluates the sensor
tick as the daemon would. Monitoring thresholds of the tiny spec: drift share >= 0.3 on 3
consecutive partitions of >= 100 rows; 500 new labels or 80 % coverage; a 336 h label SLA; a 24 h
cooldown after training.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    MetadataValue,
    build_sensor_context,
)
from pipeline_support import day_key, tiny_spec

from pipelines.definitions import build_definitions

MONITORING = {
    "drift_share_threshold": 0.3,
    "drift_consecutive_partitions": 3,
    "drift_min_rows": 100,
    "retrain_cooldown_hours": 24,
    "min_new_labels": 500,
    "min_label_coverage": 0.8,
    "label_sla_hours": 336,
    "retrain_window_days": 10,
}
DRIFTED, CALM = 0.5, 0.1
ROWS, FEW_ROWS = 400, 40


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> Definitions:
    root = tmp_path_factory.mktemp("sensors") / "state"
    return build_definitions(tiny_spec(monitoring=MONITORING), str(root))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    instance = DagsterInstance.ephemeral()
    yield instance
    instance.dispose()


def plant_drift(instance: DagsterInstance, days: list[tuple[float, int]], first: int = 0) -> None:
    """The `drift` materializations of consecutive days, each with its own metadata (share
    drifted, rows), as the asset records them."""
    for i, (share, rows) in enumerate(days):
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key="drift",
                partition=day_key(first + i),
                metadata={
                    "share_drifted": MetadataValue.float(share),
                    "n_rows": MetadataValue.int(rows),
                },
            )
        )


def plant_labels(
    instance: DagsterInstance, *, new_labels: int, coverage: float, oldest_unlabeled_hours: float
) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key="label_summary",
            metadata={
                "n_labeled_since_training": MetadataValue.int(new_labels),
                "label_coverage": MetadataValue.float(coverage),
                "oldest_unlabeled_age_hours": MetadataValue.float(oldest_unlabeled_hours),
            },
        )
    )


def plant_training_now(instance: DagsterInstance) -> None:
    instance.report_runless_asset_event(AssetMaterialization(asset_key="model_candidate"))


def evaluate(defs: Definitions, instance: DagsterInstance, sensor: str, cursor: str | None = None):
    context = build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    return defs.resolve_sensor_def(sensor).evaluate_tick(context)


@dataclass(frozen=True)
class DriftCase:
    days: list[tuple[float, int]]
    runs: bool
    says: str
    trained_just_now: bool = False


DRIFT_CASES = {
    "below_threshold_everywhere": DriftCase(
        [(CALM, ROWS)] * 5, False, "0 of 3 consecutive partitions"
    ),
    "one_day_short_of_the_streak": DriftCase(
        [(CALM, ROWS), (CALM, ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS)],
        False,
        "2 of 3 consecutive partitions",
    ),
    "streak_broken_by_a_calm_day": DriftCase(
        [(DRIFTED, ROWS), (DRIFTED, ROWS), (CALM, ROWS), (DRIFTED, ROWS)],
        False,
        "1 of 3 consecutive partitions",
    ),
    "low_volume_day_does_not_count": DriftCase(
        [(CALM, ROWS), (DRIFTED, FEW_ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS)],
        False,
        f"skipped for low volume (< 100 rows): ['{day_key(1)}']",
    ),
    "only_low_volume_days": DriftCase(
        [(DRIFTED, FEW_ROWS)] * 4, False, "no new partition with at least 100 rows"
    ),
    "streak_within_the_cooldown": DriftCase(
        [(CALM, ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS)],
        False,
        "in cooldown",
        trained_just_now=True,
    ),
    "three_drifted_days": DriftCase(
        [(CALM, ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS), (DRIFTED, ROWS)],
        True,
        f"drift share >= 0.3 in 3 partitions {day_key(1)}..{day_key(3)}",
    ),
}


@pytest.mark.parametrize("name", list(DRIFT_CASES))
def test_drift_sensor_requests_training_only_for_a_persistent_drift_with_volume(
    defs: Definitions, instance: DagsterInstance, name: str
) -> None:
    case = DRIFT_CASES[name]
    plant_drift(instance, case.days)
    if case.trained_just_now:
        plant_training_now(instance)

    tick = evaluate(defs, instance, "drift_retrain_sensor")

    if not case.runs:
        assert tick.run_requests == []
        assert case.says in tick.skip_message
        return
    (request,) = tick.run_requests
    assert case.says in request.tags["binclf/reason"]
    assert request.tags["binclf/trigger"] == "drift"
    assert request.run_key.startswith(f"drift:{day_key(1)}..{day_key(3)}@")
    assert request.run_config == {
        "ops": {"training_window": {"config": {"window_days": MONITORING["retrain_window_days"]}}}
    }
    assert tick.cursor == day_key(3)


def test_drift_sensor_skips_before_any_drift_was_measured(
    defs: Definitions, instance: DagsterInstance
) -> None:
    tick = evaluate(defs, instance, "drift_retrain_sensor")
    assert tick.run_requests == []
    assert tick.skip_message == "no drift partitions materialized yet"


def test_drift_sensor_adds_no_retrain_to_a_training_run_already_running(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_drift(instance, [(DRIFTED, ROWS)] * 3)
    running = instance.add_run(
        DagsterRun(
            job_name="training_job", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED
        )
    )
    while_running = evaluate(defs, instance, "drift_retrain_sensor")
    instance.report_run_canceled(running)
    after_it_ended = evaluate(defs, instance, "drift_retrain_sensor")

    assert while_running.run_requests == []
    assert "a training run is already queued or running" in while_running.skip_message
    assert len(after_it_ended.run_requests) == 1


def test_drift_sensor_reads_the_newest_measurement_of_each_partition(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_drift(instance, [(DRIFTED, ROWS)] * 3)
    plant_drift(instance, [(CALM, ROWS)], first=2)  # day 2 re-measured against a new champion

    tick = evaluate(defs, instance, "drift_retrain_sensor")

    assert tick.run_requests == []
    assert "0 of 3 consecutive partitions" in tick.skip_message


def test_drift_sensor_evaluated_twice_asks_for_the_same_run_and_not_again_after_its_cursor(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_drift(instance, [(DRIFTED, ROWS)] * 3)

    first = evaluate(defs, instance, "drift_retrain_sensor")
    again = evaluate(defs, instance, "drift_retrain_sensor")
    after = evaluate(defs, instance, "drift_retrain_sensor", cursor=first.cursor)

    (request,) = first.run_requests
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    assert after.run_requests == []
    assert "no new partition" in after.skip_message


def test_drift_sensor_asks_again_only_for_a_new_streak_after_its_cursor(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_drift(instance, [(DRIFTED, ROWS)] * 3)
    cursor = evaluate(defs, instance, "drift_retrain_sensor").cursor
    plant_drift(instance, [(DRIFTED, ROWS)] * 2, first=3)

    two_more = evaluate(defs, instance, "drift_retrain_sensor", cursor=cursor)
    plant_drift(instance, [(DRIFTED, ROWS)], first=5)
    three_more = evaluate(defs, instance, "drift_retrain_sensor", cursor=cursor)

    assert two_more.run_requests == []
    assert "2 of 3 consecutive partitions" in two_more.skip_message
    (request,) = three_more.run_requests
    assert request.run_key.startswith(f"drift:{day_key(3)}..{day_key(5)}@")


@dataclass(frozen=True)
class LabelCase:
    labels: dict[str, Any]
    runs: bool
    says: str
    trained_just_now: bool = False


LABEL_CASES = {
    "few_new_labels_and_low_coverage": LabelCase(
        {"new_labels": 100, "coverage": 0.4, "oldest_unlabeled_hours": 30.0},
        False,
        "100 new labeled rows, coverage 40.0%: below 500 new rows",
    ),
    "labels_late_beyond_the_sla": LabelCase(
        {"new_labels": 5_000, "coverage": 0.9, "oldest_unlabeled_hours": 400.0},
        False,
        "labels late: the oldest awaited label has waited 400.0 h, beyond the SLA of 336.0 h",
    ),
    "enough_labels_within_the_cooldown": LabelCase(
        {"new_labels": 800, "coverage": 0.5, "oldest_unlabeled_hours": 30.0},
        False,
        "in cooldown",
        trained_just_now=True,
    ),
    "enough_new_labels": LabelCase(
        {"new_labels": 800, "coverage": 0.5, "oldest_unlabeled_hours": 30.0},
        True,
        "800 new labeled rows, coverage 50.0%",
    ),
    "enough_coverage": LabelCase(
        {"new_labels": 50, "coverage": 0.85, "oldest_unlabeled_hours": 30.0},
        True,
        "50 new labeled rows, coverage 85.0%",
    ),
}


@pytest.mark.parametrize("name", list(LABEL_CASES))
def test_label_sensor_requests_training_when_enough_labels_arrived_in_time(
    defs: Definitions, instance: DagsterInstance, name: str
) -> None:
    case = LABEL_CASES[name]
    plant_labels(instance, **case.labels)
    if case.trained_just_now:
        plant_training_now(instance)

    tick = evaluate(defs, instance, "label_freshness_sensor")

    if not case.runs:
        assert tick.run_requests == []
        assert case.says in tick.skip_message
        return
    (request,) = tick.run_requests
    assert request.tags["binclf/trigger"] == "labels"
    assert request.tags["binclf/reason"] == case.says
    assert request.run_key.startswith("labels:")
    assert request.run_config == {
        "ops": {"training_window": {"config": {"window_days": MONITORING["retrain_window_days"]}}}
    }


def test_label_sensor_asks_for_one_run_per_label_status_record(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_labels(instance, new_labels=800, coverage=0.5, oldest_unlabeled_hours=30.0)
    first = evaluate(defs, instance, "label_freshness_sensor")
    again = evaluate(defs, instance, "label_freshness_sensor", cursor=first.cursor)
    plant_labels(instance, new_labels=900, coverage=0.5, oldest_unlabeled_hours=30.0)
    newer = evaluate(defs, instance, "label_freshness_sensor", cursor=first.cursor)

    (request,) = first.run_requests
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    (new_request,) = newer.run_requests
    assert new_request.run_key != request.run_key


def test_label_sensor_does_not_ask_again_for_a_retrain_on_the_labels_it_already_asked_for(
    defs: Definitions, instance: DagsterInstance
) -> None:
    plant_labels(instance, new_labels=800, coverage=0.5, oldest_unlabeled_hours=30.0)
    first = evaluate(defs, instance, "label_freshness_sensor")
    # the retrain ran and the gates rejected it; the next daily record has no new label
    plant_labels(instance, new_labels=800, coverage=0.5, oldest_unlabeled_hours=30.0)
    same_labels = evaluate(defs, instance, "label_freshness_sensor", cursor=first.cursor)
    plant_labels(instance, new_labels=1_200, coverage=0.5, oldest_unlabeled_hours=30.0)
    new_labels = evaluate(defs, instance, "label_freshness_sensor", cursor=first.cursor)

    assert len(first.run_requests) == 1
    assert same_labels.run_requests == []
    assert "no label beyond the 800" in same_labels.skip_message
    (request,) = new_labels.run_requests
    assert request.run_key != first.run_requests[0].run_key


def test_label_sensor_skips_before_any_label_status_was_measured(
    defs: Definitions, instance: DagsterInstance
) -> None:
    tick = evaluate(defs, instance, "label_freshness_sensor")
    assert tick.run_requests == []
    assert tick.skip_message == "no label summary materialized yet"
