"""The champion pointer and the drift reports in the UI: a promotion marks scored days stale,
the observation of the pointer carries the registry, and a report is linked as a URL where a
server for the reports folder is configured."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import AssetKey
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    CachingStaleStatusResolver,
    StaleStatus,
    get_input_data_version_tag,
)
from dagster._core.loader import LoadingContextForTest
from pipeline_support import ALL_KEYS, PipelineWorld, failures

from assets.resources import StateResource

pytest_plugins = ["pipeline_support"]

CHAMPION = "v0001"
MONITORED = ALL_KEYS[12:]
NO_HTML = {"ops": {"drift": {"config": {"html_report": "none"}}}}


def test_a_report_is_linked_as_a_url_where_a_server_for_the_reports_folder_is_configured(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BINCLF_REPORTS_URL", raising=False)
    served = StateResource(root=str(tmp_path), reports_url="http://127.0.0.1:8001/")
    report = served.reports() / "drift" / CHAMPION / "2026-04-30.html"

    assert served.report_url(report) == f"http://127.0.0.1:8001/drift/{CHAMPION}/2026-04-30.html"
    assert StateResource(root=str(tmp_path)).report_url(report) is None


def _scores_status(world: PipelineWorld, key: str) -> StaleStatus:
    resolver = CachingStaleStatusResolver(
        world.instance, world.defs.resolve_asset_graph(), LoadingContextForTest(world.instance)
    )
    return resolver.get_status(AssetKey("scores"), key)


def test_a_promotion_marks_the_scored_days_stale_and_lineage_names_the_scoring_version(
    fresh_world: PipelineWorld,
) -> None:
    world, day = fresh_world, MONITORED[0]
    second = world.register_copy(CHAMPION)
    promote = {"ops": {"promote_version": {"config": {"version": second, "reason": "test"}}}}

    assert world.run("promote_job", promote).success
    scored = world.run("monitoring_job", NO_HTML, partition_key=day)
    fresh = _scores_status(world, day)
    assert world.run(
        "rollback_job", {"ops": {"rollback_champion": {"config": {"reason": "r"}}}}
    ).success
    stale = _scores_status(world, day)

    assert scored.success, failures(scored)
    (event,) = [
        e for e in scored.get_asset_materialization_events() if e.asset_key == AssetKey("scores")
    ]
    assert event.materialization.tags[get_input_data_version_tag(AssetKey("champion_model"))] == (
        second
    )
    assert (fresh, stale) == (StaleStatus.FRESH, StaleStatus.STALE)
    observed = world.instance.fetch_observations(AssetKey("champion_model"), limit=1).records[0]
    metadata = {k: v.value for k, v in observed.asset_observation.metadata.items()}
    assert observed.asset_observation.tags[DATA_VERSION_TAG] == metadata["champion"] == CHAMPION
    assert f"| {second} |" in metadata["registry"] and "| rollback |" in metadata["audit"]
