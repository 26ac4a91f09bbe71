"""Train on UCI Adult as the pipeline does, with the default search budget, and report test scores.

Spec: target `income` (positive ">50K"), the predefined `split` column fixes the test rows,
`sex`/`race`/`age` are sensitive (and stay features), `fnlwgt` (a census sampling weight) is
excluded. Steps: training window -> splits -> feature schema and screening -> search (default
`SearchSettings`) -> calibration on the calibration rows -> scoring the test rows through the
`ScoringBundle`. Training wall time covers search, refit and calibration.

    python benchmarks/adult_training.py [--data PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
from sklearn.metrics import log_loss, roc_auc_score

from binclf.spec import spec_from_dict
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator, choose_calibration
from binclf.train.features import (
    check_trainable,
    infer_feature_schema,
    screen_features,
    target_vector,
    to_model_frame,
)
from binclf.train.search import SearchSettings, search_model
from binclf.train.splits import SPLIT_COLUMN, make_splits
from binclf.train.window import select_training_window

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adult.parquet"


def adult_spec(data: Path):
    return spec_from_dict(
        {
            "name": "adult",
            "source": {"kind": "parquet", "path": str(data)},
            "target": "income",
            "positive": ">50K",
            "negative": ["<=50K"],
            "split_column": "split",
            "sensitive": ["sex", "race", "age"],
            "features": {"exclude": ["fnlwgt"]},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=SearchSettings().num_threads)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log every trial")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    spec = adult_spec(args.data.resolve())
    window = select_training_window(pl.scan_parquet(args.data), spec)
    splits = make_splits(window, spec, seed=args.seed)
    frames = {
        name: splits.filter(pl.col(SPLIT_COLUMN) == name)
        for name in ("train", "validation", "calibration", "test")
    }
    y = {name: target_vector(frame, spec) for name, frame in frames.items()}
    check_trainable(y["train"])
    schema = infer_feature_schema(frames["train"], spec)
    schema, exclusions = screen_features(frames["train"], y["train"], schema)
    X = {name: to_model_frame(frame, schema) for name, frame in frames.items()}
    print("rows: " + ", ".join(f"{k} {len(v):,}" for k, v in y.items()))
    print(f"features: {len(schema.columns)} ({len(schema.categorical)} categorical)")
    print(f"excluded by screening: {exclusions}")

    settings = replace(SearchSettings(), num_threads=args.threads, seed=args.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as state:
        result = search_model(
            X["train"],
            y["train"],
            X["validation"],
            y["validation"],
            storage=f"sqlite:///{state}/optuna.db",
            study_name="adult-benchmark",
            settings=settings,
        )
    uncalibrated = ScoringBundle(
        schema=schema,
        model=result.model,
        prior_log_odds_shift=result.prior_log_odds_shift,
        calibrator=Calibrator("none"),
        threshold=0.5,
    )
    calibration = choose_calibration(
        uncalibrated.raw_scores(frames["calibration"]), y["calibration"], seed=args.seed
    )
    bundle = replace(uncalibrated, calibrator=calibration.calibrator)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu

    raw = bundle.raw_scores(frames["test"])
    probability = bundle.probabilities(frames["test"])
    print(
        f"search: {result.family} won; {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed; best validation {result.objective} {result.best_value:.4f}"
    )
    winner = next(t for t in result.history if t["value"] == result.best_value)
    print(f"winning trial {winner['number']}: {winner['params']}")
    print(f"calibration: {calibration.method} (cross-validated log loss {calibration.cv_log_loss})")
    print(f"training wall time: {train_wall:.1f} s (CPU {train_cpu:.1f} s, {args.threads} threads)")
    for name, metric in (("ROC-AUC", roc_auc_score), ("log loss", log_loss)):
        after, before = metric(y["test"], probability), metric(y["test"], raw)
        print(f"test {name}: {after:.4f} (uncalibrated {before:.4f})")


if __name__ == "__main__":
    main()
