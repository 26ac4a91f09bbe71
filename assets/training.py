"""Training: window, splits, search, calibration, threshold, evaluation, registry, promotion."""

import time
from datetime import UTC, datetime
from typing import Any

import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    asset,
)
from pydantic import Field

from assets import training_metadata as meta
from assets.resources import StateResource
from binclf.evaluate import steps as evaluation_steps
from binclf.ingest.sources import keys_in_window
from binclf.register import candidate
from binclf.register.gates import evaluate_gates
from binclf.register.promotion import challenge_champion
from binclf.spec import DatasetSpec
from binclf.train import inputs as training_inputs
from binclf.train import steps
from binclf.train.search import SearchSettings
from binclf.train.splits import make_splits
from binclf.train.window import select_training_window

GATE_CHECKS = {
    "min_test_volume": ("min_test_rows", "min_test_positives"),
    "min_roc_auc": ("min_roc_auc",),
    "min_pr_auc": ("min_pr_auc",),
    "max_ece": ("max_ece",),
    "max_fairness_disparity": ("max_fairness_disparity",),
    "min_slice_recall": ("min_slice_recall",),
    "no_label_leakage": ("max_single_feature_auc",),
}


class WindowConfig(Config):
    """Which labeled rows train the model."""

    cutoff: str | None = Field(
        None, description="ISO date or time; labels known after it are not used (default: now)"
    )
    window_days: int | None = Field(None, description="days before the cutoff (default: all)")


class SplitConfig(Config):
    """Shares of the time-ordered train / validation / calibration / test splits."""

    train: float = 0.6
    validation: float = 0.15
    calibration: float = 0.1
    test: float = 0.15
    seed: int = 0


class SearchConfig(Config):
    """The hyperparameter search over LightGBM and logistic regression (optuna TPE)."""

    n_trials: int | None = Field(100, description="finished trials over all resumed runs")
    timeout_seconds: float | None = Field(60.0, description="wall-clock budget of one run")
    objective: str = Field("log_loss", description="'log_loss' or 'pr_auc'")
    families: list[str] = Field(["lightgbm", "logistic"], description="model families searched")
    resampling: str = Field(
        "none",
        description="none, class_weight, random_under, random_over, smote_nc, or auto (searched)",
    )
    search_sample_rows: int | None = Field(100_000, description="trials fit on this many rows")
    min_positives: int = Field(10, description="fewer positives in train is an error")
    leak_auc: float = Field(0.99, description="drop features whose single-feature AUC exceeds it")
    num_threads: int = Field(2, description="LightGBM threads; match the cores")
    seed: int = 0


class CalibrationConfig(Config):
    methods: list[str] = Field(["none", "sigmoid", "isotonic"])
    n_folds: int = 5
    seed: int = 0


class ThresholdConfig(Config):
    """The decision threshold policy; min_cost uses the spec's costs."""

    policy: str = Field(
        "min_cost",
        description="min_cost, max_recall_at_precision, max_precision_at_recall or fpr_budget",
    )
    target: float | None = Field(None, description="the precision, recall or FPR target")
    n_boot: int = 200
    seed: int = 0


class EvaluationConfig(Config):
    n_boot: int = 200
    min_slice_size: int = 100
    explain_rows: int = 2_000
    seed: int = 0


class PromotionConfig(Config):
    """How the challenger must compare with the champion on the same test rows."""

    metric: str = Field("pr_auc", description="pr_auc, roc_auc, log_loss or brier")
    margin: float = Field(0.01, description="non-inferiority margin on the metric")
    require_improvement: bool = Field(False, description="also require a proven improvement")
    n_boot: int = 500
    seed: int = 0


