"""A two-step training-like job for the run-isolation test, run by separate processes.

`training_splits` stores a frame naming its run; `evaluation` waits until the other run has
stored its splits too (both run folders exist), then reads the splits it is given.
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


@asset
def evaluation(training_splits: pl.DataFrame) -> dict[str, str]:
    runs = Path(os.environ[ROOT_ENV]) / "runs"
    deadline = time.monotonic() + 120
    while len(list(runs.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"splits_of": training_splits["run"][0]}


def training_job() -> object:
    defs = Definitions(
        assets=[training_splits, evaluation],
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
