"""The SLO retrain sensor, evaluated by Dagster on a real ephemeral instance.

Each case plants the `slo_status` materialization the performance group would record (each SLO's
severity, volume and the version that scored the newest day) and evaluates the tick as the daemon
would; a requested retrain is also written, as an action, to the file alert sink.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

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

MONITORING = {"retrain_cooldown_hours": 24, "retrain_window_days": 10}
SENSOR = "slo_retrain_sensor"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Definitions, DagsterInstance, Path]]:
    root = tmp_path / "state"
    defs = build_definitions(tiny_spec(monitoring=MONITORING), str(root))
    with DagsterInstance.ephemeral() as instance:
        yield defs, instance, root / "reports" / "alerts.jsonl"


def plant_slo_status(instance: DagsterInstance, day: int, **severities: str | None) -> None:
    burns = {
        name: {
            "slo": name,
            "sli": name,
            "as_of": day_key(day),
            "severity": severity,
            "volume": 120.0,
            "min_volume": 30.0,
            "model_version": None,
        }
        for name, severity in severities.items()
    }
    instance.report_runless_asset_event(
        AssetMaterialization(
            asset_key="slo_status", metadata={"slo_burns": MetadataValue.json(burns)}
        )
    )


def evaluate(defs: Definitions, instance: DagsterInstance, cursor: str | None = None):
    context = build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor, resources=defs.resources
    )
    return defs.resolve_sensor_def(SENSOR).evaluate_tick(context)


def alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_fast_recall_burn_requests_one_retrain_and_the_alert_says_so(world) -> None:
    defs, instance, sink = world
    plant_slo_status(instance, 20, recall="page", precision=None, label_coverage="page")

    tick = evaluate(defs, instance)

    (request,) = tick.run_requests
    assert request.run_key.startswith(f"slo:recall@{day_key(20)}@")
    assert request.tags["binclf/trigger"] == "slo"
    assert request.tags["binclf/reason"] == f"SLO recall burning fast (page) as of {day_key(20)}"
    assert request.run_config == {"ops": {"training_window": {"config": {"window_days": 10}}}}
    assert tick.cursor == day_key(20)
    (action,) = alerts(sink)
    assert action["status"] == "action"
    assert action["text"].startswith(
        f"[ACTION] retrain requested: training_job, run_key {request.run_key}, because SLO recall"
    )
    assert "slo-fast-burn.md" in action["text"]

    again = evaluate(defs, instance, cursor=tick.cursor)
    assert again.run_requests == []
    assert "no new page-level burn" in again.skip_message
    assert len(alerts(sink)) == 1


@pytest.mark.parametrize(
    ("severities", "says"),
    [
        ({"recall": "ticket"}, "ticket only: recall"),
        ({"decision_coverage": "page"}, "no new page-level burn of a performance SLO"),
        ({"precision": None}, "no new page-level burn of a performance SLO"),
    ],
)
def test_no_retrain_without_a_page_level_performance_burn(world, severities, says) -> None:
    defs, instance, sink = world
    plant_slo_status(instance, 20, **severities)

    tick = evaluate(defs, instance)

    assert tick.run_requests == []
    assert says in tick.skip_message
    assert alerts(sink) == []


def test_no_retrain_within_the_cooldown_or_while_a_training_run_is_running(world) -> None:
    defs, instance, sink = world
    plant_slo_status(instance, 20, recall="page")
    training = instance.add_run(
        DagsterRun(
            job_name="training_job", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED
        )
    )
    running = evaluate(defs, instance)
    instance.report_runless_asset_event(AssetMaterialization(asset_key="model_candidate"))
    instance.report_run_canceled(training)
    cooling = evaluate(defs, instance)

    assert running.run_requests == [] and cooling.run_requests == []
    assert "a training run is already queued or running" in running.skip_message
    assert "in cooldown" in cooling.skip_message
    assert alerts(sink) == []


def test_the_sensor_skips_before_any_slo_status(world) -> None:
    defs, instance, _ = world
    tick = evaluate(defs, instance)
    assert tick.skip_message == "no SLO status materialized yet"
