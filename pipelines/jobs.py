"""Jobs and schedules: daily ingest-and-monitor, training, re-scoring, promotion and rollback."""

from dagster import (
    AssetSelection,
    Config,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    job,
    op,
    schedule,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from pydantic import Field

from assets.champion import champion_observation
from assets.resources import StateResource
from binclf.spec import DatasetSpec

INGEST = AssetSelection.assets("raw_events", "validated_events")
# model_health refreshes by its automation condition after these jobs, not inside them. The
# performance group (per-day estimates, SLO status and its burn checks) runs with every scoring,
# so the SLOs and their alerts follow the newest day.
MONITOR = (
    AssetSelection.groups("monitoring") | AssetSelection.groups("performance")
) - AssetSelection.assets("model_health")
TRAIN = AssetSelection.groups("training")


def asset_jobs(partitions: DailyPartitionsDefinition) -> dict:
    """The asset jobs, by name."""
    return {
        "profile_job": define_asset_job(
            "profile_job",
            selection=AssetSelection.assets("validation_profile"),
            description="Learn the validation profile (kinds, levels, null shares) from the "
            "reference days; run it before the first backfill and after a schema change.",
        ),
        "ingest_job": define_asset_job(
            "ingest_job",
            selection=INGEST,
            partitions_def=partitions,
            description="Read and validate daily partitions of raw events.",
        ),
        "training_job": define_asset_job(
            "training_job",
            selection=TRAIN,
            description="Window, splits, search, calibration, threshold, evaluation, "
            "registration, gates and the champion decision.",
        ),
        "monitoring_job": define_asset_job(
            "monitoring_job",
            selection=MONITOR,
            partitions_def=partitions,
            description="Score with the champion, measure drift, labels, estimated performance "
            "and the SLOs. Run it over a range after a promotion to re-score those days with the "
            "new champion.",
        ),
        "labels_job": define_asset_job(
            "labels_job",
            selection=AssetSelection.assets("label_status_report", "label_summary"),
            partitions_def=partitions,
            description="Refresh label coverage and delayed performance as late labels arrive.",
        ),
        "daily_job": define_asset_job(
            "daily_job",
            selection=INGEST | MONITOR,
            partitions_def=partitions,
            description="Ingest, validate, score, drift, labels, performance and SLOs for one day.",
        ),
    }


def label_refresh_schedule(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition, labels_job: object
) -> ScheduleDefinition:
    """Daily: re-measure labels of the trailing days in one run, as late labels arrive."""

    @schedule(
        job=labels_job,
        cron_schedule="0 3 * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def label_refresh_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        keys = partitions.get_partition_keys(current_time=context.scheduled_execution_time)
        window = keys[-spec.monitoring.label_refresh_days :]
        if not window:
            return SkipReason("no partition has ended yet")
        return RunRequest(
            run_key=f"labels:{window[0]}..{window[-1]}",
            tags={
                ASSET_PARTITION_RANGE_START_TAG: window[0],
                ASSET_PARTITION_RANGE_END_TAG: window[-1],
            },
        )

    return label_refresh_schedule


def schedules(spec: DatasetSpec, partitions: DailyPartitionsDefinition, jobs: dict) -> list:
    """Yesterday's daily job, the trailing label refresh and a weekly retrain; all start stopped."""
    refresh = (
        [label_refresh_schedule(spec, partitions, jobs["labels_job"])]
        if "labels_job" in jobs
        else []
    )
    return [
        *refresh,
        build_schedule_from_partitioned_job(
            jobs["daily_job"], hour_of_day=2, default_status=DefaultScheduleStatus.STOPPED
        ),
        ScheduleDefinition(
            name="weekly_retrain_schedule",
            job=jobs["training_job"],
            cron_schedule="0 4 * * 1",
            execution_timezone="UTC",
            default_status=DefaultScheduleStatus.STOPPED,
        ),
    ]


class PromoteConfig(Config):
    version: str = Field(description="the version to make champion, e.g. v0003")
    reason: str = Field("manual promotion from the Dagster UI")


class RollbackConfig(Config):
    reason: str = Field("manual rollback from the Dagster UI")


def registry_jobs(spec: DatasetSpec) -> list:
    """Promotion and rollback as jobs, so they are buttons in the UI and leave an audit entry."""

    # The ops return nothing: their effect is the registry's pointer and audit log, and an
    # op output would be handed to the asset IO manager, which only stores asset values.
    @op
    def promote_version(
        context: OpExecutionContext, config: PromoteConfig, state: StateResource
    ) -> None:
        registry = state.registry()
        registry.open_files(spec.name, config.version)  # refuses a tampered or unknown version
        current = registry.champion(spec.name)
        moved = registry.promote(
            spec.name,
            config.version,
            expected_champion=current,
            reason=config.reason,
            decision={"promote": True, "reason_codes": ["MANUAL"], "previous": current},
        )
        if not moved:
            raise RuntimeError("another promotion moved the champion first; nothing changed")
        context.log.info(f"champion {current} -> {config.version}")
        context.log_event(champion_observation(registry, spec.name))

    @op
    def rollback_champion(
        context: OpExecutionContext, config: RollbackConfig, state: StateResource
    ) -> None:
        registry = state.registry()
        current = registry.champion(spec.name)
        version = registry.rollback(spec.name, reason=config.reason)
        context.log.info(f"champion {current} rolled back to {version}")
        context.log_event(champion_observation(registry, spec.name))

    @job(description="Make a registered version the champion (audited).")
    def promote_job() -> None:
        promote_version()

    @job(description="Restore the previous champion (audited).")
    def rollback_job() -> None:
        rollback_champion()

    return [promote_job, rollback_job]
