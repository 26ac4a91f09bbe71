"""Sensors that ask for retraining: thin shells over the decisions in `binclf.triggers`.

They only read materialization metadata (written by the `drift`, `label_summary` and
`slo_status` assets) and call a plain function; no data is loaded inside a sensor.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogRecord,
    JobDefinition,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from binclf.monitor.alerts import retrain_action_message
from binclf.monitor.triggers import (
    LabelEvidence,
    PartitionDrift,
    SloBurnEvidence,
    TriggerDecision,
    drift_retrain_decision,
    label_retrain_decision,
    slo_retrain_decision,
)
from binclf.register.registry import Registry
from binclf.spec import DatasetSpec
from pipelines.alert_sinks import AlertDeliveryError, AlertSink

PENDING = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def metadata_value(record: Any, name: str) -> Any:
    """The value of one metadata entry of a materialization record; None when absent."""
    entry = record.asset_materialization.metadata.get(name)
    return None if entry is None else entry.value


def latest_by_partition(instance: DagsterInstance, asset: str) -> dict[str, EventLogRecord]:
    """Each partition's newest materialization record of `asset`: the numbers the UI shows on
    that day, written by the asset for that day alone."""
    key = AssetKey(asset)
    ids = instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
    if not ids:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=len(ids)
    ).records
    return {str(r.partition_key): r for r in records}


def drift_history(instance: DagsterInstance) -> tuple[list[PartitionDrift], int | None]:
    """Drift share and volume of each partition's newest `drift` materialization (partition
    order), and the newest storage id among them."""
    records = latest_by_partition(instance, "drift")
    history = [
        PartitionDrift(
            key,
            float(metadata_value(record, "share_drifted")),
            int(metadata_value(record, "n_rows")),
            model_version=metadata_value(record, "model_version"),
        )
        for key, record in sorted(records.items())
        if metadata_value(record, "share_drifted") is not None
    ]
    newest = max((r.storage_id for r in records.values()), default=None)
    return history, newest


def last_training_time(instance: DagsterInstance) -> datetime | None:
    """When the last model candidate was registered."""
    records = instance.fetch_materializations(AssetKey("model_candidate"), limit=1).records
    return datetime.fromtimestamp(records[0].timestamp, tz=UTC) if records else None


def slo_burns(instance: DagsterInstance) -> tuple[list[SloBurnEvidence], int | None]:
    """Each SLO's burn as the newest `slo_status` recorded it, and that record's storage id."""
    records = instance.fetch_materializations(AssetKey("slo_status"), limit=1).records
    if not records:
        return [], None
    burns = metadata_value(records[0], "slo_burns") or {}
    return [SloBurnEvidence.from_dict(row) for row in burns.values()], records[0].storage_id


def training_pending(instance: DagsterInstance, job_name: str) -> bool:
    """Whether a run of the training job is queued or running."""
    return bool(instance.get_runs(RunsFilter(job_name=job_name, statuses=PENDING), limit=1))


def retrain_run_config(spec: DatasetSpec) -> dict[str, Any]:
    """The training run a sensor asks for: the spec's retrain window, when it sets one."""
    days = spec.monitoring.retrain_window_days
    if days is None:
        return {}
    return {"ops": {"training_window": {"config": {"window_days": days}}}}


def retrain_request(
    spec: DatasetSpec, decision: TriggerDecision, *, trigger: str, run_key: str
) -> SensorResult | SkipReason:
    """A sensor's answer to a decision: skip with its reason, or one training run."""
    if not decision.run:
        return SkipReason(decision.reason)
    request = RunRequest(
        run_key=run_key,
        run_config=retrain_run_config(spec),
        tags={"binclf/trigger": trigger, "binclf/reason": decision.reason[:250]},
    )
    return SensorResult(run_requests=[request], cursor=decision.cursor)


