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

    python -m benchmarks.peers --adult <adult.parquet> --german <german_credit.parquet> \
        --demo-days 30
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from binclf.train.models import import_lightgbm
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
    lgb = import_lightgbm()
    model = lgb.LGBMClassifier(n_jobs=THREADS, random_state=seed, verbose=-1)
    return model.fit(task.X_all, task.y_all).predict_proba(task.X_test)[:, 1]


def run_lightgbm_optuna(task: Task, budget: float, seed: int) -> np.ndarray:
    import optuna

    lgb = import_lightgbm()
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult", type=Path, help="adult.parquet (with its split column)")
    parser.add_argument("--german", type=Path, help="german_credit.parquet")
    parser.add_argument("--demo-days", type=int, default=0, help="days of demo data (0: none)")
    parser.add_argument("--budget", type=float, default=60.0, help="wall seconds per search")
    parser.add_argument("--seed", type=int, default=0, help="splits and searches")
    args = parser.parse_args(argv)
    tasks = [adult(args.adult, args.seed)] if args.adult else []
    tasks += [german(args.german, args.seed)] if args.german else []
    tasks += [demo(args.demo_days, args.seed)] if args.demo_days else []
    rows = []
    for task in tasks:
        print(f"{task.name}: {len(task.y_fit)} fit, {len(task.y_valid)} validation, "
              f"{len(task.y_test)} test rows, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        for method, run in METHODS.items():
            started = time.perf_counter()
            predicted = run(task, args.budget, args.seed)
            if predicted is None:
                continue
            p = np.clip(predicted, 1e-15, 1 - 1e-15)
            seconds = time.perf_counter() - started
            rows.append((task.name, method, roc_auc_score(task.y_test, p),
                         log_loss(task.y_test, p), seconds))  # fmt: skip
            print(f"  {method}: ROC-AUC {rows[-1][2]:.4f} log loss {rows[-1][3]:.4f}", flush=True)
    print("\n| dataset | method | test ROC-AUC | test log loss | wall s |\n|---|---|---|---|---|")
    for name, method, auc, loss, seconds in rows:
        print(f"| {name} | {method} | {auc:.4f} | {loss:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
