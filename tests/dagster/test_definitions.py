"""The code location loads and declares what the UI, the daemon and the CLI rely on.

Expected names are written out here: a renamed asset, a gate without a blocking check, or a
schedule that would start by itself on deployment must fail this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    build_schedule_context,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from binclf.ingest.sources import read_partition
from binclf.register.gates import evaluate_gates
from binclf.spec import DATASET_ENV, GateThresholds, load_spec, spec_from_dict

GROUPS = {
    "ingest": {"validation_profile", "raw_events", "validated_events"},
    "training": {
        "training_window",
        "training_splits",
        "model_search",
        "calibration",
        "decision_threshold",
        "candidate_evaluation",
        "model_candidate",
        "champion_decision",
    },
    "monitoring": {
        "champion_model",
        "scores",
        "drift",
        "label_status_report",
        "label_summary",
        "model_health",
    },
    "performance": {"performance", "slo_status"},
}
DAILY_MONITORING = {"scores", "drift", "label_status_report"}  # model_health refreshes after them
# SLOs follow every scoring; the run's label totals are summarized once
SCORING_JOB_ASSETS = DAILY_MONITORING | {"label_summary", "performance", "slo_status"}
GATE_CHECKS = {
    "min_test_volume",
    "min_roc_auc",
    "min_pr_auc",
    "max_ece",
    "max_fairness_disparity",
    "min_slice_recall",
    "no_label_leakage",
}
JOB_ASSETS = {
    "ingest_job": {"raw_events", "validated_events"},
    "training_job": GROUPS["training"],
    "monitoring_job": SCORING_JOB_ASSETS,
    "daily_job": {"raw_events", "validated_events"} | SCORING_JOB_ASSETS,
    "labels_job": {"label_status_report", "label_summary"},
}
OP_JOBS = {"promote_job": "promote_version", "rollback_job": "rollback_champion"}
SCHEDULES = {
    "daily_job_schedule": "daily_job",
    "label_refresh_schedule": "labels_job",
    "weekly_retrain_schedule": "training_job",
}
SENSORS = {
    "drift_retrain_sensor": "training_job",
    "label_freshness_sensor": "training_job",
    "slo_retrain_sensor": "training_job",
    "alert_sensor": None,  # sends alerts, launches nothing
}


@pytest.fixture(scope="module")
def defs() -> Definitions:
    from pipelines.definitions import defs

    return defs


def _checks(defs: Definitions) -> dict[AssetCheckKey, bool]:
    """Every declared asset check with whether it blocks downstream steps."""
    return {spec.key: spec.blocking for a in defs.assets for spec in a.check_specs}


def test_every_asset_belongs_to_the_ingest_training_or_monitoring_group(
    defs: Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    by_group: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        by_group.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    assert by_group == GROUPS


def test_each_gate_is_a_named_blocking_check_on_model_candidate(defs: Definitions) -> None:
    checks = _checks(defs)
    candidate = AssetKey("model_candidate")
    gate_checks = {k.name: blocking for k, blocking in checks.items() if k.asset_key == candidate}
    assert gate_checks == dict.fromkeys(GATE_CHECKS, True)


def test_each_gate_check_says_in_words_what_it_asks_with_the_spec_threshold(
    defs: Definitions,
) -> None:
    from binclf.spec import GateThresholds

    thresholds = GateThresholds()  # the demo spec keeps the default gates
    described = {
        spec.key.name: spec.description
        for a in defs.assets
        for spec in a.check_specs
        if spec.key.asset_key == AssetKey("model_candidate")
    }
    assert set(described) == GATE_CHECKS
    for name, text in described.items():
        assert text and text[0].isupper() and "(" not in text.split()[0], (name, text)
        assert "('" not in text and name not in text, (name, text)
    assert str(thresholds.max_ece) in described["max_ece"]
    assert str(thresholds.min_test_positives) in described["min_test_volume"]


def test_validation_is_a_blocking_check_on_raw_events(defs: Definitions) -> None:
    assert _checks(defs)[AssetCheckKey(AssetKey("raw_events"), "passes_validation")] is True


def test_every_gate_the_evaluation_judges_is_reported_by_one_of_the_checks() -> None:
    from assets.training import GATE_CHECKS as CHECKED_GATES

    assert set(CHECKED_GATES) == GATE_CHECKS
    judged = {g.name for g in evaluate_gates({}, GateThresholds())}
    reported = [name for names in CHECKED_GATES.values() for name in names]
    assert sorted(reported) == sorted(judged)


@pytest.mark.parametrize("job", sorted(JOB_ASSETS))
def test_asset_job_selects_exactly_its_assets(defs: Definitions, job: str) -> None:
    selected = defs.resolve_job_def(job).asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in selected} == JOB_ASSETS[job]


@pytest.mark.parametrize("job", ["ingest_job", "monitoring_job", "daily_job", "labels_job"])
def test_daily_jobs_have_one_partition_per_day_of_the_spec(defs: Definitions, job: str) -> None:
    window = load_spec().partitions
    keys = defs.resolve_job_def(job).partitions_def.get_partition_keys()
    assert keys[0] == window.start_date.isoformat()
    assert keys[-1] == (window.end_date - timedelta(days=1)).isoformat()
    assert len(keys) == (window.end_date - window.start_date).days


@pytest.mark.parametrize("job", sorted(OP_JOBS))
def test_promotion_and_rollback_are_jobs_of_one_op(defs: Definitions, job: str) -> None:
    definition = defs.resolve_job_def(job)
    assert [node.name for node in definition.graph.nodes] == [OP_JOBS[job]]


def test_schedules_exist_for_their_jobs_and_start_stopped(defs: Definitions) -> None:
    schedules = {s.name: s for s in defs.schedules}
    assert {name: s.job_name for name, s in schedules.items()} == SCHEDULES
    assert {s.default_status for s in schedules.values()} == {DefaultScheduleStatus.STOPPED}
    assert schedules["weekly_retrain_schedule"].cron_schedule == "0 4 * * 1"


def test_sensors_exist_for_training_and_start_stopped(defs: Definitions) -> None:
    sensors = {s.name: s for s in defs.sensors}
    assert {n: s.job_name if s.has_jobs else None for n, s in sensors.items()} == SENSORS
    assert {s.default_status for s in sensors.values()} == {DefaultSensorStatus.STOPPED}


def test_label_refresh_schedule_requests_the_trailing_days_in_one_run(defs: Definitions) -> None:
    schedule = defs.get_schedule_def("label_refresh_schedule")
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 4, 20, 3, tzinfo=UTC))
    request = next(iter(schedule.evaluate_tick(context).run_requests))
    days = load_spec().monitoring.label_refresh_days
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-04-19"
    first = date(2026, 4, 19) - timedelta(days=days - 1)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == first.isoformat()


def test_model_health_refreshes_eagerly_after_the_monitoring_assets(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    health = graph.get(AssetKey("model_health"))
    assert health.partitions_def is None
    assert {k.to_user_string() for k in health.parent_keys} == DAILY_MONITORING
    assert health.automation_condition is not None
    assert health.automation_condition.get_label() == "eager"


def _file_spec_on_empty_folder(folder: Path, spec_dict: dict, **partitions: str) -> Path:
    """A spec file for a Parquet folder that holds no file yet."""
    (folder / "events").mkdir(parents=True)
    data = spec_dict("events", partitions={"start_date": "2026-03-01", **partitions})
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_definitions_load_on_an_empty_source_folder(tmp_path: Path, make_spec_dict) -> None:
    from pipelines.definitions import build_definitions

    spec = load_spec(_file_spec_on_empty_folder(tmp_path, make_spec_dict))
    defs = build_definitions(spec, state_root=str(tmp_path / "state"))

    Definitions.validate_loadable(defs)
    partitions = defs.resolve_job_def("daily_job").partitions_def
    assert partitions.end is None


def test_dagster_definitions_validate_passes_on_an_empty_source_folder(
    tmp_path: Path, make_spec_dict
) -> None:
    spec_path = _file_spec_on_empty_folder(tmp_path, make_spec_dict)
    env = {**os.environ, DATASET_ENV: str(spec_path), "BINCLF_STATE": str(tmp_path / "state")}
    env["DAGSTER_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipelines.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_added_after_load_is_a_partition_without_reload(
    tmp_path: Path, make_spec_dict, make_events
) -> None:
    from pipelines.definitions import build_definitions

    spec = load_spec(_file_spec_on_empty_folder(tmp_path, make_spec_dict))
    defs = build_definitions(spec, state_root=str(tmp_path / "state"))
    partitions = defs.resolve_job_def("daily_job").partitions_def
    before = partitions.get_partition_keys(current_time=datetime(2026, 3, 3, 9, tzinfo=UTC))
    assert before == ["2026-03-01", "2026-03-02"]

    day = make_events(days=3).filter(pl.col("event_time").dt.date() == date(2026, 3, 3))
    day.write_parquet(tmp_path / "events" / "2026-03-03.parquet")

    now = datetime(2026, 3, 4, 2, 5, tzinfo=UTC)
    assert partitions.get_partition_keys(current_time=now)[-1] == "2026-03-03"
    schedule = defs.get_schedule_def("daily_job_schedule")
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 3, 4, 2, tzinfo=UTC))
    request = next(iter(schedule.evaluate_tick(context).run_requests))
    assert request.partition_key == "2026-03-03"
    assert read_partition(spec, "2026-03-03").equals(day)


def test_a_replay_end_date_closes_the_partitions(tmp_path: Path, make_spec_dict) -> None:
    from pipelines.definitions import build_definitions

    spec = load_spec(_file_spec_on_empty_folder(tmp_path, make_spec_dict, end_date="2026-03-03"))
    partitions = (
        build_definitions(spec, str(tmp_path / "state")).resolve_job_def("daily_job").partitions_def
    )

    later = datetime(2026, 6, 1, tzinfo=UTC)
    assert partitions.get_partition_keys(current_time=later) == ["2026-03-01", "2026-03-02"]


def test_a_snapshot_dataset_is_one_partition(tmp_path: Path, make_spec_dict, make_events) -> None:
    from pipelines.definitions import build_definitions

    make_events().drop("event_time").write_parquet(tmp_path / "table.parquet")
    data = make_spec_dict(
        "table.parquet", time_column=None, partitions={"snapshot_date": "2025-06-30"}
    )
    spec = spec_from_dict(data, base_dir=tmp_path)
    defs = build_definitions(spec, state_root=str(tmp_path / "state"))

    partitions = defs.resolve_job_def("daily_job").partitions_def
    assert partitions.get_partition_keys(current_time=datetime(2027, 1, 1, tzinfo=UTC)) == [
        "2025-06-30"
    ]
