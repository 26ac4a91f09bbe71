"""The training assets' run config: one class per asset, each default taken from the domain
settings model of its step, so a default is defined once; option strings are `Literal`s, so the
launchpad rejects a bad value before a run starts. `settings()` gives the domain model back.
"""

import dataclasses
from typing import Any, Literal

from dagster import Config
from pydantic import Field

from binclf.chain import PromotionSettings
from binclf.evaluate.steps import EvaluationSettings
from binclf.train.search import SearchSettings
from binclf.train.settings import (
    CalibrationSettings,
    Objective,
    Resampling,
    ScreeningSettings,
    SplitSettings,
    ThresholdSettings,
)
from binclf.train.threshold import ThresholdKind


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
        description="model families searched: lightgbm, logistic, catboost (opt-in)",
    )
    resampling: Resampling = Field(
        _default(SearchSettings, "resampling"),
        description="none, class_weight, random_under, random_over, smote_nc, or auto (searched)",
    )
    search_sample_rows: int | None = Field(
        _default(SearchSettings, "search_sample_rows"), description="trials fit on this many rows"
    )
    fidelity_min_rows: int = Field(
        _default(SearchSettings, "fidelity_min_rows"),
        description="LightGBM trials start on this many rows, then three times more per rung",
    )
    cv_max_rows: int = Field(
        _default(SearchSettings, "cv_max_rows"),
        description="at most this many training + validation rows: trials are cross-validated",
    )
    cv_folds: int = Field(
        _default(SearchSettings, "cv_folds"), description="folds of that cross-validation"
    )
    ensemble: bool = Field(
        _default(SearchSettings, "ensemble"),
        description="a greedy ensemble of the best trials competes with the winner",
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
        _default(SearchSettings, "num_threads"),
        description="LightGBM threads of fits on 100,000 rows or more (fewer: one); the cores",
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
    min_comparison_rows: int = Field(
        _default(PromotionSettings, "min_comparison_rows"),
        description="fewer test rows unseen by the champion refuse the comparison",
    )

    def settings(self) -> PromotionSettings:
        return PromotionSettings(**self.model_dump())
