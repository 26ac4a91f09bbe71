"""A candidate on its test rows: metrics, slices, fairness, explanations, leakage, plots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from binclf.evaluate.evidence import evaluate_candidate, explanations
from binclf.io.atomic import to_json_safe
from binclf.spec import DatasetSpec
from binclf.stats.plots import (
    plot_feature_importance,
    plot_precision_recall,
    plot_reliability,
    plot_roc,
    plot_score_distribution,
)
from binclf.train.features import FeatureSchema, single_feature_aucs, target_vector, to_model_frame
from binclf.train.inputs import data_version, split_frames
from binclf.train.lineage import require_same_data
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.splits import SPLIT_COLUMN
from binclf.train.steps import build_bundle
from binclf.train.threshold import ThresholdChoice


class EvaluationSettings(BaseModel):
    """Bootstrap replicates, the smallest slice judged on its own, rows explained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_boot: int = 200
    min_slice_size: int = 100
    explain_rows: int = 2_000
    seed: int = 0


@dataclass(frozen=True)
class Evaluation:
    """The evidence a candidate is judged on (JSON-ready) and its test-row plots (PNG bytes).

    `evidence` holds test_rows, test_positives, test_metrics, slices, fairness, leakage,
    explanations and top_features: what the gates read and the version stores as evidence.json.
    """

    evidence: dict[str, Any]
    plots: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def test_metrics(self) -> dict[str, Any]:
        return self.evidence["test_metrics"]

    @property
    def top_features(self) -> dict[str, float]:
        return self.evidence["top_features"]

    @property
    def data_version(self) -> str:
        """The data version of the training splits the evidence was measured on."""
        return str(self.evidence.get("data_version", ""))

    def to_dict(self) -> dict[str, Any]:
        return self.evidence

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(dict(data))


def test_rows(splits: pl.DataFrame, spec: DatasetSpec) -> tuple[pl.DataFrame, np.ndarray]:
    """The test rows and their labels."""
    test = split_frames(splits, ("test",))["test"]
    return test, target_vector(test, spec)


def evaluate(
    search: SearchOutcome,
    calibration: CalibrationOutcome,
    threshold_choice: ThresholdChoice,
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: EvaluationSettings,
) -> Evaluation:
    """Evidence on the test rows: metrics, slices, fairness, explanations, leakage, plots."""
    version = data_version(splits)
    require_same_data(
        "candidate_evaluation",
        version,
        {
            "model_search": search.data_version,
            "calibration": calibration.data_version,
            "decision_threshold": threshold_choice.data_version,
        },
    )
    schema = search.schema
    bundle = build_bundle(search, calibration, threshold_choice.value)
    test, y = test_rows(splits, spec)
    raw = bundle.raw_scores(test)
    p = np.asarray(bundle.calibrator.transform(raw), dtype=np.float64)
    explained = explanations(
        bundle.model,
        to_model_frame(
            test.sample(min(settings.explain_rows, test.height), seed=settings.seed), schema
        ),
        sample_rows=settings.explain_rows,
        seed=settings.seed,
    )
    evidence = evaluate_candidate(
        test,
        y,
        p,
        spec=spec,
        threshold=bundle.threshold,
        leakage=training_leakage(splits, spec, schema),
        min_slice_size=settings.min_slice_size,
        n_boot=settings.n_boot,
        seed=settings.seed,
    )
    importance = {row["feature"]: row["importance"] for row in _importance_rows(explained)}
    plots = {
        "roc": plot_roc(y, {"test": p}),
        "precision_recall": plot_precision_recall(y, {"test": p}),
        "reliability": plot_reliability(y, {"uncalibrated": raw, "calibrated": p}),
        "scores": plot_score_distribution(y, p, threshold=bundle.threshold),
        "importance": plot_feature_importance(importance),
    }
    full = {
        **evidence,
        "explanations": explained,
        "top_features": importance,
        "data_version": version,
    }
    return Evaluation(to_json_safe(full), plots=plots)


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


def _importance_rows(explained: Any) -> list[dict[str, Any]]:
    rows = explained.get("shap") or explained.get("coefficients") or []
    return sorted(rows, key=lambda r: -abs(r["importance"]))[:20]
