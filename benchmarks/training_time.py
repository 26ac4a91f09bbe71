"""Wall time of the default training job on the demo data, in a fresh Dagster instance.

The demo dataset (`benchmarks.pipeline_bench.bench_spec`: the built-in demo source at its own
size, 2,000 events a day over 120 days, with the quality gates opened) is ingested with the
pipeline's ingest job, then `training_job` runs once with its default config (the default search
budget) and is timed alone, with its steps. The instance is plain Dagster SQLite storage in a
temporary folder, the same for every checkout, so that the script can time an older commit of
the pipeline too (run it from that checkout's folder):

    python -m benchmarks.training_time [--rows 240000 --days 120]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.pipeline_bench import Measurement, _dagster_job, bench_spec

QUIET_INSTANCE = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def main(argv: list[str] | None = None) -> None:
    from dagster import AssetKey, DagsterInstance, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from pipelines.definitions import build_definitions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=240_000, help="events over every day")
    parser.add_argument("--days", type=int, default=120, help="daily partitions")
    args = parser.parse_args(argv)
    spec = bench_spec(args.rows, days=args.days)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with (
        tempfile.TemporaryDirectory(prefix="training-time-") as root,
        tempfile.TemporaryDirectory(prefix="dagster-home-") as home,
    ):
        (Path(home) / "dagster.yaml").write_text(QUIET_INSTANCE)
        instance = DagsterInstance.from_config(home)
        defs = build_definitions(spec, root)
        keys = defs.resolve_job_def("ingest_job").partitions_def.get_partition_keys()
        every_day = {
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
        }
        profile = [a for a in defs.assets if AssetKey("validation_profile") in a.keys]
        started = time.perf_counter()
        materialize(profile, instance=instance, resources=defs.resources, run_config=quiet)
        out: list[Measurement] = []
        _dagster_job(spec, Path(root), instance, "ingest_job", "ingest", out, tags=every_day)
        print(f"ingest of {len(keys)} days: {time.perf_counter() - started:.1f} s", flush=True)
        out.clear()
        load_before = os.getloadavg()
        _dagster_job(spec, Path(root), instance, "training_job", "training", out)
        load_after = os.getloadavg()
        instance.dispose()
    for measurement in out:
        print(f"  {measurement.step}: {measurement.wall_seconds:.1f} s")
    total = next(m for m in out if m.step == "total")
    print(
        f"training_job: {total.wall_seconds:.1f} s wall, {total.cpu_seconds:.1f} s CPU "
        f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after)"
    )


if __name__ == "__main__":
    main()
