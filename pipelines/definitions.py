"""The Dagster code location: everything the UI, the CLI and the daemon load."""

import warnings

from dagster import BetaWarning, Definitions, ExecutorDefinition, in_process_executor

from assets.champion import champion_assets
from assets.health import health_assets
from assets.ingest import ingest_assets
from assets.io_manager import ParquetJsonIOManager
from assets.monitoring import monitoring_assets
from assets.partitions import daily_partitions
from assets.performance import performance_assets
from assets.resources import StateResource
from assets.training import training_assets
from binclf.io import state
from binclf.spec import DatasetSpec, FileSource, load_spec
from pipelines.alert_sinks import default_alert_sink
from pipelines.alerts import build_alert_sensor
from pipelines.arrivals import build_arrival_sensor
from pipelines.jobs import asset_jobs, registry_jobs, schedules
from pipelines.sensors import build_drift_sensor, build_label_sensor, build_slo_sensor


def build_definitions(
    spec: DatasetSpec,
    state_root: str | None = None,
    executor: ExecutorDefinition = in_process_executor,
) -> Definitions:
    """All assets, jobs, schedules and sensors of one dataset, run by `executor`."""
    partitions = daily_partitions(spec)
    root = state.state_root(state_root)
    jobs = asset_jobs(partitions)
    sensors = [build_drift_sensor(spec, jobs["training_job"], state.registry_dir(root))]
    if spec.time_column:
        sensors.append(build_label_sensor(spec, jobs["training_job"], state.registry_dir(root)))
        sensors.append(build_slo_sensor(spec, jobs["training_job"], state.registry_dir(root)))
    else:  # a snapshot has no label times: nothing to refresh, no label sensor
        jobs.pop("labels_job")
    if spec.time_column and isinstance(spec.source, FileSource):
        sensors.append(
            build_arrival_sensor(
                spec, partitions, jobs["ingest_job"], jobs["daily_job"], state.registry_dir(root)
            )
        )
    training = training_assets(spec)
    # Training intermediates are kept per run, so two training runs never read each other's.
    run_scoped = sorted(key.to_python_identifier() for a in training for key in a.keys)
    with warnings.catch_warnings():
        # backfill_policy is marked beta; single-run backfills are how this project ingests ranges.
        warnings.simplefilter("ignore", BetaWarning)
        assets = [
            *ingest_assets(spec, partitions),
            *training,
            *champion_assets(spec),
            *monitoring_assets(spec, partitions),
            *health_assets(spec),
            *(performance_assets(spec, partitions) if spec.time_column else []),
        ]
    sensors.append(build_alert_sensor(assets))
    return Definitions(
        assets=assets,
        jobs=[*jobs.values(), *registry_jobs(spec)],
        schedules=schedules(spec, partitions, jobs),
        sensors=sensors,
        # By default the steps of one run share a process: the chain is sequential, and each new
        # process would pay several seconds of imports. deploy/ passes the cluster executors.
        executor=executor,
        resources={
            "state": StateResource(root=str(root)),
            "io_manager": ParquetJsonIOManager(
                root=str(state.data_dir(root)), run_scoped=run_scoped
            ),
            "alert_sink": default_alert_sink(
                root
            ),  # the webhook when BINCLF_ALERT_WEBHOOK_URL is set
        },
    )


defs = build_definitions(load_spec())
