"""Training: window, splits, search, calibration, threshold, evaluation, registry, promotion."""

import dataclasses
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

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
from binclf import chain
from binclf.chain import PromotionSettings
from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.steps import Evaluation, EvaluationSettings
from binclf.ingest.sources import keys_in_window
from binclf.register.candidate import RegisteredCandidate
from binclf.spec import DatasetSpec
from binclf.train import inputs as training_inputs
from binclf.train import steps
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.search import SearchSettings
from binclf.train.settings import (
    CalibrationSettings,
    Objective,
    Resampling,
    ScreeningSettings,
    SplitSettings,
    ThresholdSettings,
)
from binclf.train.threshold import ThresholdChoice, ThresholdKind
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


def _default(settings: type, name: str) -> Any:
    """A field's default in a domain settings model (pydantic or dataclass): defined once there."""
    if dataclasses.is_dataclass(settings):
        default = next(f.default for f in dataclasses.fields(settings) if f.name == name)
    else:
        default = settings.model_fields[name].default
    return list(default) if isinstance(default, tuple) else default


class SplitConfig(Config):
    """Shares of the time-ordered train / validation / calibration / test splits."""

    train: float = _default(SplitSettings, "train")
    validation: float = _default(SplitSettings, "validation")
    calibration: float = _default(SplitSettings, "calibration")
    test: float = _default(SplitSettings, "test")
    seed: int = _default(SplitSettings, "seed")

    def settings(self) -> SplitSettings:
        return SplitSettings(**self.model_dump())


class SearchConfig(Config):
    """The hyperparameter search over LightGBM and logistic regression (optuna TPE)."""

    n_trials: int | None = Field(
        _default(SearchSettings, "n_trials"), description="finished trials over all resumed runs"
    )
    timeout_seconds: float | None = Field(
        _default(SearchSettings, "timeout_seconds"), description="wall-clock budget of one run"
    )
    objective: Objective = _default(SearchSettings, "objective")
    families: list[str] = Field(
        _default(SearchSettings, "families"),
        description="model families searched: lightgbm, logistic",
    )
    resampling: Resampling = Field(
        _default(SearchSettings, "resampling"),
        description="none, class_weight, random_under, random_over, smote_nc, or auto (searched)",
    )
    search_sample_rows: int | None = Field(
        _default(SearchSettings, "search_sample_rows"), description="trials fit on this many rows"
    )
    min_positives: int = Field(
        _default(ScreeningSettings, "min_positives"),
        description="fewer positives in train is an error",
    )
    leak_auc: float = Field(
        _default(ScreeningSettings, "leak_auc"),
        description="drop features whose single-feature AUC exceeds it",
    )
    num_threads: int = Field(
        _default(SearchSettings, "num_threads"), description="LightGBM threads; match the cores"
    )
    seed: int = _default(SearchSettings, "seed")

    def settings(self) -> SearchSettings:
        values = self.model_dump(exclude={"min_positives", "leak_auc"})
        return SearchSettings(**{**values, "families": tuple(self.families)})

    def screening(self) -> ScreeningSettings:
        return ScreeningSettings(min_positives=self.min_positives, leak_auc=self.leak_auc)


class CalibrationConfig(Config):
    """Calibrations that compete (none, sigmoid, isotonic) by cross-validated log loss."""

    methods: list[str] = _default(CalibrationSettings, "methods")
    n_folds: int = _default(CalibrationSettings, "n_folds")
    seed: int = _default(CalibrationSettings, "seed")

    def settings(self) -> CalibrationSettings:
        return CalibrationSettings(**{**self.model_dump(), "methods": tuple(self.methods)})


class ThresholdConfig(Config):
    """The decision threshold policy; min_cost uses the spec's costs."""

    policy: ThresholdKind = _default(ThresholdSettings, "policy")
    target: float | None = Field(
        _default(ThresholdSettings, "target"), description="the precision, recall or FPR target"
    )
    n_boot: int = _default(ThresholdSettings, "n_boot")
    seed: int = _default(ThresholdSettings, "seed")

    def settings(self) -> ThresholdSettings:
        return ThresholdSettings(**self.model_dump())


class EvaluationConfig(Config):
    n_boot: int = _default(EvaluationSettings, "n_boot")
    min_slice_size: int = _default(EvaluationSettings, "min_slice_size")
    explain_rows: int = _default(EvaluationSettings, "explain_rows")
    seed: int = _default(EvaluationSettings, "seed")

    def settings(self) -> EvaluationSettings:
        return EvaluationSettings(**self.model_dump())


