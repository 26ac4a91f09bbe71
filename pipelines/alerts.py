"""The alert sensor: pages and tickets for SLO burns, failed blocking checks and failed runs.

A failed asset check does not fire a run-failure sensor in Dagster OSS, so this sensor reads the
newest evaluation of every blocking check and of the SLO checks, and the failed runs of the last
day, and lets `binclf.monitor.alerts.decide_alerts` choose what to send. Its cursor is the alert
ledger, so each condition is sent once, resolved once, and held back during the cooldown.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetsDefinition,
    DagsterRunStatus,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from binclf.monitor.alerts import (
    AlertCondition,
    AlertLedger,
    decide_alerts,
    failed_check_condition,
    run_failed_condition,
)
from pipelines.alert_sinks import AlertSink

SLO_ASSET = "slo_status"
RUN_LOOKBACK = timedelta(days=1)


def watched_checks(assets: Sequence[AssetsDefinition]) -> list[AssetCheckKey]:
    """Every blocking check, and every check of the SLO status asset."""
    keys = []
    for definition in assets:
        for spec in definition.check_specs:
            if spec.blocking or spec.asset_key.to_user_string() == SLO_ASSET:
                keys.append(spec.key)
    return sorted(keys, key=lambda k: k.to_user_string())


def current_conditions(
    context: SensorEvaluationContext,
    checks: Sequence[AssetCheckKey],
    *,
    base_url: str,
    now: datetime,
) -> list[AlertCondition]:
    """Failed checks (newest evaluation of each, or of each partition of a partitioned check)
    and runs that failed within a day."""
    conditions = []
    storage = context.instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(checks)
    for key, record in latest.items():
        description = _failure_description(storage, key, record)
        if description is None:
            continue
        conditions.append(
            failed_check_condition(
                key.asset_key.to_user_string(),
                key.name,
                description,
                slo_asset=SLO_ASSET,
                base_url=base_url,
            )
        )
    failed = context.instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE], updated_after=now - RUN_LOOKBACK),
        limit=50,
    )
    conditions += [
        run_failed_condition(r.run_id, r.job_name, None, base_url=base_url) for r in failed
    ]
    return conditions


def _description(record: Any) -> str | None:
    """The description of a failed evaluation ('' when it has none), None when it passed."""
    event = record.event.dagster_event if record.event else None
    evaluation = event.event_specific_data if event else None
    if evaluation is None or getattr(evaluation, "passed", True):
        return None
    return evaluation.description or ""


def _failure_description(storage: Any, key: AssetCheckKey, latest: Any) -> str | None:
    """Why a check is failing now, None when it is not.

    A partitioned check fails while any partition's newest verdict failed, whichever partition
    was judged last; the description counts those partitions and quotes the newest failure.
    """
    infos = storage.get_asset_check_partition_info([key])
    partitions = [p for p in infos if p.partition_key is not None]  # None: not partitioned
    if not partitions:
        return _description(latest)
    failed = sorted(
        p.partition_key
        for p in partitions
        if p.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED
    )
    if not failed:
        return None
    (newest,) = storage.get_asset_check_execution_history(
        key, limit=1, status={AssetCheckExecutionRecordStatus.FAILED}
    )
    span = failed[0] if len(failed) == 1 else f"{failed[0]} … {failed[-1]}"
    return f"failed on {len(failed)} partition(s) ({span}); newest: {_description(newest) or ''}"


def build_alert_sensor(
    assets: Sequence[AssetsDefinition],
    *,
    cooldown_hours: float = 24.0,
    runbook_base_url: str = "",
    minimum_interval_seconds: int = 300,
):
    """The `alert_sensor` over the checks of `assets`, sending through the `alert_sink`."""
    checks = watched_checks(assets)

    @sensor(name="alert_sensor", minimum_interval_seconds=minimum_interval_seconds)
    def alert_sensor(context: SensorEvaluationContext, alert_sink: AlertSink):
        """Pages and tickets for SLO burns, failed blocking checks and failed runs."""
        now = datetime.now(UTC)
        conditions = current_conditions(context, checks, base_url=runbook_base_url, now=now)
        ledger = AlertLedger.from_json(context.cursor)
        messages, new_ledger = decide_alerts(
            conditions, ledger, now=now, cooldown=timedelta(hours=cooldown_hours)
        )
        for message in messages:
            alert_sink.send(message)
            context.log.info(f"alert {message.status}: {message.key}")
        if not messages:
            return SensorResult(
                skip_reason=SkipReason("no new or cleared alerts"), cursor=new_ledger.to_json()
            )
        return SensorResult(cursor=new_ledger.to_json())

    return alert_sensor
