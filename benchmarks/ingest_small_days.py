"""Profile and backfill of a dataset of many small days, timed once (target: <= 60 s).

The dataset is shaped like a public daily source: 700 days of 10-25 rows (about 12k rows),
some days without rows, one CSV file, and a free-text column of ~360 titles most of
which are rare. It is written to a temporary folder with its spec, then the code location's own
jobs run in this process on a Dagster instance in the same folder: `validation_profile`, then
`ingest_job` over the whole range in one run. The verdicts are printed with the times: a clean
source should pass every day (the free-text column is judged by its novelty rate). Beside them,
the floor: the same range backfilled in one run through two partitioned assets that do nothing,
on a fresh instance of the same kind. Each step prints wall and CPU time (CPU time moves less
with the load of a shared machine) and the load average when it started.

    python -m benchmarks.ingest_small_days
    python -m benchmarks.ingest_small_days --days 700 --seed 3
    python -m benchmarks.ingest_small_days --layout day-files   # events/{date}.csv, a file a day
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import yaml
from dagster import (
    AssetSelection,
    BackfillPolicy,
    BetaWarning,
    DailyPartitionsDefinition,
    Definitions,
    ExecuteInProcessResult,
    asset,
    define_asset_job,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.ingest import VALIDATION_CHECK, WARNING_CHECK
from benchmarks.pipeline_bench import fresh_instance
from binclf.spec import load_spec
from pipelines.definitions import build_definitions

TARGET_SECONDS = 60.0
T = TypeVar("T")
FIRST_DAY = date(2023, 1, 1)
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def small_days(days: int, seed: int, empty_share: float = 0.04) -> pl.DataFrame:
    """`days` days of 10-25 rows (a share of them empty), with a free-text `title` column."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(10, 26, days) * (rng.random(days) >= empty_share)
    start = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    times = [
        start + timedelta(days=d, seconds=int(s))
        for d, n in enumerate(counts)
        for s in np.sort(rng.integers(0, 86_400, n))
    ]
    rows = len(times)
    return pl.DataFrame(
        {
            "event_id": np.arange(rows),
            "event_time": [t.strftime("%Y-%m-%d %H:%M:%S") for t in times],
            "amount": np.round(rng.lognormal(3.0, 1.0, rows), 2),
            "channel": rng.choice(["web", "app", "store"], rows),
            "title": [f"title {t}" for t in rng.zipf(1.4, rows) % 360],
            "label": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
        }
    )