def build_drift_sensor(
    spec: DatasetSpec, job: JobDefinition | UnresolvedAssetJobDefinition, registry_root: Path
):
    """Retrain when drift persists, with volume, on partitions the current champion scored."""
    settings = spec.monitoring

    @sensor(
        job=job,
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests training_job when the share of drifted features stays above "
        f"{settings.drift_share_threshold} for {settings.drift_consecutive_partitions} partitions.",
    )
    def drift_retrain_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        history, newest = drift_history(context.instance)
        if newest is None:
            return SkipReason("no drift partitions materialized yet")
        decision = drift_retrain_decision(
            history,
            share_threshold=settings.drift_share_threshold,
            consecutive=settings.drift_consecutive_partitions,
            min_rows=settings.drift_min_rows,
            last_training_at=last_training_time(context.instance),
            now=datetime.now(UTC),
            cooldown=timedelta(hours=settings.retrain_cooldown_hours),
            last_triggered_key=context.cursor or None,
            champion=Registry(registry_root).champion(spec.name),
            training_pending=training_pending(context.instance, job.name),
        )
        run_key = f"{decision.run_key}@{newest}"
        return retrain_request(spec, decision, trigger="drift", run_key=run_key)

    return drift_retrain_sensor


def build_slo_sensor(
    spec: DatasetSpec, job: JobDefinition | UnresolvedAssetJobDefinition, registry_root: Path
):
    """Retrain when a performance SLO burns at page level; say so through the alert sink."""
    settings = spec.monitoring

    @sensor(
        job=job,
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests training_job when a performance SLO (recall, precision, FPR, "
        "FNR, expected cost, PR-AUC, ECE) burns fast, and sends what it did to the alert sink.",
    )
    def slo_retrain_sensor(
        context: SensorEvaluationContext, alert_sink: AlertSink
    ) -> SensorResult | SkipReason:
        burns, newest = slo_burns(context.instance)
        if newest is None:
            return SkipReason("no SLO status materialized yet")
        decision = slo_retrain_decision(
            burns,
            last_training_at=last_training_time(context.instance),
            now=datetime.now(UTC),
            cooldown=timedelta(hours=settings.retrain_cooldown_hours),
            last_triggered_day=context.cursor or None,
            champion=Registry(registry_root).champion(spec.name),
            training_pending=training_pending(context.instance, job.name),
        )
        run_key = f"{decision.run_key}@{newest}"
        answer = retrain_request(spec, decision, trigger="slo", run_key=run_key)
        if decision.run:
            try:  # the retrain goes ahead even when the note about it cannot be delivered
                alert_sink.send(
                    retrain_action_message(decision.reason, job=job.name, run_key=run_key)
                )
            except AlertDeliveryError as error:
                context.log.warning(f"retrain requested, its alert not sent: {error}")
        return answer

    return slo_retrain_sensor


def build_label_sensor(
    spec: DatasetSpec, job: JobDefinition | UnresolvedAssetJobDefinition, registry_root: Path
):
    """Retrain when enough new labels arrived since the last training; skip when labels are late
    or when the last requested training already saw every label there is."""
    settings = spec.monitoring

    @sensor(
        job=job,
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Requests training_job once {settings.min_new_labels} new labels arrived "
        "since the champion's training cutoff; skips while labels are late beyond the SLA.",
    )
    def label_freshness_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        records = context.instance.fetch_materializations(
            AssetKey("label_summary"), limit=1
        ).records
        if not records:
            return SkipReason("no label summary materialized yet")
        record = records[0]
        age = metadata_value(record, "oldest_unlabeled_age_hours")
        new_labels = int(metadata_value(record, "n_labeled_since_training") or 0)
        champion = Registry(registry_root).champion(spec.name)
        previous = LabelEvidence.from_cursor(context.cursor)
        decision = label_retrain_decision(
            new_labels,
            metadata_value(record, "label_coverage"),
            min_new_labels=settings.min_new_labels,
            min_coverage=settings.min_label_coverage,
            last_training_at=last_training_time(context.instance),
            now=datetime.now(UTC),
            cooldown=timedelta(hours=settings.retrain_cooldown_hours),
            oldest_unlabeled_age=timedelta(hours=age) if age is not None else None,
            label_sla=timedelta(hours=settings.label_sla_hours),
            cursor=str(record.storage_id),
            labels_seen=previous.seen_for(str(record.storage_id), champion) if previous else None,
        )
        if decision.run:
            evidence = LabelEvidence(str(record.storage_id), champion, new_labels)
            decision = replace(decision, cursor=evidence.to_cursor())
        return retrain_request(spec, decision, trigger="labels", run_key=str(decision.run_key))

    return label_freshness_sensor
