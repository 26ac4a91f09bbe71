"""The Dagster code location: everything the UI, the CLI and the daemon load."""

import warnings

from dagster import BetaWarning, Definitions, ExecutorDefinition, in_process_executor

from assets.ingest import ingest_assets
from assets.io_manager import ParquetJsonIOManager
from assets.monitoring import monitoring_assets
from assets.partitions import daily_partitions
from assets.resources import StateResource
from assets.training import training_assets
from binclf.io import state
from binclf.spec import DatasetSpec, load_spec
from pipelines.jobs import asset_jobs, registry_jobs, schedules
from pipelines.sensors import build_drift_sensor, build_label_sensor

# backfill_policy is marked beta; single-run backfills are how this project ingests ranges.
warnings.filterwarnings("ignore", category=BetaWarning)


def build_definitions(
    spec: DatasetSpec,
    state_root: str | None = None,
    executor: ExecutorDefinition = in_process_executor,
) -> Definitions:
    """All assets, jobs, schedules and sensors of one dataset, run by `executor`."""
    partitions = daily_partitions(spec)
    root = state.state_root(state_root)
    jobs = asset_jobs(partitions)
    sensors = [build_drift_sensor(spec, jobs["training_job"])]
    if spec.time_column:
        sensors.append(build_label_sensor(spec, jobs["training_job"]))
    else:  # a snapshot has no label times: nothing to refresh, no label sensor
        jobs.pop("labels_job")
    training = training_assets(spec)
    # Training intermediates are kept per run, so two training runs never read each other's.
    run_scoped = sorted(key.to_python_identifier() for a in training for key in a.keys)
    return Definitions(
        assets=[
            *ingest_assets(spec, partitions),
            *training,
            *monitoring_assets(spec, partitions),
        ],
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
        },
    )


defs = build_definitions(load_spec())