def write_dataset(
    folder: Path, days: int, seed: int, layout: str = "one-file"
) -> tuple[Path, pl.DataFrame]:
    """The events as one CSV file (or a CSV file per day with rows) and a spec naming its roles;
    returns the spec's path."""
    events = small_days(days, seed)
    if layout == "day-files":
        source = "events/{date}.csv"
        (folder / "events").mkdir()
        days_of = events.with_columns(pl.col("event_time").str.slice(0, 10).alias("day"))
        for (day,), part in days_of.partition_by("day", as_dict=True, include_key=False).items():
            part.write_csv(folder / "events" / f"{day}.csv")
    else:
        source = "events.csv"
        events.write_csv(folder / "events.csv")
    spec = {
        "name": "small_days",
        "source": {"kind": "csv", "path": source},
        "target": "label",
        "positive": "yes",
        "negative": ["no"],
        "id_column": "event_id",
        "time_column": "event_time",
        "partitions": {
            "start_date": FIRST_DAY.isoformat(),
            "end_date": (FIRST_DAY + timedelta(days=days)).isoformat(),
        },
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, events


def noop_backfill(partitions: DailyPartitionsDefinition, folder: Path) -> ExecuteInProcessResult:
    """The floor: the range in one run through two partitioned assets that store nothing."""

    single_run = BackfillPolicy.single_run()
    with warnings.catch_warnings():  # backfill_policy is beta in Dagster 1.13
        warnings.simplefilter("ignore", BetaWarning)

        @asset(partitions_def=partitions, backfill_policy=single_run)
        def raw() -> None:
            """Nothing read, nothing stored."""

        @asset(partitions_def=partitions, backfill_policy=single_run, deps=[raw])
        def validated() -> None:
            """Nothing read, nothing stored."""

    job = define_asset_job("noop")
    defs = Definitions(assets=[raw, validated], jobs=[job])
    keys = partitions.get_partition_keys()
    (folder / "noop").mkdir()
    instance = fresh_instance("sqlite", str(folder / "noop"))
    result = defs.resolve_job_def("noop").execute_in_process(
        instance=instance, run_config=QUIET, tags=_range_tags(keys)
    )
    instance.dispose()
    return result


def _range_tags(keys: list[str]) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


class Clock:
    """Wall and CPU time of the steps of this process, with the load average at each start."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []

    def time(self, name: str, step: Callable[[], T]) -> T:
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        result = step()
        self.rows.append((name, time.perf_counter() - wall, time.process_time() - cpu, load))
        return result

    def print(self) -> None:
        print(f"{'step':<40}{'wall s':>8}{'CPU s':>8}{'load':>7}")
        for name, wall, cpu, load in self.rows:
            print(f"{name:<40}{wall:>8.1f}{cpu:>8.1f}{load:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=700)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--layout", choices=["one-file", "day-files"], default="one-file")
    args = parser.parse_args()

    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec_path, events = write_dataset(folder, args.days, args.seed, args.layout)
        spec = load_spec(spec_path)
        per_day = events.group_by(pl.col("event_time").str.slice(0, 10)).len()
        empty = args.days - per_day.height
        defs = clock.time(
            "definitions (code location load)",
            lambda: build_definitions(spec, str(folder / "state")),
        )
        (folder / "dagster").mkdir()
        instance = fresh_instance("sqlite", str(folder / "dagster"))
        job = defs.resolve_job_def("ingest_job")
        keys = job.partitions_def.get_partition_keys()
        noop = clock.time(
            "floor: no-op backfill, two assets", lambda: noop_backfill(job.partitions_def, folder)
        )
        profile = clock.time(
            "profile (validation_profile run)",
            lambda: materialize(
                list(defs.assets),
                selection=AssetSelection.assets("validation_profile"),
                instance=instance,
                resources=defs.resources,
                run_config=QUIET,
            ),
        )
        backfill = clock.time(
            "backfill (ingest_job, one run)",
            lambda: job.execute_in_process(
                instance=instance, run_config=QUIET, tags=_range_tags(keys), raise_on_error=False
            ),
        )
        events_stored = len(instance.all_logs(backfill.run_id))

        verdicts = backfill.get_asset_check_evaluations()
        failed = sum(not e.passed for e in verdicts if e.check_name == VALIDATION_CHECK)
        warned = sum(not e.passed for e in verdicts if e.check_name == WARNING_CHECK)
        _, floor_wall, floor_cpu, _ = clock.rows[1]
        ours = clock.rows[2:]
        wall = sum(r[1] for r in ours)
        cpu = sum(r[2] for r in ours)
        print(
            f"{args.layout}: {args.days} partitions ({empty} empty), {events.height} rows, "
            f"{events['title'].n_unique()} titles; no-op run: {noop.success}, "
            f"profile run: {profile.success}, backfill run: {backfill.success}; "
            f"{events_stored} events stored by the backfill run"
        )
        clock.print()
        print(
            f"{'profile + backfill':<40}{wall:>8.1f}{cpu:>8.1f}  (target <= {TARGET_SECONDS:.0f} s)"
        )
        print(f"{'  of which above the floor':<40}{wall - floor_wall:>8.1f}{cpu - floor_cpu:>8.1f}")
        print(f"days failed: {failed} of {len(keys)}; days with warnings: {warned}")
        instance.dispose()


if __name__ == "__main__":
    main()
