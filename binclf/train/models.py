"""The model families and their files: LightGBM (native text) and logistic regression (JSON);
CatBoost (its own JSON) lives in `binclf.train.catboost_model`.

Each predicts P(y=1) on the distribution it was trained on (before prior correction and
calibration) and explains a prediction as per-feature contributions in log-odds that sum, with
the bias in the last column, to the model's log-odds. None is ever pickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit

FAMILIES = ("lightgbm", "logistic", "catboost")
LIGHTGBM_MODEL_FILE = "lightgbm_model.txt"
LIGHTGBM_PARAMS_FILE = "lightgbm_params.json"
LOGISTIC_MODEL_FILE = "logistic_model.json"
UNKNOWN_LEVEL = "__unknown__"
MISSING_SUFFIX = "__missing"


def import_lightgbm() -> Any:
    """Import LightGBM with OpenMP threads that sleep instead of spin while they wait.

    Spinning threads make LightGBM many times slower when other processes share the cores
    (measured 2.7 s against 84 s for the same fit). An explicit `OMP_WAIT_POLICY` wins; the
    setting only takes effect if OpenMP is not loaded yet.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import lightgbm

    return lightgbm


class ModelError(ValueError):
    """An unknown model family or model files that cannot be read."""


class BinaryModel(Protocol):
    """What the pipeline needs from a fitted model."""

    family: str
    params: dict[str, Any]

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, X: pd.DataFrame) -> np.ndarray: ...

    def feature_importance(self) -> dict[str, float]: ...

    def to_files(self) -> dict[str, bytes]: ...


# Below this many training rows a LightGBM fit runs on one thread whatever `num_threads` says.
# OpenMP's threads wait passively (`import_lightgbm`), so each of a round's parallel regions
# wakes a sleeping thread, which costs more than a second thread saves on fewer rows: per round
# on 30 columns, one thread against two on a quiet 2-core machine, 2.9 vs 6.6 ms (2k rows),
# 5.6 vs 10.8 ms (20k), 8.3 vs 12.2 ms (50k), 13.8 vs 13.5 ms (100k), 24.7 vs 19.0 ms (200k).
# The count is recorded in the model's parameters; reruns on the same rows use the same count,
# so they stay byte-identical.
THREADED_MIN_ROWS = 100_000


def fit_threads(n_rows: int, num_threads: int) -> int:
    """The threads a LightGBM fit on `n_rows` training rows uses: one below THREADED_MIN_ROWS."""
    return num_threads if n_rows >= THREADED_MIN_ROWS else 1


def lightgbm_params(params: dict[str, Any], *, num_threads: int, seed: int) -> dict[str, Any]:
    """`params` with the settings every LightGBM fit here uses: binary, repeatable, quiet."""
    if num_threads < 1:
        raise ModelError(f"num_threads must be at least 1, got {num_threads}")
    return {
        "objective": "binary",
        "verbose": -1,
        "deterministic": True,
        "force_col_wise": True,
        "feature_pre_filter": False,
        **params,
        "num_threads": num_threads,
        "seed": seed,
    }


