"""The CatBoost family: oblivious trees with native categoricals, stored as CatBoost's JSON.

CatBoost's JSON model is data (trees, borders, the categorical counters), never code, and it is
loaded with `format="json"`. It also carries a random `model_guid` and the `train_finish_time`,
so two fits of the same inputs and seed would differ in those two fields alone: they are taken
out before the file is written (CatBoost loads the file without them), and the keys are sorted,
so the same inputs and seed give a byte-identical file.

Categorical columns are given to CatBoost as strings (a missing value as its own level);
numeric gaps stay NaN, which CatBoost treats as smaller than any value.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

CATBOOST_MODEL_FILE = "catboost_model.json"
CATBOOST_PARAMS_FILE = "catboost_params.json"
MISSING_LEVEL = "__missing__"
# Fields of CatBoost's JSON that change on every fit whatever the inputs.
VOLATILE_FIELDS = ("model_guid", "train_finish_time")


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns CatBoost treats as categorical: pandas categoricals, strings, booleans."""
    return [
        c
        for c in X.columns
        if isinstance(X[c].dtype, pd.CategoricalDtype) or X[c].dtype == object or X[c].dtype == bool
    ]


def catboost_frame(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """`X` with its categorical columns as strings, a missing value as `MISSING_LEVEL`."""
    out = X.copy()
    for column in categorical:
        values = out[column].astype(object)
        out[column] = values.where(values.notna(), MISSING_LEVEL).astype(str)
    return out


def catboost_pool(
    X: pd.DataFrame,
    y: np.ndarray | None = None,
    *,
    weight: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
) -> Any:
    """A CatBoost `Pool` of `X` with its categoricals declared (`baseline` is a log-odds offset)."""
    from catboost import Pool

    categorical = categorical_columns(X)
    return Pool(
        catboost_frame(X, categorical),
        label=y,
        cat_features=categorical,
        weight=weight,
        baseline=baseline,
    )


def catboost_params(params: dict[str, Any], *, num_threads: int, seed: int) -> dict[str, Any]:
    """`params` with what every CatBoost fit here uses: binary log loss from zero (as a fit with
    a baseline starts; no boost from the average), threads, seed, quiet."""
    return {
        "loss_function": "Logloss",
        "boost_from_average": False,
        **params,
        "thread_count": num_threads,
        "random_seed": seed,
        "verbose": False,
        "allow_writing_files": False,
    }


def normalised_json(model: Any, pool: Any) -> bytes:
    """The model as CatBoost JSON without its volatile fields, keys sorted.

    `pool` is a pool of the training rows: CatBoost needs it to write the counters of
    categorical features.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / CATBOOST_MODEL_FILE
        model.save_model(str(path), format="json", pool=pool)
        content = json.loads(path.read_text())
    for field in VOLATILE_FIELDS:
        content["model_info"].pop(field, None)
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def load_json(text: bytes) -> Any:
    """A CatBoost model from its JSON bytes (CatBoost reads JSON only from a file)."""
    from catboost import CatBoost

    model = CatBoost()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / CATBOOST_MODEL_FILE
        path.write_bytes(text)
        model.load_model(str(path), format="json")
    return model


class CatBoostModel:
    """A fitted CatBoost model with its JSON; `params` are its training parameters."""

    family = "catboost"

    def __init__(self, model: Any, text: bytes, params: dict[str, Any]) -> None:
        self.model = model
        self.text = text
        self.params = params

    @property
    def feature_names(self) -> list[str]:
        return list(self.model.feature_names_)

    def _pool(self, X: pd.DataFrame) -> Any:
        return catboost_pool(X[self.feature_names])

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        values = self.model.predict(
            self._pool(X),
            prediction_type="RawFormulaVal",
            thread_count=int(self.params.get("thread_count", 1)),
        )
        return np.asarray(values, dtype=np.float64)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return expit(self.raw_log_odds(X))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """SHAP values in log-odds, (n, n_features + 1); the last column is the bias."""
        values = self.model.get_feature_importance(
            self._pool(X),
            type="ShapValues",
            thread_count=int(self.params.get("thread_count", 1)),
        )
        return np.asarray(values, dtype=np.float64)

    def feature_importance(self) -> dict[str, float]:
        """CatBoost's prediction-values-change importance per feature, as shares of the total."""
        values = np.asarray(self.model.get_feature_importance(), dtype=np.float64)
        total = float(values.sum()) or 1.0
        return {
            name: float(value) / total
            for name, value in zip(self.feature_names, values, strict=True)
        }

    def to_files(self) -> dict[str, bytes]:
        return {
            CATBOOST_MODEL_FILE: self.text,
            CATBOOST_PARAMS_FILE: json.dumps(self.params, sort_keys=True).encode(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> CatBoostModel:
        text = files[CATBOOST_MODEL_FILE]
        return cls(load_json(text), text, json.loads(files[CATBOOST_PARAMS_FILE]))


def fit_catboost(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: dict[str, Any],
    iterations: int,
    sample_weight: np.ndarray | None = None,
    num_threads: int = 1,
    seed: int = 0,
) -> CatBoostModel:
    """Train `iterations` trees of CatBoost on all of `X`; categoricals from the dtypes.

    The returned model is the one its JSON loads, so it scores exactly as a reload will.
    """
    from catboost import CatBoost

    full = {**catboost_params(params, num_threads=num_threads, seed=seed), "iterations": iterations}
    pool = catboost_pool(X, y, weight=sample_weight)
    model = CatBoost(full)
    model.fit(pool)
    # Served from its own file: the JSON's numbers are what a reload reads, to the last bit.
    text = normalised_json(model, pool)
    return CatBoostModel(load_json(text), text, full)
