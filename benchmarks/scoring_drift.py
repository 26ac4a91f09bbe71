"""Time scoring and drift of one large partition, next to evidently's DataDriftPreset.

Reference: a demo day before the change point; current: a demo day after it with `--rows` rows.
Scoring: a LightGBM model fitted on a sample of the reference predicts every current row.
Drift: the reference profile is built once (it is stored with a model version), then the fast
path compares the partition with it. evidently runs on `--evidently-rows` sampled rows of each
frame, as the HTML report does, because on the full partition it takes minutes.

    python benchmarks/scoring_drift.py --rows 1000000 --evidently-rows 100000 --threads 2

It also times the `performance` asset's per-day estimation on the scored partition.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import polars as pl

from binclf.ingest.sources import observed_at
from binclf.ingest.synthetic import generate_day
from binclf.monitor.drift import drift_statistics
from binclf.monitor.performance import scored_performance
from binclf.spec import load_spec
from binclf.stats.profiles import ReferenceProfile
from binclf.train.features import infer_feature_schema, target_vector, to_model_frame

T = TypeVar("T")
REFERENCE_DAY, CURRENT_DAY = 40, 100  # the demo's change point is day 96


def timed(label: str, timings: dict[str, float], action: Callable[[], T]) -> T:
    """Run `action`, record its wall time, print wall and CPU time (all threads of this process).

    On a shared machine wall time includes waiting for a core; CPU time does not.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    timings[label] = time.perf_counter() - wall
    print(f"{label:<52} {timings[label]:7.2f} s wall {time.process_time() - cpu:7.2f} s CPU")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the partition")
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--train-rows", type=int, default=50_000, help="LightGBM training sample")
    parser.add_argument("--evidently-rows", type=int, default=100_000, help="0 skips evidently")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spec = load_spec()
    source = spec.source
    timings: dict[str, float] = {}
    reference = timed(
        f"generate reference (rows_per_day {args.reference_rows:,})",
        timings,
        lambda: generate_day(
            source.model_copy(update={"rows_per_day": args.reference_rows}),
            source.start_date + timedelta(days=REFERENCE_DAY),
        ),
    )
    current = timed(
        f"generate partition (rows_per_day {args.rows:,})",
        timings,
        lambda: generate_day(
            source.model_copy(update={"rows_per_day": args.rows}),
            source.start_date + timedelta(days=CURRENT_DAY),
        ),
    )
    schema = infer_feature_schema(reference, spec)
    numeric, categorical = list(schema.numeric), list(schema.categorical)
    print(f"features: {len(numeric)} numeric, {len(categorical)} categorical")

    import lightgbm as lgb

    labeled = reference.filter(pl.col(spec.target).is_not_null())
    labeled = labeled.sample(n=min(args.train_rows, labeled.height), seed=args.seed)
    params = {
        "objective": "binary",
        "num_threads": args.threads,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
        "seed": args.seed,
        "learning_rate": 0.1,
        "num_leaves": 31,
    }
    booster = timed(
        f"LightGBM fit ({labeled.height:,} rows, 200 trees)",
        timings,
        lambda: lgb.train(
            params,
            lgb.Dataset(to_model_frame(labeled, schema), label=target_vector(labeled, spec)),
            num_boost_round=200,
        ),
    )

    def probabilities(model_frame) -> pl.Series:
        return pl.Series(booster.predict(model_frame, num_threads=args.threads))

    reference = reference.with_columns(probability=probabilities(to_model_frame(reference, schema)))
    scoring_frame = timed(
        f"scoring: model frame ({current.height:,} rows)",
        timings,
        lambda: to_model_frame(current, schema),
    )
    current = current.with_columns(
        probability=timed(
            f"scoring: LightGBM predict ({args.threads} threads)",
            timings,
            lambda: probabilities(scoring_frame),
        )
    )
    profile = timed(
        "drift: reference profile (once per model)",
        timings,
        lambda: ReferenceProfile.from_frame(
            reference, numeric=numeric, categorical=categorical, score_column="probability"
        ),
    )
    result = timed(
        f"drift: fast path ({current.height:,} rows)",
        timings,
        lambda: drift_statistics(profile, current),
    )
    print(
        f"fast path: share drifted {result.share_drifted:.2f}, alarm {result.alarm}, "
        f"prediction drift {result.prediction_drift.drifted}"
    )
    for feature in result.features:
        print(
            f"  {feature.column:<24} {feature.kind:<12} JS {feature.statistic:.3f} "
            f"p_adj {feature.p_value_adjusted:.1e} drifted {feature.drifted}"
        )
    total = sum(v for k, v in timings.items() if k.startswith(("scoring:", "drift: fast")))
    print(f"{'scoring + drift':<52} {total:7.2f} s wall (target: <= 30 s on 2 cores)")
    time_estimation(current, spec, timings)

    if args.evidently_rows > 0:
        run_evidently(reference, current, numeric, categorical, args, timings)


