"""How many configurations the default search budget runs on 200k training rows (40 columns).

Synthetic rows from scikit-learn's `make_classification` (seeded), 200k for training, 50k for
validation and 50k for testing, the default `SearchSettings` (60 s or 100 trials, 2 threads) on a
fresh SQLite study. Prints the trials by family and state, the time per trial, the wall time of
search and refit and of the trials alone (each with this process's CPU time and the machine's
load, since a wall budget on a shared machine buys less work: the CPU seconds say how much the
budget bought), and the refit model's test ROC-AUC and log loss.

    python -m benchmarks.search_budget
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss, roc_auc_score

from binclf.train.resampling import apply_prior_shift
from binclf.train.search import SearchSettings, search_model

TRAIN_ROWS = 200_000
VALID_ROWS = 50_000
TEST_ROWS = 50_000
COLUMNS = 40
SEED = 0


def main() -> None:
    X, y = make_classification(
        n_samples=TRAIN_ROWS + VALID_ROWS + TEST_ROWS, n_features=COLUMNS, n_informative=12,
        n_redundant=8, weights=[0.9], flip_y=0.02, random_state=SEED,
    )  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(COLUMNS)])
    y = y.astype(np.int8)
    valid = slice(TRAIN_ROWS, TRAIN_ROWS + VALID_ROWS)
    test = slice(TRAIN_ROWS + VALID_ROWS, None)
    trials_end: list[tuple[float, float]] = []

    def on_trial(*_: object) -> None:
        trials_end.append((time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory() as folder:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = search_model(
            frame.iloc[:TRAIN_ROWS], y[:TRAIN_ROWS], frame.iloc[valid], y[valid],
            storage=f"sqlite:///{Path(folder) / 'optuna.db'}", study_name="budget",
            settings=SearchSettings(seed=SEED), on_trial=on_trial,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    trials_wall, trials_cpu = trials_end[-1][0] - started, trials_end[-1][1] - cpu_started
    p = apply_prior_shift(result.model.predict_raw(frame.iloc[test]), result.prior_log_odds_shift)
    counts = Counter((t["family"], t["state"]) for t in result.history)
    print(f"winner {result.family} value {result.best_value:.5f}")
    print(f"complete {result.n_complete} pruned {result.n_pruned} failed {result.n_failed}")
    for (family, state), n in sorted(counts.items(), key=str):
        print(f"  {family} {state}: {n}")
    print(
        "seconds per finished trial:", {k: round(v, 2) for k, v in result.seconds_per_trial.items()}
    )
    finished = result.n_complete + result.n_pruned
    print(
        f"trials: {finished} in {trials_wall:.1f} s wall, {trials_cpu:.1f} s CPU "
        f"({finished / trials_cpu:.2f} per CPU second)"
    )
    print(
        f"search + refit wall time {wall:.1f} s, CPU time {cpu:.1f} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"test ROC-AUC {roc_auc_score(y[test], p):.4f} log loss {log_loss(y[test], p):.4f}")


if __name__ == "__main__":
    main()
