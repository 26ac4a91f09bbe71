"""The model health asset after a small monitoring run: its table repeats each day's stored
results, its charts are in the metadata and next to its JSON, and it asks to refresh after the
monitoring and label runs (days never monitored do not hold it back)."""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

import pytest
from dagster import AssetKey, AssetSelection, evaluate_automation_conditions, materialize
from pipeline_support import ALL_KEYS, QUIET, PipelineWorld, failures

pytest_plugins = ["pipeline_support"]

MONITORED = ALL_KEYS[14:20]  # across the change point (day 16); the other days stay unmonitored
NO_HTML = {"ops": {"drift": {"config": {"html_report": "none"}}}}
CHARTS = ("drift_share", "feature_drift", "prediction_drift", "realized_performance")
HEALTH = AssetKey("model_health")


def _stored(world: PipelineWorld, asset: str, key: str | None = None) -> Any:
    return json.loads(world.store.path(asset, key).with_suffix(".json").read_text())


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


def _requested(world: PipelineWorld, cursor: Any = None) -> tuple[int, Any]:
    result = evaluate_automation_conditions(
        defs=world.defs,
        instance=world.instance,
        asset_selection=AssetSelection.assets(HEALTH),
        cursor=cursor,
    )
    return result.get_num_requested(HEALTH), result.cursor


@pytest.fixture(scope="module")
def health(world: PipelineWorld) -> dict[str, Any]:
    _, cursor = _requested(world)  # the automation sensor's first tick, before any monitoring
    run = world.run_range("monitoring_job", MONITORED[0], MONITORED[-1], run_config=NO_HTML)
    assert run.success, failures(run)
    requested, cursor = _requested(world, cursor)
    result = materialize(
        list(world.defs.assets),
        selection=AssetSelection.assets(HEALTH),
        instance=world.instance,
        resources=world.defs.resources,
        run_config=QUIET,
    )
    assert result.success
    return {"requested_after_monitoring": requested, "cursor": cursor}


def test_health_table_holds_each_monitored_days_stored_results(
    world: PipelineWorld, health: dict[str, Any]
) -> None:
    stored = _stored(world, "model_health")
    rows = {row["day"]: row for row in stored["days"]}

    assert sorted(rows) == MONITORED
    for key in MONITORED:
        drift = _stored(world, "drift", key)
        labels = _stored(world, "label_status_report", key)
        scores = world.store.read("scores", key)
        row = rows[key]
        assert row["share_drifted"] == pytest.approx(drift["share_drifted"], rel=1e-3)
        assert row["alarm"] == drift["alarm"]
        assert row["n_rows"] == drift["n_rows"] == scores.height
        assert row["model_version"] == drift["model_version"]
        assert row["drifted_columns"] == len(drift["drifted_columns"])
        assert row["flag_rate"] == pytest.approx(scores["decision"].mean(), rel=1e-3)
        assert row["mean_probability"] == pytest.approx(scores["probability"].mean(), rel=1e-3)
        assert row["label_coverage"] == pytest.approx(labels["label_coverage"], rel=1e-3)
    streak = 0
    for key in MONITORED:
        streak = streak + 1 if rows[key]["alarm"] else 0
        assert rows[key]["alarm_streak"] == streak


def test_health_metadata_shows_the_table_and_four_readable_charts(
    world: PipelineWorld, health: dict[str, Any]
) -> None:
    metadata = world.latest_metadata("model_health")

    assert metadata["days"] == len(MONITORED)
    assert (metadata["first_day"], metadata["last_day"]) == (MONITORED[0], MONITORED[-1])
    for key in MONITORED:
        assert f"| {key} |" in metadata["per_day"]
    folder = world.store.path("model_health").parent
    for name in CHARTS:
        match = re.fullmatch(
            r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata[f"chart_{name}"]
        )
        assert match, name
        png = base64.b64decode(match.group(1))
        assert _png_size(png) == (600, 450), name
        assert (folder / f"{name}.png").read_bytes() == png, name


def test_health_asks_to_refresh_after_monitoring_and_label_runs_only(
    world: PipelineWorld, health: dict[str, Any]
) -> None:
    assert health["requested_after_monitoring"] == 1
    requested, cursor = _requested(world, health["cursor"])
    assert requested == 0  # just materialized, nothing new upstream

    run = world.run_range("labels_job", MONITORED[-1], MONITORED[-1])
    assert run.success, failures(run)
    requested, _ = _requested(world, cursor)
    assert requested == 1
