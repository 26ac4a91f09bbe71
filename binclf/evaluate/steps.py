"""A candidate on its test rows: metrics, slices, fairness, explanations, leakage, plots."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from binclf.evaluate.evidence import evaluate_candidate, explanations
from binclf.stats.plots import (
    plot_feature_importance,
    plot_precision_recall,
    plot_reliability,
    plot_roc,
    plot_score_distribution,
    png_markdown,
)
from binclf.io.atomic import to_json_safe
from binclf.spec import DatasetSpec
from binclf.train.features import FeatureSchema, single_feature_aucs, target_vector, to_model_frame
from binclf.train.inputs import split_frames
from binclf.train.splits import SPLIT_COLUMN
from binclf.train.steps import build_bundle, schema_from_summary


def test_rows(splits: pl.DataFrame, spec: DatasetSpec) -> tuple[pl.DataFrame, np.ndarray]:
    """The test rows and their labels."""
    test = split_frames(splits, ("test",))["test"]
    return test, target_vector(test, spec)


def evaluate(
    search: dict[str, Any],
    calibration: dict[str, Any],
    threshold_choice: dict[str, Any],
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    n_boot: int,
    min_slice_size: int,
    explain_rows: int,
    seed: int,
) -> dict[str, Any]:
    """Evidence on the test rows: metrics, slices, fairness, explanations, leakage, plots."""
    schema = schema_from_summary(search)
    bundle = build_bundle(search, calibration, threshold_choice["value"])
    test = split_frames(splits, ("test",))["test"]
    y = target_vector(test, spec)
    raw = bundle.raw_scores(test)
    p = np.asarray(bundle.calibrator.transform(raw), dtype=np.float64)
    explained = explanations(
        bundle.model,
        to_model_frame(test.sample(min(explain_rows, test.height), seed=seed), schema),
        sample_rows=explain_rows,
        seed=seed,
    )
    evidence = evaluate_candidate(
        test,
        y,
        p,
        spec=spec,
        threshold=bundle.threshold,
        leakage=training_leakage(splits, spec, schema),
        min_slice_size=min_slice_size,
        n_boot=n_boot,
        seed=seed,
    )
    importance = {row["feature"]: row["importance"] for row in _importance_rows(explained)}
    plots = {
        "roc": plot_roc(y, {"test": p}),
        "precision_recall": plot_precision_recall(y, {"test": p}),
        "reliability": plot_reliability(y, {"uncalibrated": raw, "calibrated": p}),
        "scores": plot_score_distribution(y, p, threshold=bundle.threshold),
        "importance": plot_feature_importance(importance),
    }
    return to_json_safe(
        {
            **evidence,
            "explanations": explained,
            "top_features": importance,
            "plots": {name: png_markdown(png, name) for name, png in plots.items()},
        }
    )


def training_leakage(
    splits: pl.DataFrame, spec: DatasetSpec, schema: FeatureSchema
) -> dict[str, float]:
    """Each feature's single-feature ROC-AUC on the training rows (copying only those columns)."""
    train = (
        splits.lazy()
        .filter(pl.col(SPLIT_COLUMN) == "train")
        .select([*schema.columns, spec.target])
        .collect()
    )
    return single_feature_aucs(train, target_vector(train, spec), schema)


def _importance_rows(explained: dict[str, Any]) -> list[dict[str, Any]]:
    rows = explained.get("shap") or explained.get("coefficients") or []
    return sorted(rows, key=lambda r: -abs(r["importance"]))[:20]
