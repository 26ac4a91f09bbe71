"""Validation time per partition on the demo data: one suite per partition against one batch call.

Both paths run in this process on the same partitions and must agree on every verdict. The
per-partition path is timed on the first `--single` partitions (it costs over a second each);
the batch path on the whole range, as a backfill of `--partitions` days runs it.

    python -m benchmarks.validation_speed                  # 120 demo partitions
    python -m benchmarks.validation_speed --single 20
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl

from binclf.ingest.sources import read_partition
from binclf.spec import load_spec
from binclf.validate.batch import validate_partitions
from binclf.validate.validation import PartitionValidator, build_profile

TARGET_RATIO = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=120)
    parser.add_argument("--single", type=int, default=10, help="partitions timed one by one")
    args = parser.parse_args()

    spec = load_spec()
    first = spec.partitions.start_date or date(2026, 1, 1)
    keys = [(first + timedelta(days=i)).isoformat() for i in range(args.partitions)]
    frames = {key: read_partition(spec, key) for key in keys}
    reference_keys = keys[: spec.validation.reference_days]
    profile = build_profile(pl.concat([frames[k] for k in reference_keys]), spec)
    now = datetime.now(UTC)

    validator = PartitionValidator(spec, profile)
    validator.validate(frames[keys[0]], keys[0], now=now)  # builds the suite once
    single_keys = keys[: args.single]
    started = time.perf_counter()
    single = [validator.validate(frames[k], k, now=now) for k in single_keys]
    per_partition = (time.perf_counter() - started) / len(single_keys)

    started = time.perf_counter()
    batch = validate_partitions(spec, profile, frames, now=now)
    batched = (time.perf_counter() - started) / len(keys)

    def verdicts(reports):
        return [(r.partition, [(f.column, f.rule) for f in r.failures]) for r in reports]

    same = verdicts(single) == verdicts(batch[: len(single)])
    rows = sum(f.height for f in frames.values())
    rules = single[0].evaluated
    print(f"{len(keys)} partitions, {rows} rows, {rules} rules per partition")
    print(f"{'path':<16}{'partitions':>12}{'s / partition':>16}")
    print(f"{'per partition':<16}{len(single_keys):>12}{per_partition:>16.4f}")
    print(f"{'batch':<16}{len(keys):>12}{batched:>16.4f}")
    ratio = per_partition / batched
    print(f"speed-up {ratio:.0f}x (target >= {TARGET_RATIO}x); same verdicts: {same}")
    print(f"failed partitions (batch): {sum(not r.success for r in batch)} of {len(batch)}")


if __name__ == "__main__":
    main()
