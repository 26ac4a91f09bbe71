"""binclf's default search against common peers on public data, at the same wall budget.

For each dataset the non-test rows are split 80/20 (stratified, seeded) into fitting and
validation rows. binclf runs `search_model` with the default settings (60 s, 100 trials) and is
refit on all non-test rows as the pipeline does; the peers are LightGBM with its defaults,
LightGBM tuned by 40 optuna TPE trials (early stopping on the validation rows, stopped at the
same wall budget, refit on all non-test rows with the chosen round count) and logistic regression
(one-hot; numerics median-imputed with a missing indicator and standardized; C by 5-fold
cross-validation), and FLAML's AutoML (log loss, same wall budget, every non-test row) when
`flaml` is importable (it is not a project dependency; the row is skipped with the reason
otherwise). Printed: test ROC-AUC, log loss and wall seconds per method and dataset, and the
load average at the start of each dataset. No calibration on either side.

Adult uses its `split` column (rows marked "test" are the official test rows) and leaves out
`fnlwgt`; German credit gets a 70/30 stratified holdout drawn with `--seed` (default 0). The
demo data (`--demo-days`, the first days of the built-in demo source, its labelled rows and the
spec's features) is split in time: its last 30 % of days are the test rows. binclf also runs
with CatBoost as a third family at the same budget.

German credit's 300 test rows make one holdout's differences mostly noise (a ROC-AUC's standard
error there is about 0.03): `--german-repeats R` also draws the holdout with seeds `--seed` to
`--seed + R - 1` and prints each method's mean and standard deviation over them, and its mean
difference to binclf's default with that difference's standard error (`--only` limits the
methods, e.g. to leave out the slow ones).

Each method runs in a fresh (spawned) process, so none inherits another's OpenMP state: binclf
sets `OMP_WAIT_POLICY=PASSIVE` for itself, the peers run with the defaults a script of their own
would have (unless the shell sets it for all; the header prints it).

    python -m benchmarks.peers --adult <adult.parquet> --german <german_credit.parquet> \
        --demo-days 30
    python -m benchmarks.peers --german <german_credit.parquet> --german-repeats 10 \
        --only "binclf (default budget)" "logistic regression (CV)" ...
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from binclf.train.resampling import apply_prior_shift
from binclf.train.search import SearchSettings, search_model

THREADS = 2
OPTUNA_TRIALS = 40


@dataclass(frozen=True)
class Task:
    name: str
    X_fit: pd.DataFrame
    y_fit: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray

    @property
    def X_all(self) -> pd.DataFrame:
        return pd.concat([self.X_fit, self.X_valid], ignore_index=True)

    @property
    def y_all(self) -> np.ndarray:
        return np.concatenate([self.y_fit, self.y_valid])


def _frame(data: pd.DataFrame) -> pd.DataFrame:
    out = data.copy()
    for column in out.columns:
        if out[column].dtype == object or out[column].dtype == bool:
            out[column] = out[column].astype(str).astype("category")
    return out.reset_index(drop=True)


def _task(name: str, X: pd.DataFrame, y: np.ndarray, test: np.ndarray, seed: int) -> Task:
    X, rest = _frame(X), np.flatnonzero(~test)
    fit, valid = train_test_split(rest, test_size=0.2, stratify=y[rest], random_state=seed)
    categories = {c: X[c].cat.categories for c in X.columns if X[c].dtype.name == "category"}
    for column, levels in categories.items():
        X[column] = pd.Categorical(X[column], categories=levels)
    return Task(
        name,
        X.iloc[fit].reset_index(drop=True), y[fit],
        X.iloc[valid].reset_index(drop=True), y[valid],
        X.iloc[np.flatnonzero(test)].reset_index(drop=True), y[test],
    )  # fmt: skip


def adult(path: Path, seed: int) -> Task:
    data = pd.read_parquet(path)
    y = (data["income"].str.strip().str.rstrip(".") == ">50K").to_numpy(np.int8)
    X = data.drop(columns=["income", "split", "fnlwgt"])
    return _task("adult", X, y, (data["split"] == "test").to_numpy(), seed)


def german(path: Path, seed: int) -> Task:
    data = pd.read_parquet(path)
    y = (data["credit_risk"] == "bad").to_numpy(np.int8)
    _, test_rows = train_test_split(
        np.arange(len(data)), test_size=0.3, stratify=y, random_state=seed
    )
    test = np.zeros(len(data), dtype=bool)
    test[test_rows] = True
    return _task("german_credit", data.drop(columns=["credit_risk"]), y, test, seed)


def demo(days: int, seed: int) -> Task:
    from datetime import timedelta

    import polars as pl

    from binclf.ingest.synthetic import generate_day
    from binclf.spec import load_spec
    from binclf.train.features import infer_feature_schema, target_vector, to_model_frame

    spec = load_spec()
    start = spec.source.start_date
    frames = [generate_day(spec.source, start + timedelta(days=d)) for d in range(days)]
    frame = pl.concat(frames).filter(pl.col("label_time").is_not_null())
    X = to_model_frame(frame, infer_feature_schema(frame, spec))
    day = (frame["event_time"].dt.date() - start).dt.total_days().to_numpy()
    test = day >= int(days * 0.7)
    return _task("demo", X, target_vector(frame, spec), test, seed)


def _binclf(task: Task, budget: float, seed: int, families: tuple[str, ...]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        result = search_model(
            task.X_fit, task.y_fit, task.X_valid, task.y_valid,
            storage=f"sqlite:///{Path(folder) / 'optuna.db'}", study_name=task.name,
            settings=SearchSettings(
                timeout_seconds=budget, seed=seed, num_threads=THREADS, families=families
            ),
        )  # fmt: skip
    print(
        f"  binclf winner {result.family}, {result.n_complete} complete, {result.n_pruned} pruned"
    )
    return apply_prior_shift(result.model.predict_raw(task.X_test), result.prior_log_odds_shift)


def run_binclf(task: Task, budget: float, seed: int) -> np.ndarray:
    return _binclf(task, budget, seed, SearchSettings().families)


def run_binclf_catboost(task: Task, budget: float, seed: int) -> np.ndarray:
    return _binclf(task, budget, seed, ("lightgbm", "logistic", "catboost"))


def run_lightgbm_defaults(task: Task, budget: float, seed: int) -> np.ndarray:
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_jobs=THREADS, random_state=seed, verbose=-1)
    return model.fit(task.X_all, task.y_all).predict_proba(task.X_test)[:, 1]


def run_lightgbm_optuna(task: Task, budget: float, seed: int) -> np.ndarray:
    import lightgbm as lgb
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fit = lgb.Dataset(task.X_fit, task.y_fit, free_raw_data=False)
    valid = lgb.Dataset(task.X_valid, task.y_valid, reference=fit, free_raw_data=False)
    base = {"objective": "binary", "verbose": -1, "num_threads": THREADS, "seed": seed,
            "feature_pre_filter": False}  # fmt: skip

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": 1,
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
        booster = lgb.train(
            params, fit, 5_000, valid_sets=[valid],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )  # fmt: skip
        trial.set_user_attr("rounds", booster.best_iteration)
        return booster.best_score["valid_0"]["binary_logloss"]

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=OPTUNA_TRIALS, timeout=budget)
    print(f"  optuna ran {len(study.trials)} trials")
    params = {**base, **study.best_params, "bagging_freq": 1}
    booster = lgb.train(
        params, lgb.Dataset(task.X_all, task.y_all), study.best_trial.user_attrs["rounds"]
    )
    return booster.predict(task.X_test)


def run_flaml(task: Task, budget: float, seed: int) -> np.ndarray | None:
    """FLAML's AutoML on every non-test row at the same wall budget, when it is installed."""
    try:
        from flaml import AutoML
    except ImportError as error:
        print(f"  FLAML skipped: not importable ({error})")
        return None
    automl = AutoML()
    automl.fit(
        task.X_all, task.y_all, task="classification", metric="log_loss", time_budget=budget,
        n_jobs=THREADS, seed=seed, verbose=0,
    )  # fmt: skip
    print(f"  FLAML chose {automl.best_estimator}")
    return automl.predict_proba(task.X_test)[:, 1]


