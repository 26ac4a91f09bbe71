"""The Dagster code location: everything the UI, the CLI and the daemon load."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from assets.ingest import ingest_assets
from assets.io_manager import ParquetJsonIOManager
from assets.partitions import daily_partitions
from assets.resources import StateResource
from binclf import state
from binclf.spec import DatasetSpec, load_spec


def build_definitions(spec: DatasetSpec, state_root: str | None = None) -> Definitions:
    """All assets, jobs, schedules and sensors of one dataset."""
    partitions = daily_partitions(spec)
    root = state.state_root(state_root)
    ingest = ingest_assets(spec, partitions)
    ingest_job = define_asset_job(
        "ingest_job",
        selection=AssetSelection.assets("raw_events", "validated_events"),
        partitions_def=partitions,
        description="Read and validate daily partitions of raw events.",
    )
    return Definitions(
        assets=[*ingest],
        jobs=[ingest_job],
        resources={
            "state": StateResource(root=str(root)),
            "io_manager": ParquetJsonIOManager(root=str(state.data_dir(root))),
        },
    )


defs = build_definitions(load_spec())