class LightGBMModel:
    """A LightGBM booster; `params` are its training parameters including the round count."""

    family = "lightgbm"

    def __init__(self, booster: Any, params: dict[str, Any]) -> None:
        self.booster = booster
        self.params = params

    @property
    def _num_threads(self) -> int:
        return int(self.params.get("num_threads", 1))

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(X, num_threads=self._num_threads), dtype=np.float64)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """SHAP values in log-odds, (n, n_features + 1); the last column is the bias."""
        return np.asarray(
            self.booster.predict(X, pred_contrib=True, num_threads=self._num_threads),
            dtype=np.float64,
        )

    def feature_importance(self) -> dict[str, float]:
        """Total split gain per feature, as shares of the total."""
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        return {
            name: float(value) / total
            for name, value in zip(self.booster.feature_name(), gain, strict=True)
        }

    def to_files(self) -> dict[str, bytes]:
        return {
            LIGHTGBM_MODEL_FILE: self.booster.model_to_string().encode(),
            LIGHTGBM_PARAMS_FILE: json.dumps(self.params, sort_keys=True).encode(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> LightGBMModel:
        booster = import_lightgbm().Booster(model_str=files[LIGHTGBM_MODEL_FILE].decode())
        return cls(booster, json.loads(files[LIGHTGBM_PARAMS_FILE]))


def fit_lightgbm(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: dict[str, Any],
    num_boost_round: int,
    sample_weight: np.ndarray | None = None,
    num_threads: int = 1,
    seed: int = 0,
) -> LightGBMModel:
    """Train `num_boost_round` rounds of LightGBM on all of `X`; categoricals from the dtypes.

    `num_threads` applies from THREADED_MIN_ROWS rows (`fit_threads`)."""
    lgb = import_lightgbm()
    full = lightgbm_params(params, num_threads=fit_threads(len(y), num_threads), seed=seed)
    booster = lgb.train(full, lgb.Dataset(X, y, weight=sample_weight), num_boost_round)
    return LightGBMModel(booster, {**full, "num_boost_round": num_boost_round})


@dataclass(frozen=True)
class LogisticEncoding:
    """Numerics median-imputed and standardized (plus a missing indicator where the training
    data had gaps); categoricals one-hot over the known levels plus one unknown column."""

    numeric: tuple[dict[str, Any], ...]
    categorical: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, X: pd.DataFrame) -> LogisticEncoding:
        numeric = []
        categorical = {}
        for column in X.columns:
            values = X[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                categorical[column] = tuple(str(v) for v in values.cat.categories)
                continue
            observed = values.to_numpy(dtype=np.float64)
            missing = np.isnan(observed)
            median = float(np.median(observed[~missing])) if (~missing).any() else 0.0
            filled = np.where(missing, median, observed)
            scale = float(filled.std())
            numeric.append(
                {
                    "name": column,
                    "median": median,
                    "mean": float(filled.mean()),
                    "scale": scale if scale > 0 else 1.0,
                    "indicator": bool(missing.any()),
                }
            )
        return cls(numeric=tuple(numeric), categorical=categorical)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The original columns, in encoding order."""
        return (*(n["name"] for n in self.numeric), *self.categorical)

    @property
    def encoded_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for spec in self.numeric:
            names.append(spec["name"])
            if spec["indicator"]:
                names.append(spec["name"] + MISSING_SUFFIX)
        for column, levels in self.categorical.items():
            names.extend(f"{column}={level}" for level in (*levels, UNKNOWN_LEVEL))
        return tuple(names)

    @property
    def groups(self) -> np.ndarray:
        """For each encoded column, the index of its original feature."""
        groups: list[int] = []
        for index, spec in enumerate(self.numeric):
            groups.extend([index] * (2 if spec["indicator"] else 1))
        for offset, levels in enumerate(self.categorical.values(), start=len(self.numeric)):
            groups.extend([offset] * (len(levels) + 1))
        return np.asarray(groups, dtype=int)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise ModelError(f"columns the model needs are not in the data: {missing}")
        blocks: list[np.ndarray] = []
        for spec in self.numeric:
            observed = pd.to_numeric(X[spec["name"]], errors="coerce").to_numpy(dtype=np.float64)
            gaps = np.isnan(observed)
            filled = np.where(gaps, spec["median"], observed)
            blocks.append(((filled - spec["mean"]) / spec["scale"])[:, None])
            if spec["indicator"]:
                blocks.append(gaps.astype(np.float64)[:, None])
        for column, levels in self.categorical.items():
            codes = pd.Categorical(X[column].astype("string"), categories=list(levels)).codes
            one_hot = np.zeros((len(X), len(levels) + 1))
            one_hot[np.arange(len(X)), np.where(codes < 0, len(levels), codes)] = 1.0
            blocks.append(one_hot)
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": [dict(spec) for spec in self.numeric],
            "categorical": {c: list(levels) for c, levels in self.categorical.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticEncoding:
        return cls(
            numeric=tuple(dict(spec) for spec in data["numeric"]),
            categorical={c: tuple(levels) for c, levels in data["categorical"].items()},
        )


class LogisticModel:
    """L2-regularized logistic regression over its own encoding, stored as JSON coefficients."""

    family = "logistic"

    def __init__(
        self,
        encoding: LogisticEncoding,
        coefficients: np.ndarray,
        intercept: float,
        params: dict[str, Any],
    ) -> None:
        self.encoding = encoding
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        self.intercept = float(intercept)
        self.params = params

    def _log_odds_terms(self, X: pd.DataFrame) -> np.ndarray:
        return self.encoding.transform(X) * self.coefficients

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return expit(self._log_odds_terms(X).sum(axis=1) + self.intercept)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Coefficient x encoded value summed per feature, (n, n_features + 1); last = intercept."""
        per_feature = np.eye(len(self.encoding.feature_names))[self.encoding.groups]
        bias = np.full((len(X), 1), self.intercept)
        return np.hstack([self._log_odds_terms(X) @ per_feature, bias])

    def coefficient_table(self) -> dict[str, float]:
        """Coefficient per encoded column (numerics per standard deviation)."""
        return dict(zip(self.encoding.encoded_names, self.coefficients.tolist(), strict=True))

    def feature_importance(self) -> dict[str, float]:
        """Sum of absolute coefficients per feature, as shares of the total."""
        totals = np.zeros(len(self.encoding.feature_names))
        np.add.at(totals, self.encoding.groups, np.abs(self.coefficients))
        grand = float(totals.sum()) or 1.0
        return {
            name: float(v) / grand
            for name, v in zip(self.encoding.feature_names, totals, strict=True)
        }

    def to_files(self) -> dict[str, bytes]:
        content = {
            "family": self.family,
            "params": self.params,
            "encoding": self.encoding.to_dict(),
            "coefficients": self.coefficient_table(),
            "intercept": self.intercept,
        }
        return {LOGISTIC_MODEL_FILE: json.dumps(content, indent=1).encode()}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> LogisticModel:
        content = json.loads(files[LOGISTIC_MODEL_FILE])
        encoding = LogisticEncoding.from_dict(content["encoding"])
        table = content["coefficients"]
        if list(table) != list(encoding.encoded_names):
            raise ModelError("logistic model coefficients do not match its encoding")
        return cls(
            encoding, np.array(list(table.values())), content["intercept"], content["params"]
        )


def fit_logistic(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    C: float = 1.0,
    sample_weight: np.ndarray | None = None,
    encoding: LogisticEncoding | None = None,
    encoded: np.ndarray | None = None,
) -> LogisticModel:
    """Fit L2 logistic regression with inverse regularization strength `C`.

    Pass a fitted `encoding` (and its `encoded` matrix of `X`) to reuse them across fits.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if C <= 0:
        raise ModelError(f"C must be positive, got {C}")
    encoding = encoding or LogisticEncoding.fit(X)
    matrix = encoding.transform(X) if encoded is None else encoded
    # One BLAS thread: threads do not pay off for these products, and waiting threads spin on
    # shared cores (a 23k x 112 fit: 0.4 s with one thread, 2.7 s with two next to other work).
    with threadpool_limits(limits=1, user_api="blas"):
        fitted = LogisticRegression(C=C, max_iter=2000).fit(matrix, y, sample_weight=sample_weight)
    return LogisticModel(encoding, fitted.coef_[0], float(fitted.intercept_[0]), {"C": C})


def model_from_files(family: str, files: dict[str, bytes]) -> BinaryModel:
    """Restore a model of `family` (a searched family or "ensemble") from its `to_files`."""
    from binclf.train.catboost_model import CatBoostModel
    from binclf.train.ensemble import EnsembleModel

    loaders: dict[str, Any] = {
        "lightgbm": LightGBMModel.from_files,
        "logistic": LogisticModel.from_files,
        CatBoostModel.family: CatBoostModel.from_files,
        EnsembleModel.family: EnsembleModel.from_files,
    }
    if family not in loaders:
        raise ModelError(f"unknown model family {family!r}; use one of {sorted(loaders)}")
    try:
        return loaders[family](files)
    except KeyError as exc:
        raise ModelError(f"{family} model files lack {exc.args[0]!r}") from None
