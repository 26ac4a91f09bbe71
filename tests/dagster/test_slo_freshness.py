"""Scoring freshness reads when each day was first scored from the event log of a real instance."""

import time
from datetime import UTC, date, datetime

from dagster import AssetKey, AssetMaterialization, DagsterInstance

from assets.slo_status import first_scored


def test_the_first_scoring_of_each_day_counts_and_a_rescoring_does_not_move_it() -> None:
    with DagsterInstance.ephemeral() as instance:
        for key in ("2026-03-01", "2026-03-02", "2026-03-01"):  # the 1st is scored twice
            instance.report_runless_asset_event(
                AssetMaterialization(asset_key="scores", partition=key)
            )
            time.sleep(0.01)  # distinct timestamps
        records = instance.fetch_materializations(AssetKey("scores"), limit=10).records
        first = first_scored(instance, ["2026-03-01", "2026-03-02", "2026-03-03"])

    oldest = {r.partition_key: r.timestamp for r in sorted(records, key=lambda r: r.storage_id)[:2]}
    assert set(first) == {date(2026, 3, 1), date(2026, 3, 2)}
    assert first[date(2026, 3, 1)] == datetime.fromtimestamp(oldest["2026-03-01"], UTC)
    assert first[date(2026, 3, 2)] == datetime.fromtimestamp(oldest["2026-03-02"], UTC)
    newest = max(r.timestamp for r in records if r.partition_key == "2026-03-01")
    assert first[date(2026, 3, 1)] < datetime.fromtimestamp(newest, UTC)
