"""Is the refit under-boosted? The pipeline's round rules against rounds chosen at full size.

The pipeline's search fits its trials on at most `search_sample_rows` training rows. This
benchmark fits the same LightGBM configuration (the search's second starting point at the
search's learning rate) in three ways on synthetic rows with a dozen features (a non-linear
signal with interactions, ~8 % positive) and prints the test log loss side by side:

- sample rule (the pipeline's former one): early stopping on the validation rows with a
  `search_sample_rows` sample of the training rows, then a refit on every training row with that
  round count;
- full size: early stopping on the validation rows with every training row, that fit itself
  (the pipeline's own `full_size_fit`: its model when `refit_with_validation` is false);
- pipeline rule: the full-size round count, refit on training + validation rows (the pipeline's
  `refit`, as with the default `refit_with_validation`).

Rows are split 70 / 15 / 15 into training, validation and test.

    python -m benchmarks.refit_rounds                 # 10M rows
    python -m benchmarks.refit_rounds --rows 2000000
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from binclf.train.models import import_lightgbm, lightgbm_params
from binclf.train.search.objectives import TrialData
from binclf.train.search.refit import full_size_fit, refit, stack
from binclf.train.search.settings import SearchSettings
from binclf.train.search.space import STARTING_POINTS, lightgbm_training_params

FEATURES = 12
PATIENCE = 50
MAX_ROUNDS = 5_000
SEED = 0


def synthetic(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Twelve float32 features and labels from a non-linear logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    logit = (
        -3.0
        + 0.8 * X[:, 0]
        - 0.6 * X[:, 1]
        + 0.7 * np.sin(2.0 * X[:, 2])
        + 0.5 * X[:, 3] * X[:, 4]
        + 0.6 * (X[:, 5] > 0.5)
        + 0.4 * np.abs(X[:, 6])
        - 0.3 * X[:, 7] ** 2
        + 0.3 * X[:, 8] * (X[:, 9] > 0)
    )
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    lgb = import_lightgbm()
    settings = SearchSettings()
    params = lightgbm_params(
        lightgbm_training_params(STARTING_POINTS["lightgbm"][1], settings),
        num_threads=settings.num_threads,
        seed=SEED,
    )
    started = time.perf_counter()
    X, y = synthetic(args.rows, SEED)
    n_train, n_valid = int(0.70 * args.rows), int(0.15 * args.rows)
    train, valid, test = (
        slice(0, n_train),
        slice(n_train, n_train + n_valid),
        slice(n_train + n_valid, args.rows),
    )
    sample = np.sort(
        np.random.default_rng(SEED).choice(n_train, settings.search_sample_rows, replace=False)
    )
    full_data = lgb.Dataset(X[train], y[train], params=params, free_raw_data=False).construct()
    print(f"{args.rows:,} rows ({y.mean():.3f} positive), data ready in "
          f"{time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.1f}")  # fmt: skip

    def early_stopped(data: object) -> tuple[object, float]:
        began = time.perf_counter()
        booster = lgb.train(
            params,
            data,
            MAX_ROUNDS,
            valid_sets=[lgb.Dataset(X[valid], y[valid], reference=data)],
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        return booster, time.perf_counter() - began

    def test_scores(predict_raw: object) -> tuple[float, float]:
        p = predict_raw(frame(test))  # type: ignore[operator]  # uncalibrated probabilities
        return log_loss(y[test], p), roc_auc_score(y[test], p)

    def frame(rows: slice) -> pd.DataFrame:
        return pd.DataFrame(X[rows], columns=[f"x{i}" for i in range(FEATURES)])

    sample_data = lgb.Dataset(X[sample], y[sample], reference=full_data)
    sampled, sample_seconds = early_stopped(sample_data)
    sample_rounds = int(sampled.best_iteration)  # type: ignore[attr-defined]
    began = time.perf_counter()
    old_refit = lgb.train(params, full_data, sample_rounds)
    old_seconds = sample_seconds + time.perf_counter() - began
    old_p = old_refit.predict(X[test])  # type: ignore[attr-defined]
    old = test_scores(lambda _: old_p)
    del full_data, sample_data, sampled, old_refit

    # The pipeline's own functions, given the configuration as the search's winner.
    point = STARTING_POINTS["lightgbm"][1]
    best = SimpleNamespace(params={"family": "lightgbm", "resampling": "none", **point})
    data = TrialData(frame(train), y[train], None, frame(valid), y[valid], None, settings)
    began = time.perf_counter()
    full_size = full_size_fit(best, data.X_train, data.y_train, None, data)
    full_seconds = time.perf_counter() - began
    assert full_size is not None and full_size.model is not None
    at_full = test_scores(full_size.model.predict_raw)
    del data
    began = time.perf_counter()
    X_refit, y_refit, _ = stack((frame(train), y[train], None), (frame(valid), y[valid], None))
    model, _, _ = refit(best, X_refit, y_refit, None, settings, rounds=full_size.rounds)
    pipeline_seconds = time.perf_counter() - began
    pipeline = test_scores(model.predict_raw)

    print(f"{'rule':<58} {'rounds':>7} {'test log loss':>14} {'test ROC-AUC':>13} {'fit s':>7}")
    rows = (
        (f"sample rule: rounds on {len(sample):,} rows, refit on {n_train:,}", sample_rounds,
         *old, old_seconds),
        (f"full size: rounds on {n_train:,} rows, that fit", full_size.rounds, *at_full,
         full_seconds),
        (f"pipeline: rounds on {n_train:,} rows, refit on {n_train + n_valid:,}",
         full_size.rounds, *pipeline, pipeline_seconds),
    )  # fmt: skip
    for name, rounds, loss, auc, seconds in rows:
        print(f"{name:<58} {rounds:>7} {loss:>14.5f} {auc:>13.4f} {seconds:>7.0f}")
    print(f"test log loss minus full size's: sample rule {old[0] - at_full[0]:+.5f}, pipeline "
          f"{pipeline[0] - at_full[0]:+.5f}; total {time.perf_counter() - started:.0f} s; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