def training_assets(spec: DatasetSpec) -> list[AssetsDefinition]:
    """The training group for one dataset."""
    # One training run of a dataset at a time: its steps share a pool of one (dagster.yaml).
    group = {"group_name": "training", "pool": f"training_{spec.name}"}

    @asset(**group, deps=["validated_events"])
    def training_window(
        context: AssetExecutionContext, config: WindowConfig, state: StateResource
    ) -> pl.DataFrame:
        """Labeled rows whose label was known at the cutoff, read from the window's partitions."""
        store = state.store()
        cutoff = datetime.fromisoformat(config.cutoff) if config.cutoff else None
        if cutoff is not None and cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=UTC)
        keys = keys_in_window(store.keys("validated_events"), cutoff, config.window_days)
        frame = select_training_window(
            store.scan("validated_events", keys),
            spec,
            cutoff=cutoff,
            window_days=config.window_days,
        )
        context.add_output_metadata(
            meta.window_metadata(training_inputs.window_summary(frame, spec, keys, cutoff))
        )
        return frame

    @asset(**group)
    def training_splits(
        context: AssetExecutionContext, config: SplitConfig, training_window: pl.DataFrame
    ) -> pl.DataFrame:
        """Disjoint train / validation / calibration / test rows, ordered by time."""
        fractions = (config.train, config.validation, config.calibration, config.test)
        splits = make_splits(training_window, spec, fractions=fractions, seed=config.seed)
        summary = training_inputs.split_summary(splits, spec)
        context.add_output_metadata(meta.splits_metadata(summary))
        return splits

    @asset(**group)
    def model_search(
        context: AssetExecutionContext,
        config: SearchConfig,
        state: StateResource,
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """The best model family and parameters by optuna, refit on all training rows."""
        settings = SearchSettings(
            n_trials=config.n_trials,
            timeout_seconds=config.timeout_seconds,
            objective=config.objective,
            families=tuple(config.families),
            resampling=config.resampling,
            search_sample_rows=config.search_sample_rows,
            num_threads=config.num_threads,
            seed=config.seed,
        )
        started = time.monotonic()
        summary = steps.search(
            training_splits,
            spec,
            settings=settings,
            storage=state.optuna_url(spec.name),
            study_name=steps.study_name(spec, training_splits, config.model_dump()),
            min_positives=config.min_positives,
            leak_auc=config.leak_auc,
        )
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        context.add_output_metadata(meta.search_metadata(summary))
        return summary

    @asset(**group)
    def calibration(
        context: AssetExecutionContext,
        config: CalibrationConfig,
        model_search: dict[str, Any],
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """None, sigmoid or isotonic, chosen by cross-validated log loss on the calibration rows."""
        result = steps.calibrate(
            model_search,
            training_splits,
            spec,
            methods=tuple(config.methods),
            n_folds=config.n_folds,
            seed=config.seed,
        )
        context.add_output_metadata(meta.calibration_metadata(result))
        return result

    @asset(**group)
    def decision_threshold(
        context: AssetExecutionContext,
        config: ThresholdConfig,
        model_search: dict[str, Any],
        calibration: dict[str, Any],
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """The threshold from the spec's costs (or a constraint), chosen on calibration rows."""
        result = steps.threshold(
            model_search,
            calibration,
            training_splits,
            spec,
            policy=config.policy,
            target=config.target,
            n_boot=config.n_boot,
            seed=config.seed,
        )
        context.add_output_metadata(meta.threshold_metadata(result))
        return result

    @asset(**group)
    def candidate_evaluation(
        context: AssetExecutionContext,
        config: EvaluationConfig,
        model_search: dict[str, Any],
        calibration: dict[str, Any],
        decision_threshold: dict[str, Any],
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """Test metrics with intervals, slices, fairness, explanations and leakage evidence."""
        evidence = evaluation_steps.evaluate(
            model_search,
            calibration,
            decision_threshold,
            training_splits,
            spec,
            n_boot=config.n_boot,
            min_slice_size=config.min_slice_size,
            explain_rows=config.explain_rows,
            seed=config.seed,
        )
        context.add_output_metadata(meta.evaluation_metadata(evidence))
        return evidence

    @asset(
        **group,
        check_specs=[
            AssetCheckSpec(name, asset="model_candidate", blocking=True, description=str(keys))
            for name, keys in GATE_CHECKS.items()
        ],
    )
    def model_candidate(
        context: AssetExecutionContext,
        state: StateResource,
        model_search: dict[str, Any],
        calibration: dict[str, Any],
        decision_threshold: dict[str, Any],
        candidate_evaluation: dict[str, Any],
        training_splits: pl.DataFrame,
    ):
        """The candidate registered as an immutable version with its model card; gates judge it."""
        registered = candidate.register_candidate(
            state.registry(),
            spec,
            search=model_search,
            calibration=calibration,
            threshold=decision_threshold,
            evidence=candidate_evaluation,
            splits=training_splits,
        )
        gates = evaluate_gates(candidate_evaluation, spec.gates)
        yield from meta.gate_check_results(gates, GATE_CHECKS)
        failed = [g for g in gates if not g.passed]
        if failed:
            candidate.record_gate_rejection(state.registry(), spec, registered["version"], gates)
        yield meta.candidate_output(registered)

    @asset(**group)
    def champion_decision(
        context: AssetExecutionContext,
        config: PromotionConfig,
        state: StateResource,
        model_candidate: dict[str, Any],
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """Promote the candidate if every gate passed and it holds up against the champion."""
        registry = state.registry()
        version = model_candidate["version"]
        evidence = candidate.stored_evidence(registry, spec, version)
        test, y = evaluation_steps.test_rows(training_splits, spec)
        record = challenge_champion(
            registry,
            spec.name,
            version,
            test,
            y,
            gates=evaluate_gates(evidence, spec.gates),
            metric=config.metric,
            margin=config.margin,
            require_improvement=config.require_improvement,
            n_boot=config.n_boot,
            seed=config.seed,
        )
        context.add_output_metadata(meta.decision_metadata(record))
        return record

    return [
        training_window,
        training_splits,
        model_search,
        calibration,
        decision_threshold,
        candidate_evaluation,
        model_candidate,
        champion_decision,
    ]
