"""Profile and backfill of a dataset of many small days, timed once (target: <= 60 s).

The dataset is shaped like a public daily source: 700 days of 10-25 rows (about 12k rows),
some days without rows, one CSV file, and a free-text column of ~360 titles most of
which are rare. It is written to a temporary folder with its spec, then the code location's own
jobs run in this process on a Dagster instance in the same folder: `validation_profile`, then
`ingest_job` over the whole range in one run. The verdicts are printed with the times: a clean
source should pass every day (the free-text column is judged by its novelty rate).

    python -m benchmarks.ingest_small_days
    python -m benchmarks.ingest_small_days --days 700 --seed 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.ingest import VALIDATION_CHECK, WARNING_CHECK
from binclf.spec import load_spec
from pipelines.definitions import build_definitions

TARGET_SECONDS = 60.0
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


def write_dataset(folder: Path, days: int, seed: int) -> tuple[Path, pl.DataFrame]:
    """The events as one CSV file and a spec naming its roles; returns the spec's path."""
    events = small_days(days, seed)
    events.write_csv(folder / "events.csv")
    spec = {
        "name": "small_days",
        "source": {"kind": "csv", "path": "events.csv"},
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=700)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec_path, events = write_dataset(folder, args.days, args.seed)
        spec = load_spec(spec_path)
        per_day = events.group_by(pl.col("event_time").str.slice(0, 10)).len()
        empty = args.days - per_day.height
        started = time.perf_counter()
        defs = build_definitions(spec, str(folder / "state"))
        (folder / "dagster").mkdir()
        instance = DagsterInstance.local_temp(str(folder / "dagster"))
        loaded = time.perf_counter() - started

        started = time.perf_counter()
        profile = materialize(
            list(defs.assets),
            selection=AssetSelection.assets("validation_profile"),
            instance=instance,
            resources=defs.resources,
            run_config=QUIET,
        )
        profiled = time.perf_counter() - started

        keys = defs.resolve_job_def("ingest_job").partitions_def.get_partition_keys()
        started = time.perf_counter()
        backfill = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: keys[0],
                ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            },
            raise_on_error=False,
        )
        backfilled = time.perf_counter() - started

        verdicts = backfill.get_asset_check_evaluations()
        failed = sum(not e.passed for e in verdicts if e.check_name == VALIDATION_CHECK)
        warned = sum(not e.passed for e in verdicts if e.check_name == WARNING_CHECK)
        total = profiled + backfilled
        print(
            f"{args.days} partitions ({empty} empty), {events.height} rows, "
            f"{events['title'].n_unique()} titles; profile run: {profile.success}, "
            f"backfill run: {backfill.success}"
        )
        print(f"{'step':<34}{'seconds':>10}")
        print(f"{'definitions (code location load)':<34}{loaded:>10.1f}")
        print(f"{'profile (validation_profile run)':<34}{profiled:>10.1f}")
        print(f"{'backfill (ingest_job, one run)':<34}{backfilled:>10.1f}")
        print(f"{'profile + backfill':<34}{total:>10.1f}  (target <= {TARGET_SECONDS:.0f})")
        print(f"days failed: {failed} of {len(keys)}; days with warnings: {warned}")
        instance.dispose()


if __name__ == "__main__":
    main()
