"""`performance` and `slo_status` over the tiny pipeline: per-day metrics, SLO checks, alerts."""

import json
from typing import Any

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, materialize
from pipeline_support import (
    ALL_KEYS,
    CHANGE_POINT_DAY,
    QUIET,
    PipelineWorld,
    failures,
    range_tags,
)

from binclf.monitor.triggers import SloBurnEvidence

pytest_plugins = ["pipeline_support"]
MONITORED = ALL_KEYS[CHANGE_POINT_DAY - 6 :]


@pytest.fixture(scope="module")
def performed(world: PipelineWorld) -> Any:
    scored = world.run_range("monitoring_job", MONITORED[0], MONITORED[-1])
    assert scored.success, failures(scored)
    job = world.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=world.instance,
        asset_selection=[AssetKey("performance")],
        tags=range_tags(MONITORED[0], MONITORED[-1]),
        run_config=QUIET,
        raise_on_error=False,
    )
    assert result.success, failures(result)
    status = materialize(
        list(world.defs.assets),
        selection=AssetSelection.assets("slo_status"),
        instance=world.instance,
        resources=world.defs.resources,
        run_config=QUIET,
    )
    assert status.success, failures(status)
    return status


def test_performance_stores_estimated_realized_and_blended_metrics_per_day(
    world: PipelineWorld, performed: Any
) -> None:
    for key in MONITORED:
        stored = json.loads(world.store.path("performance", key).with_suffix(".json").read_text())
        assert stored["n_rows"] == world.store.read("scores", key).height
        est = stored["estimated"]["recall"]
        assert est["low"] <= est["value"] <= est["high"]
        assert 0.0 <= stored["labeled_share"] <= 1.0
        assert stored["counts"]["day"] == key


def test_slo_status_yields_a_check_per_slo_and_rule_with_a_runbook(
    world: PipelineWorld, performed: Any
) -> None:
    evaluations = {e.check_name: e for e in performed.get_asset_check_evaluations()}
    assert "recall_fast_burn" in evaluations and "recall_slow_burn" in evaluations
    assert len(evaluations) == 14
    fast = evaluations["recall_fast_burn"]
    assert (
        fast.severity.value == "ERROR" and evaluations["recall_slow_burn"].severity.value == "WARN"
    )
    if fast.metadata:
        assert fast.metadata["runbook"].value.endswith("slo-fast-burn.md")
    latest = world.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("slo_status"), "recall_fast_burn")]
    )
    assert latest


def test_slo_status_records_each_slos_burn_for_the_retrain_sensor(
    world: PipelineWorld, performed: Any
) -> None:
    burns = world.latest_metadata("slo_status")["slo_burns"]
    evidence = {name: SloBurnEvidence.from_dict(row) for name, row in burns.items()}
    stored = world.defs.resources["state"].store()
    newest = json.loads(stored.path("performance", MONITORED[-1]).with_suffix(".json").read_text())
    left_out = world.latest_metadata("slo_status")["default_slos_left_out"]
    assert "label_coverage" in evidence and "ece" in evidence
    for sli in ("recall", "precision", "false_positive_rate"):  # burns, or said why it cannot
        assert (sli in evidence) != bool(left_out.get(sli)), (sli, left_out)
    for item in evidence.values():
        assert item.as_of == MONITORED[-1]
        assert item.model_version == newest["model_version"]
        assert item.severity in (None, "ticket", "page")
        assert item.volume >= 0 and item.min_volume > 0


def test_slo_status_plots_each_slo_over_time_from_the_timeline_it_stores(
    world: PipelineWorld, performed: Any
) -> None:
    metadata = world.latest_metadata("slo_status")
    stored = json.loads(world.store.path("slo_status").with_suffix(".json").read_text())
    timelines, statuses = stored["timelines"], stored["statuses"]
    assert set(timelines) == set(statuses) and "label_coverage" in timelines
    for name, timeline in timelines.items():
        assert metadata[f"chart_{name}"].startswith(f"![SLO {name}](data:image/png;base64,")
        assert timeline["days"][-1] == statuses[name]["as_of"]
        assert timeline["sli_values"][-1] == statuses[name]["sli_value"]
        assert timeline["remaining_budget"][-1] == statuses[name]["remaining_budget"]
    assert "scoring_freshness" not in statuses  # a synthetic replay has no wall clock


def test_decision_coverage_counts_the_validated_events_of_each_day(
    world: PipelineWorld, performed: Any
) -> None:
    for key in MONITORED:
        stored = json.loads(world.store.path("performance", key).with_suffix(".json").read_text())
        assert stored["counts"]["n_validated"] == world.store.read("validated_events", key).height
