"""The search space, its starting points and how trials are sampled and pruned, as data.

Everything here decides what a study explores, so it is hashed into the study name
(`definition_hash`): a study resumes only under the definition that ran its trials. The hash
covers the description below; code that changes a trial's meaning without changing the
description (the objective's fit or score) must bump `SEARCH_DEFINITION_VERSION`, which a test
pins together with the hash, so neither changes unnoticed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from binclf.io.atomic import json_bytes
from binclf.train.models import THREADED_MIN_ROWS
from binclf.train.search.catboost_trial import (
    CATBOOST_EARLY_STOPPING_ROUNDS,
    CATBOOST_LEARNING_RATE,
    CATBOOST_MAX_ITERATIONS,
    CATBOOST_METRICS,
)
from binclf.train.search.families import FAMILY_SHARES
from binclf.train.search.fidelity import (
    FIDELITY_FACTOR,
    LOW_RUNG_EARLY_STOPPING_ROUNDS,
    LOW_RUNG_RATE_FACTOR,
    LOW_RUNG_THREADS,
    TOP_RUNG_BUDGET_SHARE,
)
from binclf.train.search.settings import LIGHTGBM_METRICS, OBJECTIVES, SearchSettings

SEARCH_DEFINITION_VERSION = 5

# Each parameter: its kind and range ("int"/"float" with low, high and log scale) or choices.
LIGHTGBM_SPACE: dict[str, dict[str, Any]] = {
    "num_leaves": {"kind": "int", "low": 2, "high": 128, "log": True},
    "min_data_in_leaf": {"kind": "int", "low": 5, "high": 500, "log": True},
    "feature_fraction": {"kind": "float", "low": 0.3, "high": 1.0, "log": False},
    "bagging_fraction": {"kind": "float", "low": 0.5, "high": 1.0, "log": False},
    "lambda_l2": {"kind": "float", "low": 1e-3, "high": 100.0, "log": True},
    "cat_smooth": {"kind": "float", "low": 1.0, "high": 100.0, "log": True},
    "max_cat_to_onehot": {"kind": "categorical", "choices": [4, 64]},
}
LOGISTIC_SPACE: dict[str, dict[str, Any]] = {
    "C": {"kind": "float", "low": 1e-3, "high": 100.0, "log": True},
    "class_weight": {"kind": "categorical", "choices": ["none", "balanced"]},
}
CATBOOST_SPACE: dict[str, dict[str, Any]] = {
    "depth": {"kind": "int", "low": 4, "high": 8, "log": False},
    "l2_leaf_reg": {"kind": "float", "low": 1.0, "high": 30.0, "log": True},
    "random_strength": {"kind": "float", "low": 0.1, "high": 10.0, "log": True},
    "bagging_temperature": {"kind": "float", "low": 0.0, "high": 1.0, "log": False},
}
SPACES = {"lightgbm": LIGHTGBM_SPACE, "logistic": LOGISTIC_SPACE, "catboost": CATBOOST_SPACE}

# The first trials of a new study: a plain logistic regression (cheap, so it always runs) and a
# small portfolio of LightGBM configurations that are sound on most tabular data (small
# regularized trees with column sampling, near-library defaults, larger trees for larger data).
# The search starts from them, so it never ends worse than they do on validation.
STARTING_POINTS: dict[str, list[dict[str, Any]]] = {
    "logistic": [{"C": 1.0, "class_weight": "none"}],
    "lightgbm": [
        {"num_leaves": 15, "min_data_in_leaf": 20, "feature_fraction": 0.4,
         "bagging_fraction": 1.0, "lambda_l2": 5.0, "cat_smooth": 10.0, "max_cat_to_onehot": 64},
        {"num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.8,
         "bagging_fraction": 0.8, "lambda_l2": 1.0, "cat_smooth": 10.0, "max_cat_to_onehot": 4},
        {"num_leaves": 63, "min_data_in_leaf": 50, "feature_fraction": 0.6,
         "bagging_fraction": 0.8, "lambda_l2": 10.0, "cat_smooth": 10.0, "max_cat_to_onehot": 64},
    ],
    # CatBoost's own defaults.
    "catboost": [
        {"depth": 6, "l2_leaf_reg": 3.0, "random_strength": 1.0, "bagging_temperature": 1.0},
    ],
}  # fmt: skip

# On small data (at most `SMALL_DATA_ROWS` training rows), where weak signals and few positives
# favour few leaves and strong regularization, one more LightGBM start: four leaves, `lambda_l2`
# 30. On larger data such a model runs thousands of rounds, and a 60 s budget on 200k rows ran
# half as many configurations with it (20 against 40) and found a worse one.
SMALL_DATA_ROWS = 50_000
SMALL_DATA_STARTING_POINTS: dict[str, list[dict[str, Any]]] = {
    "lightgbm": [
        {"num_leaves": 4, "min_data_in_leaf": 100, "feature_fraction": 0.9,
         "bagging_fraction": 0.7, "lambda_l2": 30.0, "cat_smooth": 10.0, "max_cat_to_onehot": 4},
    ],
}  # fmt: skip


def starting_points(training_rows: int) -> dict[str, list[dict[str, Any]]]:
    """The starting points of a search on `training_rows` rows, by family."""
    if training_rows > SMALL_DATA_ROWS:
        return STARTING_POINTS
    return {
        family: points + SMALL_DATA_STARTING_POINTS.get(family, [])
        for family, points in STARTING_POINTS.items()
    }


# TPE after this many trials; before, random (or the starting points).
N_STARTUP_TRIALS = 8


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One point of `space`, asked of the trial parameter by parameter in the space's order."""
    point: dict[str, Any] = {}
    for name, spec in space.items():
        if spec["kind"] == "int":
            point[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        elif spec["kind"] == "float":
            point[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
        else:
            point[name] = trial.suggest_categorical(name, spec["choices"])
    return point


def lightgbm_training_params(point: dict[str, Any], settings: SearchSettings) -> dict[str, Any]:
    """A point of the LightGBM space as LightGBM training parameters."""
    return {
        **point,
        "bagging_freq": 1 if point["bagging_fraction"] < 1.0 else 0,
        "learning_rate": settings.learning_rate,
    }


def describe() -> dict[str, Any]:
    """The search definition as JSON-ready data: spaces, starting points, sampler, pruner."""
    return {
        "spaces": SPACES,
        "starting_points": STARTING_POINTS,
        "small_data_starting_points": {
            "max_training_rows": SMALL_DATA_ROWS,
            "points": SMALL_DATA_STARTING_POINTS,
        },
        "objectives": OBJECTIVES,
        "lightgbm_metrics": LIGHTGBM_METRICS,
        "catboost": {
            "learning_rate": CATBOOST_LEARNING_RATE,
            "max_iterations": CATBOOST_MAX_ITERATIONS,
            "early_stopping_rounds": CATBOOST_EARLY_STOPPING_ROUNDS,
            "metrics": CATBOOST_METRICS,
        },
        "sampler": {"kind": "tpe", "multivariate": True, "n_startup_trials": N_STARTUP_TRIALS},
        "family_shares": FAMILY_SHARES,
        "threaded_min_rows": THREADED_MIN_ROWS,
        "pruner": {
            "kind": "successive_halving",
            "fidelity": "training_rows",
            "reduction_factor": FIDELITY_FACTOR,
            "top_rung_budget_share": TOP_RUNG_BUDGET_SHARE,
            "low_rungs": {
                "learning_rate_factor": LOW_RUNG_RATE_FACTOR,
                "early_stopping_rounds": LOW_RUNG_EARLY_STOPPING_ROUNDS,
                "num_threads": LOW_RUNG_THREADS,
            },
        },
    }


def space_hash() -> str:
    """A hash of `describe()` alone (what the test pins next to the version)."""
    return hashlib.sha256(json_bytes(describe(), indent=None)).hexdigest()[:12]


def definition_hash() -> str:
    """A short hash of the search definition: its version and its description."""
    payload = {"version": SEARCH_DEFINITION_VERSION, "description": describe()}
    return hashlib.sha256(json_bytes(payload, indent=None)).hexdigest()[:12]
