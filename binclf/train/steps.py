"""The steps of training a candidate, as plain functions over frames and JSON.

The training assets pass JSON between them; each step here takes those values and returns
JSON-ready results: model inputs from splits, a search result as JSON (model text included) and
back, calibration, threshold, the evaluation evidence, and the files of a model version.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import polars as pl

from binclf.stats.plots import (
    plot_reliability,
    png_markdown,
)
from binclf.io.atomic import json_bytes, to_json_safe
from binclf.spec import DatasetSpec
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator, choose_calibration
from binclf.train.features import (
    FeatureSchema,
)
from binclf.train.inputs import data_version, model_inputs
from binclf.train.models import BinaryModel, model_from_files
from binclf.train.search import SearchResult, SearchSettings, search_model
from binclf.train.threshold import ThresholdPolicy, choose_threshold


def search(
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: SearchSettings,
    storage: str,
    study_name: str,
    min_positives: int = 10,
    leak_auc: float = 0.99,
) -> dict[str, Any]:
    """Screen the features, search on (train, validation), refit; the result as JSON."""
    inputs = model_inputs(
        splits, spec, names=("train", "validation"), min_positives=min_positives, leak_auc=leak_auc
    )
    train = inputs.features("train"), inputs.labels("train"), inputs.weights("train")
    valid = inputs.features("validation"), inputs.labels("validation"), inputs.weights("validation")
    schema, exclusions = inputs.schema, inputs.exclusions
    del inputs  # the polars copies of the splits are not needed once the model frames exist
    result = search_model(
        train[0],
        train[1],
        valid[0],
        valid[1],
        storage=storage,
        study_name=study_name,
        settings=settings,
        train_weight=train[2],
        valid_weight=valid[2],
    )
    return search_summary(result, schema, exclusions)


def search_summary(
    result: SearchResult, schema: FeatureSchema, exclusions: list[dict[str, Any]]
) -> dict[str, Any]:
    """A search result as JSON, with the winning model's files as text."""
    return to_json_safe(
        {
            "family": result.family,
            "params": result.params,
            "best_value": result.best_value,
            "objective": result.objective,
            "trials": {
                "complete": result.n_complete,
                "pruned": result.n_pruned,
                "failed": result.n_failed,
            },
            "history": result.history,
            "resampling": result.resampling,
            "prior_log_odds_shift": result.prior_log_odds_shift,
            "study_name": result.study_name,
            "refit_rows": result.refit_rows,
            "schema": schema.to_dict(),
            "exclusions": exclusions,
            "model_files": {k: v.decode() for k, v in result.model.to_files().items()},
        }
    )


def model_from_summary(summary: dict[str, Any]) -> BinaryModel:
    """The searched model back from its JSON summary."""
    files = {name: text.encode() for name, text in summary["model_files"].items()}
    return model_from_files(summary["family"], files)


def schema_from_summary(summary: dict[str, Any]) -> FeatureSchema:
    return FeatureSchema.from_dict(summary["schema"])


def build_bundle(
    search: dict[str, Any], calibration: dict[str, Any] | None, threshold: float
) -> ScoringBundle:
    """The scoring bundle of a candidate from its search, calibration and threshold."""
    return ScoringBundle(
        schema=schema_from_summary(search),
        model=model_from_summary(search),
        prior_log_odds_shift=float(search["prior_log_odds_shift"]),
        calibrator=Calibrator.from_dict(calibration["calibrator"])
        if calibration
        else Calibrator("none"),
        threshold=threshold,
    )


def study_name(spec: DatasetSpec, splits: pl.DataFrame, settings: dict[str, Any]) -> str:
    """Dataset, data version and code version: a rerun on the same inputs resumes the study."""
    code_version = package_version("binclf")
    code = hashlib.sha256(json_bytes({"version": code_version, **settings})).hexdigest()[:8]
    return f"{spec.name}-data{data_version(splits)}-code{code}"


def _scores(search: dict[str, Any], frame: pl.DataFrame) -> np.ndarray:
    """Prior-corrected model probabilities, before calibration."""
    return build_bundle(search, None, 0.5).raw_scores(frame)


def calibrate(
    search: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    methods: tuple[str, ...],
    n_folds: int,
    seed: int,
) -> dict[str, Any]:
    """Choose and fit the calibration on the calibration rows, with a reliability plot."""
    inputs = model_inputs(splits, spec, names=("calibration",), schema=schema_from_summary(search))
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    raw = _scores(search, frame)
    choice = choose_calibration(
        raw, y, methods=methods, n_folds=n_folds, seed=seed, weights=inputs.weights("calibration")
    )
    calibrated = choice.calibrator.transform(raw)
    plot = plot_reliability(y, {"before": raw, "after": calibrated}, title="Calibration rows")
    return to_json_safe({**choice.to_dict(), "plot": png_markdown(plot, "reliability")})


def threshold(
    search: dict[str, Any],
    calibration: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    policy: str,
    target: float | None,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Choose the decision threshold on the calibration rows (never on test)."""
    inputs = model_inputs(splits, spec, names=("calibration",), schema=schema_from_summary(search))
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    p = build_bundle(search, calibration, 0.5).probabilities(frame)
    choice = choose_threshold(
        p,
        y,
        policy=ThresholdPolicy(kind=policy, target=target),
        cost_fp=spec.costs.false_positive,
        cost_fn=spec.costs.false_negative,
        weights=inputs.weights("calibration"),
        n_boot=n_boot,
        seed=seed,
    )
    return to_json_safe(choice.to_dict())
