"""Monitoring through Dagster: a backfill in one run, scores tagged with their version, drift
after the change point, label status as the generator revealed it, and a tampered champion.

The module backfills days 12-23 of the tiny stream (the change point is day 16) with the champion
the session's template trained on labels known before the change point.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from dagster import AssetKey, AssetMaterialization, MetadataValue, build_sensor_context
from pipeline_support import (
    ALL_KEYS,
    CHANGE_POINT_DAY,
    DATASET,
    PipelineWorld,
    failures,
)

from binclf.ingest.synthetic import generate_day
from binclf.partitions import partition_day
from binclf.register.loading import load_version
from binclf.register.registry import IntegrityError
from binclf.train.models import LIGHTGBM_MODEL_FILE
from pipelines.sensors import drift_history

pytest_plugins = ["pipeline_support"]

CHAMPION = "v0001"
MONITORED = ALL_KEYS[12:]
MONITORING_ASSETS = ("scores", "drift", "label_status_report")
DAILY_PERFORMANCE = "performance"  # the job also refreshes performance per day, slo_status once
NO_HTML = {"ops": {"drift": {"config": {"html_report": "none"}}}}


@pytest.fixture(scope="module")
def backfill(world: PipelineWorld) -> Any:
    result = world.run_range("monitoring_job", MONITORED[0], MONITORED[-1])
    assert result.success, failures(result)
    return result


def _stored_json(world: PipelineWorld, asset: str, key: str) -> Any:
    return json.loads(world.store.path(asset, key).with_suffix(".json").read_text())


def _newest_metadata_by_partition(world: PipelineWorld, asset: str) -> dict[str, dict[str, Any]]:
    records = world.instance.fetch_materializations(AssetKey(asset), limit=100).records
    newest: dict[str, dict[str, Any]] = {}
    for record in records:  # newest first
        event = record.asset_materialization
        newest.setdefault(event.partition, {k: v.value for k, v in event.metadata.items()})
    return newest


def test_backfill_of_twelve_days_is_one_run_that_materializes_every_day(
    world: PipelineWorld, backfill: Any
) -> None:
    materialized: dict[str, set[str]] = {}
    for event in backfill.get_asset_materialization_events():
        materialized.setdefault(event.asset_key.to_user_string(), set()).add(event.partition)

    assert len(MONITORED) == 12
    per_day = {asset: set(MONITORED) for asset in (*MONITORING_ASSETS, DAILY_PERFORMANCE)}
    assert materialized == {**per_day, "label_summary": {None}, "slo_status": {None}}
    assert len(world.instance.get_run_records()) == 1
    for key in MONITORED:
        assert world.store.exists("scores", key)
        assert world.store.path("drift", key).with_suffix(".json").is_file()


def test_scores_are_the_champion_probabilities_tagged_with_its_version(
    world: PipelineWorld, backfill: Any
) -> None:
    champion = load_version(world.registry, DATASET, CHAMPION)
    for key in MONITORED:
        events = world.store.read("validated_events", key)
        scores = world.store.read("scores", key)
        assert scores.height == events.height
        assert scores["model_version"].unique().to_list() == [CHAMPION]
        assert scores["transaction_id"].equals(events["transaction_id"])
        expected = champion.bundle.probabilities(events)
        assert (scores["probability"].to_numpy() == expected).all()
        assert scores["decision"].equals(
            pl.Series("decision", expected >= champion.bundle.threshold)
        )
    assert world.latest_metadata("scores")["model_version"] == CHAMPION


def test_each_day_of_a_range_run_carries_its_own_scores_metadata(
    world: PipelineWorld, backfill: Any
) -> None:
    shown = _newest_metadata_by_partition(world, "scores")

    assert set(shown) == set(MONITORED)
    for key in MONITORED:
        stored = world.store.read("scores", key)
        assert shown[key]["rows"] == stored.height, key
        assert shown[key]["model_version"] == CHAMPION, key
        assert shown[key]["flag_rate"] == pytest.approx(stored["decision"].mean()), key
        assert shown[key]["mean_probability"] == pytest.approx(stored["probability"].mean()), key
        assert "preview" not in shown[key]  # scores show no rows unless the definition asks
    assert len({shown[k]["rows"] for k in MONITORED}) > 1  # not one day's numbers copied
    assert len({shown[k]["mean_probability"] for k in MONITORED}) == len(MONITORED)


def test_drift_stays_low_before_the_change_point_and_the_sensor_asks_for_retraining_after_it(
    world: PipelineWorld, backfill: Any
) -> None:
    threshold = world.spec.monitoring.drift_share_threshold
    history, _ = drift_history(world.instance)  # what the sensor reads: each day's own record
    change = ALL_KEYS[CHANGE_POINT_DAY]

    assert [day.partition_key for day in history] == MONITORED
    for day in history:
        key = day.partition_key
        assert day.n_rows == world.store.read("scores", key).height
        assert day.model_version == _stored_json(world, "drift", key)["model_version"] == CHAMPION
        if key < change:
            assert day.share_drifted < threshold, key

    sensor = world.defs.resolve_sensor_def("drift_retrain_sensor")
    tick = sensor.evaluate_tick(
        build_sensor_context(instance=world.instance, definitions=world.defs)
    )
    (request,) = tick.run_requests
    streak = request.run_key.split("@")[0].removeprefix("drift:").split("..")
    assert change <= streak[0] <= streak[1] == MONITORED[-1]


def test_each_day_of_a_range_run_carries_its_own_drift_metadata(
    world: PipelineWorld, backfill: Any
) -> None:
    records = world.instance.fetch_materializations(AssetKey("drift"), limit=100).records
    newest: dict[str, dict[str, Any]] = {}
    for record in records:  # newest first
        key = record.asset_materialization.partition
        newest.setdefault(
            key, {k: v.value for k, v in record.asset_materialization.metadata.items()}
        )

    assert set(newest) == set(MONITORED)
    for key in MONITORED:
        stored = _stored_json(world, "drift", key)
        shown = newest[key]
        assert shown["share_drifted"] == stored["share_drifted"], key
        assert shown["n_rows"] == stored["n_rows"] == world.store.read("scores", key).height, key
        assert shown["model_version"] == stored["model_version"] == CHAMPION, key
        assert shown["alarm"] == stored["alarm"], key
        assert shown["drifted_columns"] == (", ".join(stored["drifted_columns"]) or "none"), key
    assert len({newest[k]["n_rows"] for k in MONITORED}) > 1  # not one day's numbers copied


def test_each_alarm_day_has_its_own_report_named_by_version_and_linked_on_that_day(
    world: PipelineWorld, backfill: Any
) -> None:
    shown = _newest_metadata_by_partition(world, "drift")
    folder = world.defs.resources["state"].reports() / "drift" / CHAMPION
    alarms = [key for key in MONITORED if _stored_json(world, "drift", key)["alarm"]]

    assert alarms  # the change point makes some
    for key in MONITORED:
        path = folder / f"{key}.html"
        if key in alarms:
            assert shown[key]["html_report"] == str(path), key
            banner = path.read_text().split('id="binclf-alarm"')[1][:600]
            assert f"Drift of {key} against {CHAMPION}: " in banner
            assert "alarm ON" in banner
        else:
            assert not path.exists() and "html_report" not in shown[key], key


def test_a_days_report_is_written_once_and_never_replaced(fresh_world: PipelineWorld) -> None:
    world, day = fresh_world, MONITORED[-1]  # after the change point: the alarm fires
    path = world.defs.resources["state"].reports() / "drift" / CHAMPION / f"{day}.html"

    first = world.run("monitoring_job", partition_key=day)
    written = path.stat().st_mtime_ns
    again = world.run("monitoring_job", partition_key=day)

    assert first.success and again.success, failures(again)
    assert path.stat().st_mtime_ns == written
    assert _newest_metadata_by_partition(world, "drift")[day]["html_report"] == str(path)


def test_drift_measured_against_a_retired_champion_does_not_fire_the_sensor(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    for key in MONITORED:
        world.instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key="drift",
                partition=key,
                metadata={
                    "share_drifted": MetadataValue.float(1.0),
                    "n_rows": MetadataValue.int(10_000),
                    "model_version": MetadataValue.text("v0999"),
                },
            )
        )
    sensor = world.defs.resolve_sensor_def("drift_retrain_sensor")
    context = build_sensor_context(instance=world.instance, definitions=world.defs)

    tick = sensor.evaluate_tick(context)

    assert world.registry.champion(DATASET) == CHAMPION != "v0999"
    assert tick.run_requests == []
    assert "no new partition" in tick.skip_message


def test_each_day_carries_its_own_label_coverage_and_realized_metrics(
    world: PipelineWorld, backfill: Any
) -> None:
    shown = _newest_metadata_by_partition(world, "label_status_report")

    assert set(shown) == set(MONITORED)
    for key in MONITORED:
        stored = _stored_json(world, "label_status_report", key)
        assert shown[key]["n_rows"] == stored["n_rows"], key
        assert shown[key]["n_labeled"] == stored["n_labeled"], key
        assert shown[key]["label_coverage"] == pytest.approx(stored["label_coverage"]), key
        for name, value in stored["performance"].items():
            if isinstance(value, float):
                assert shown[key][f"realized_{name}"] == pytest.approx(value), (key, name)
    assert len({shown[k]["n_labeled"] for k in MONITORED}) > 1


def test_label_status_counts_the_labels_the_generator_revealed(
    world: PipelineWorld, backfill: Any
) -> None:
    cutoff = datetime.fromisoformat(
        load_version(world.registry, DATASET, CHAMPION).card["dataset"]["cutoff"]
    )
    since_training, rows, labeled_rows = 0, 0, 0
    for key in MONITORED:
        generated = generate_day(world.spec.source, partition_day(key))
        labeled = generated.filter(pl.col("is_fraud").is_not_null())
        rows, labeled_rows = rows + generated.height, labeled_rows + labeled.height
        status = _stored_json(world, "label_status_report", key)
        assert status["n_rows"] == generated.height
        assert status["n_labeled"] == labeled.height
        assert status["label_coverage"] == pytest.approx(labeled.height / generated.height)
        new = labeled.filter(pl.col("label_time") > cutoff).height
        assert status["n_labeled_since"] == new
        since_training += new

    summary = world.latest_metadata("label_summary")  # the run's totals, which the sensor reads
    assert summary["n_labeled_since_training"] == since_training > 0
    assert summary["partitions"] == len(MONITORED)
    assert summary["n_rows"] == rows
    assert summary["label_coverage"] == pytest.approx(labeled_rows / rows)
    newest_day = world.latest_metadata("label_status_report")  # that day's own numbers only
    assert summary["label_coverage"] != pytest.approx(newest_day["label_coverage"])
    assert not {"partitions", "n_labeled_since_training", "oldest_unlabeled_age_hours"} & set(
        newest_day
    )
    first, last = (
        _stored_json(world, "label_status_report", k) for k in (MONITORED[0], MONITORED[-1])
    )
    assert first["label_coverage"] > 0.8 > 0.2 > last["label_coverage"]  # labels arrive days later

    sensor = world.defs.resolve_sensor_def("label_freshness_sensor")
    tick = sensor.evaluate_tick(
        build_sensor_context(instance=world.instance, definitions=world.defs)
    )
    (request,) = tick.run_requests
    assert request.tags["binclf/reason"].startswith(f"{since_training} new labeled rows")


def test_label_status_reports_the_oldest_awaited_label_of_the_whole_run(
    world: PipelineWorld, backfill: Any
) -> None:
    ages = [
        _stored_json(world, "label_status_report", key)["oldest_unlabeled_age_hours"]
        for key in MONITORED
    ]
    reported = world.latest_metadata("label_summary")["oldest_unlabeled_age_hours"]
    assert reported == pytest.approx(max(ages))


def _with_threshold(files: dict[str, bytes], threshold: float) -> dict[str, bytes]:
    bundle = json.loads(files["bundle.json"])
    return {**files, "bundle.json": json.dumps({**bundle, "threshold": threshold}).encode()}


def test_rescoring_after_a_promotion_tags_the_new_version(fresh_world: PipelineWorld) -> None:
    world = fresh_world
    days = MONITORED[:3]
    flags_all = world.register_copy(CHAMPION, edit=lambda f: _with_threshold(f, 0.0))
    before = world.run_range("monitoring_job", days[0], days[-1], run_config=NO_HTML)
    promoted = world.run(
        "promote_job",
        {"ops": {"promote_version": {"config": {"version": flags_all, "reason": "new model"}}}},
    )

    after = world.run_range("monitoring_job", days[0], days[-1], run_config=NO_HTML)

    assert before.success and promoted.success and after.success, failures(after)
    assert world.latest_metadata("scores")["model_version"] == flags_all
    for key in days:
        scores = world.store.read("scores", key)
        assert scores["model_version"].unique().to_list() == [flags_all]
        assert scores["decision"].all()
        assert _stored_json(world, "drift", key)["model_version"] == flags_all
    versions = {
        e.materialization.metadata["model_version"].value
        for run in (before, after)
        for e in run.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "scores"
    }
    assert versions == {CHAMPION, flags_all}


def test_tampered_champion_refuses_to_load_and_scoring_fails_naming_the_file(
    fresh_world: PipelineWorld,
) -> None:
    world = fresh_world
    model = world.registry.root / DATASET / "versions" / CHAMPION / LIGHTGBM_MODEL_FILE
    text = model.read_bytes()
    model.write_bytes(text.replace(b"learning_rate", b"learning_rat3", 1))

    with pytest.raises(IntegrityError, match=f"file '{LIGHTGBM_MODEL_FILE}' does not match"):
        load_version(world.registry, DATASET, CHAMPION)
    result = world.run("monitoring_job", NO_HTML, partition_key=MONITORED[0])

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "scores"
    cause = failure.step_failure_data.error.cause
    assert cause.cls_name == "IntegrityError"
    assert f"{DATASET} {CHAMPION}: file '{LIGHTGBM_MODEL_FILE}'" in cause.message
    assert result.is_node_untouched("drift") and result.is_node_untouched("label_status_report")
    assert not world.store.exists("scores", MONITORED[0])