def run_logistic(task: Task, budget: float, seed: int) -> np.ndarray:
    categorical = [c for c in task.X_all.columns if task.X_all[c].dtype.name == "category"]
    numeric = [c for c in task.X_all.columns if c not in categorical]
    numeric_steps = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                  StandardScaler())  # fmt: skip
    encode = ColumnTransformer(
        [("num", numeric_steps, numeric),
         ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )  # fmt: skip
    model = make_pipeline(
        encode, LogisticRegressionCV(Cs=10, cv=5, max_iter=2_000, scoring="neg_log_loss")
    )
    return model.fit(task.X_all, task.y_all).predict_proba(task.X_test)[:, 1]


METHODS: dict[str, Callable[[Task, float, int], np.ndarray | None]] = {
    "binclf (default budget)": run_binclf,
    "binclf + CatBoost family": run_binclf_catboost,
    "LightGBM defaults": run_lightgbm_defaults,
    f"LightGBM + {OPTUNA_TRIALS} optuna trials": run_lightgbm_optuna,
    "logistic regression (CV)": run_logistic,
    "FLAML (optional)": run_flaml,
}


TASKS: dict[str, Callable[[Any, int], Task]] = {"adult": adult, "german": german, "demo": demo}


def _measure_in_child(
    kind: str, source: Any, method: str, budget: float, seed: int
) -> tuple[float, float, float] | None:
    """Test ROC-AUC, log loss and wall seconds of one method, run in this (fresh) process."""
    task = TASKS[kind](source, seed)
    started = time.perf_counter()
    predicted = METHODS[method](task, budget, seed)
    if predicted is None:
        return None
    seconds = time.perf_counter() - started
    p = np.clip(predicted, 1e-15, 1 - 1e-15)
    return roc_auc_score(task.y_test, p), log_loss(task.y_test, p), seconds


def _measure(kind: str, source: Any, methods: list[str], budget: float, seed: int) -> list[tuple]:
    """(dataset, method, test ROC-AUC, test log loss, wall seconds) of each method, each in a
    fresh process."""
    task = TASKS[kind](source, seed)
    print(f"{task.name}: {len(task.y_fit)} fit, {len(task.y_valid)} validation, "
          f"{len(task.y_test)} test rows, load average {os.getloadavg()[0]:.1f}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}", flush=True)  # fmt: skip
    rows = []
    for method in methods:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            measured = pool.apply(_measure_in_child, (kind, source, method, budget, seed))
        if measured is not None:
            rows.append((task.name, method, *measured))
            print(f"  {method}: ROC-AUC {measured[0]:.4f} log loss {measured[1]:.4f}", flush=True)
    return rows


def _print_repeats(by_seed: dict[int, list[tuple]]) -> None:
    """Each method's mean (sd) over the holdouts, and its mean difference to binclf's default."""
    reference = "binclf (default budget)"
    measured: dict[str, list[tuple[float, float]]] = {}
    for rows in by_seed.values():
        for _, method, auc, loss, _ in rows:
            measured.setdefault(method, []).append((auc, loss))
    table = {m: np.asarray(v) for m, v in measured.items() if len(v) == len(by_seed)}
    print(f"\nGerman credit over {len(by_seed)} holdouts (seeds {min(by_seed)}-{max(by_seed)}): "
          "mean (sd); difference to binclf's default: mean ± standard error")  # fmt: skip
    print("| method | ROC-AUC | log loss | Δ ROC-AUC | Δ log loss |\n|---|---|---|---|---|")
    for method, values in table.items():
        cells = [f"{values[:, k].mean():.4f} ({values[:, k].std(ddof=1):.4f})" for k in (0, 1)]
        if reference in table and method != reference:
            diff = values - table[reference]
            se = diff.std(axis=0, ddof=1) / np.sqrt(len(diff))
            cells += [f"{diff[:, k].mean():+.4f} ± {se[k]:.4f}" for k in (0, 1)]
        else:
            cells += ["", ""]
        print(f"| {method} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult", type=Path, help="adult.parquet (with its split column)")
    parser.add_argument("--german", type=Path, help="german_credit.parquet")
    parser.add_argument("--demo-days", type=int, default=0, help="days of demo data (0: none)")
    parser.add_argument("--budget", type=float, default=60.0, help="wall seconds per search")
    parser.add_argument("--seed", type=int, default=0, help="splits and searches")
    parser.add_argument("--german-repeats", type=int, default=1, help="German credit holdouts")
    parser.add_argument("--only", nargs="+", choices=list(METHODS), help="methods to run")
    args = parser.parse_args(argv)
    methods = [m for m in METHODS if not args.only or m in args.only]
    rows = []
    if args.adult:
        rows += _measure("adult", args.adult, methods, args.budget, args.seed)
    by_seed: dict[int, list[tuple]] = {}
    for seed in range(args.seed, args.seed + args.german_repeats) if args.german else ():
        by_seed[seed] = _measure("german", args.german, methods, args.budget, seed)
    rows += by_seed.get(args.seed, [])
    if args.demo_days:
        rows += _measure("demo", args.demo_days, methods, args.budget, args.seed)
    print("\n| dataset | method | test ROC-AUC | test log loss | wall s |\n|---|---|---|---|---|")
    for name, method, auc, loss, seconds in rows:
        print(f"| {name} | {method} | {auc:.4f} | {loss:.4f} | {seconds:.0f} |")
    if len(by_seed) > 1:
        _print_repeats(by_seed)


if __name__ == "__main__":
    main()
