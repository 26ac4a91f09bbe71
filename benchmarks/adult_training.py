"""Train on UCI Adult with the pipeline's chain and default settings, and report test scores.

Spec: target `income` (positive ">50K"), the predefined `split` column fixes the test rows,
`sex`/`race`/`age` are sensitive (and stay features), `fnlwgt` (a census sampling weight) is
excluded. `binclf.chain.train_candidate` runs what the training job runs: splits, screening and
search (default `SearchSettings`), calibration and threshold on the calibration rows, evaluation
on the test rows, registration (into a temporary registry). Training wall time covers search,
refit and calibration.

    python benchmarks/adult_training.py [--data PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import polars as pl
from sklearn.metrics import log_loss, roc_auc_score

from binclf.chain import TrainingSettings, train_candidate
from binclf.evaluate.steps import test_rows
from binclf.register.registry import Registry
from binclf.spec import spec_from_dict
from binclf.train.inputs import split_summary
from binclf.train.search import SearchSettings
from binclf.train.settings import SplitSettings
from binclf.train.steps import build_bundle
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
    settings = TrainingSettings(
        splits=SplitSettings(seed=args.seed),
        search=replace(SearchSettings(), num_threads=args.threads, seed=args.seed),
    )
    seconds: dict[str, tuple[float, float]] = {}

    @contextmanager
    def timer(step: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        seconds[step] = (time.perf_counter() - wall, time.process_time() - cpu)

    with tempfile.TemporaryDirectory() as state:
        trained = train_candidate(
            spec,
            lambda: select_training_window(pl.scan_parquet(args.data), spec),
            settings,
            Registry(Path(state) / "registry"),
            storage=f"sqlite:///{state}/optuna.db",
            timer=timer,
        )
    search, calibration = trained.search, trained.calibration.choice
    rows = split_summary(trained.splits, spec)
    print("rows: " + ", ".join(f"{name} {split['rows']:,}" for name, split in rows.items()))
    schema = search.schema
    print(f"features: {len(schema.columns)} ({len(schema.categorical)} categorical)")
    print(f"excluded by screening: {search.exclusions}")
    print(
        f"search: {search.family} won; {search.trials.complete} complete, "
        f"{search.trials.pruned} pruned, {search.trials.failed} failed; "
        f"best validation {search.objective} {search.best_value:.4f}"
    )
    winner = next(t for t in search.history if t["value"] == search.best_value)
    print(f"winning trial {winner['number']}: {winner['params']}")
    print(f"calibration: {calibration.method} (cross-validated log loss {calibration.cv_log_loss})")
    train_wall = sum(seconds[s][0] for s in ("model_search", "calibration"))
    train_cpu = sum(seconds[s][1] for s in ("model_search", "calibration"))
    print(f"training wall time: {train_wall:.1f} s (CPU {train_cpu:.1f} s, {args.threads} threads)")
    test, y = test_rows(trained.splits, spec)
    raw = build_bundle(search, None, 0.5).raw_scores(test)
    probability = build_bundle(search, trained.calibration, 0.5).probabilities(test)
    for name, metric in (("ROC-AUC", roc_auc_score), ("log loss", log_loss)):
        after, before = metric(y, probability), metric(y, raw)
        print(f"test {name}: {after:.4f} (uncalibrated {before:.4f})")
    failed = [g.name for g in trained.gates if not g.passed]
    print(f"gates: {'failed ' + ', '.join(failed) if failed else 'all passed'}")


if __name__ == "__main__":
    main()
