"""A two-step training-like job for the run-isolation test, run by separate processes.

`training_splits` stores a frame naming its run; `evaluation` waits until the other run has
stored its splits too, then reads the splits it is given and records whose they are.
"""

import os
import sys
import time
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    asset,
    define_asset_job,
    execute_job,
    in_process_executor,
    reconstructable,
)

from assets.io_manager import ParquetJsonIOManager

ROOT_ENV = "RUN_ISOLATION_ROOT"


@asset
def training_splits(context: AssetExecutionContext) -> pl.DataFrame:
    return pl.DataFrame({"run": [context.run_id]})


@asset(deps=[training_splits])
def splits_stored(context: AssetExecutionContext) -> None:
    """Mark that this run's splits are stored."""
    _arrivals().mkdir(parents=True, exist_ok=True)
    (_arrivals() / context.run_id).touch()


def _arrivals() -> Path:
    return Path(os.environ[ROOT_ENV]).parent / "arrivals"


@asset(deps=[splits_stored])
def evaluation(context: AssetExecutionContext, training_splits: pl.DataFrame) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while len(list(_arrivals().iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = training_splits["run"][0]
    (_arrivals().parent / "seen").mkdir(exist_ok=True)
    (_arrivals().parent / "seen" / context.run_id).write_text(seen)
    return {"splits_of": seen}


def training_job() -> object:
    defs = Definitions(
        assets=[training_splits, splits_stored, evaluation],
        jobs=[define_asset_job("train", executor_def=in_process_executor)],
        resources={
            "io_manager": ParquetJsonIOManager(
                root=os.environ[ROOT_ENV], run_scoped=["training_splits", "evaluation"]
            )
        },
    )
    return defs.resolve_job_def("train")


if __name__ == "__main__":
    with DagsterInstance.get() as instance:
        result = execute_job(reconstructable(training_job), instance=instance)
        sys.exit(0 if result.success else 1)