def time_estimation(current: pl.DataFrame, spec: Any, timings: dict[str, float]) -> None:
    """The `performance` asset's per-day work (CBPE estimates, realized metrics on the rows
    labeled by the end of the stream, calibration check, ECE, PR-AUC) next to scoring."""
    threshold = float(current["probability"].quantile(0.9))
    frame = current.with_columns(decision=pl.col("probability") >= threshold)
    performance, _ = timed(
        f"performance: estimated + realized ({frame.height:,} rows)",
        timings,
        lambda: scored_performance(
            frame,
            spec.source.start_date + timedelta(days=CURRENT_DAY),
            target=spec.target,
            positive=spec.positive,
            label_time_column=spec.label_time_column,
            as_of=observed_at(spec),
            threshold=threshold,
            costs=(spec.costs.false_positive, spec.costs.false_negative),
        ),
    )
    scoring = sum(v for k, v in timings.items() if k.startswith("scoring:"))
    share = timings[f"performance: estimated + realized ({frame.height:,} rows)"] / scoring
    print(
        f"performance: labeled share {performance.labeled_share:.2f}; "
        f"{share:.1%} of scoring's {scoring:.2f} s"
    )


def run_evidently(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    args: argparse.Namespace,
    timings: dict[str, float],
) -> None:
    """evidently's DataDriftPreset on the same columns, on sampled rows of both frames."""
    evidently = timed("evidently: import", timings, lambda: __import__("evidently.presets"))
    definition = evidently.DataDefinition(
        numerical_columns=numeric, categorical_columns=categorical
    )
    columns = numeric + categorical

    def dataset(frame: pl.DataFrame):
        sample = frame.sample(n=min(args.evidently_rows, frame.height), seed=args.seed)
        return evidently.Dataset.from_pandas(
            sample.select(columns).to_pandas(), data_definition=definition
        )

    n_current = min(args.evidently_rows, current.height)
    n_reference = min(args.evidently_rows, reference.height)
    snapshot = timed(
        f"evidently: DataDriftPreset ({n_current:,} vs {n_reference:,} rows)",
        timings,
        lambda: evidently.Report([evidently.presets.DataDriftPreset()]).run(
            current_data=dataset(current), reference_data=dataset(reference)
        ),
    )
    html = timed("evidently: HTML", timings, lambda: snapshot.get_html_str(as_iframe=False))
    print(f"evidently HTML: {len(html) / 1e6:.1f} MB")
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith("DriftedColumnsCount"):
            print(f"evidently: share drifted {value['share']:.2f}")
        elif config["type"].endswith("ValueDrift"):
            method, threshold = config["method"], config["threshold"]
            drifted = value < threshold if "p_value" in method else value >= threshold
            print(f"  {config['column']:<24} {method:<30} {value:.3f} drifted {drifted}")


if __name__ == "__main__":
    main()