class PromotionConfig(Config):
    """How the challenger must compare with the champion on the same test rows."""

    metric: Literal["pr_auc", "roc_auc", "log_loss", "brier"] = Field(
        _default(PromotionSettings, "metric"), description="pr_auc, roc_auc, log_loss or brier"
    )
    margin: float = Field(
        _default(PromotionSettings, "margin"), description="non-inferiority margin on the metric"
    )
    require_improvement: bool = Field(
        _default(PromotionSettings, "require_improvement"),
        description="also require a proven improvement",
    )
    n_boot: int = _default(PromotionSettings, "n_boot")
    seed: int = _default(PromotionSettings, "seed")

    def settings(self) -> PromotionSettings:
        return PromotionSettings(**self.model_dump())


def training_assets(spec: DatasetSpec) -> list[AssetsDefinition]:
    """The training group for one dataset."""
    group = {"group_name": "training"}

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
        splits = chain.split(training_window, spec, config.settings())
        context.add_output_metadata(
            meta.splits_metadata(training_inputs.split_summary(splits, spec))
        )
        return splits

    @asset(**group)
    def model_search(
        context: AssetExecutionContext,
        config: SearchConfig,
        state: StateResource,
        training_splits: pl.DataFrame,
    ) -> SearchOutcome:
        """The best model family and parameters by optuna, refit on all training rows."""
        settings, screening = config.settings(), config.screening()
        started = time.monotonic()
        outcome = steps.search(
            training_splits,
            spec,
            settings=settings,
            storage=state.optuna_url(spec.name),
            study_name=steps.study_name(spec, training_splits, settings, screening),
            screening=screening,
        )
        outcome = replace(outcome, wall_seconds=round(time.monotonic() - started, 1))
        context.add_output_metadata(meta.search_metadata(outcome))
        return outcome

    @asset(**group)
    def calibration(
        context: AssetExecutionContext,
        config: CalibrationConfig,
        model_search: SearchOutcome,
        training_splits: pl.DataFrame,
    ) -> CalibrationOutcome:
        """None, sigmoid or isotonic, chosen by cross-validated log loss on the calibration rows."""
        result = steps.calibrate(model_search, training_splits, spec, settings=config.settings())
        context.add_output_metadata(meta.calibration_metadata(result))
        return result

    @asset(**group)
    def decision_threshold(
        context: AssetExecutionContext,
        config: ThresholdConfig,
        model_search: SearchOutcome,
        calibration: CalibrationOutcome,
        training_splits: pl.DataFrame,
    ) -> ThresholdChoice:
        """The threshold from the spec's costs (or a constraint), chosen on calibration rows."""
        result = steps.threshold(
            model_search, calibration, training_splits, spec, settings=config.settings()
        )
        context.add_output_metadata(meta.threshold_metadata(result))
        return result

    @asset(**group)
    def candidate_evaluation(
        context: AssetExecutionContext,
        config: EvaluationConfig,
        model_search: SearchOutcome,
        calibration: CalibrationOutcome,
        decision_threshold: ThresholdChoice,
        training_splits: pl.DataFrame,
    ) -> Evaluation:
        """Test metrics with intervals, slices, fairness, explanations and leakage evidence."""
        evaluation = evaluation_steps.evaluate(
            model_search,
            calibration,
            decision_threshold,
            training_splits,
            spec,
            settings=config.settings(),
        )
        context.add_output_metadata(meta.evaluation_metadata(evaluation))
        return evaluation

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
        model_search: SearchOutcome,
        calibration: CalibrationOutcome,
        decision_threshold: ThresholdChoice,
        candidate_evaluation: Evaluation,
        training_splits: pl.DataFrame,
    ):
        """The candidate registered as an immutable version with its model card; gates judge it."""
        registered, gates = chain.register(
            state.registry(),
            spec,
            search=model_search,
            calibration=calibration,
            threshold=decision_threshold,
            evaluation=candidate_evaluation,
            splits=training_splits,
        )
        yield from meta.gate_check_results(gates, GATE_CHECKS)
        yield meta.candidate_output(registered)

    @asset(**group)
    def champion_decision(
        context: AssetExecutionContext,
        config: PromotionConfig,
        state: StateResource,
        model_candidate: RegisteredCandidate,
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """Promote the candidate if every gate passed and it holds up against the champion."""
        record = chain.decide(
            state.registry(), spec, model_candidate.version, training_splits, config.settings()
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
