"""The settings of each training step, with their defaults defined here once.

The Dagster configs take their defaults from these models, and the plain chain takes the models
themselves, so both run the same steps with the same numbers. Option strings are `Literal`s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from binclf.train.threshold import ThresholdKind

CalibrationMethod = Literal["none", "sigmoid", "isotonic"]
Objective = Literal["log_loss", "pr_auc"]
Resampling = Literal["none", "class_weight", "random_under", "random_over", "smote_nc", "auto"]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitSettings(_Settings):
    """Shares of the time-ordered train / validation / calibration / test splits."""

    train: float = 0.6
    validation: float = 0.15
    calibration: float = 0.1
    test: float = 0.15
    seed: int = 0

    @property
    def fractions(self) -> tuple[float, float, float, float]:
        return (self.train, self.validation, self.calibration, self.test)


class ScreeningSettings(_Settings):
    """Checks of the training rows before the search: enough positives, no leaking feature."""

    min_positives: int = Field(10, description="fewer positives in train is an error")
    leak_auc: float = Field(0.99, description="drop features whose single-feature AUC exceeds it")


class CalibrationSettings(_Settings):
    """Which calibrations compete on the calibration rows, and their cross-validation."""

    methods: tuple[CalibrationMethod, ...] = ("none", "sigmoid", "isotonic")
    n_folds: int = 5
    seed: int = 0


class ThresholdSettings(_Settings):
    """The decision threshold policy; min_cost uses the spec's costs."""

    policy: ThresholdKind = Field(
        "min_cost",
        description="min_cost, max_recall_at_precision, max_precision_at_recall or fpr_budget",
    )
    target: float | None = Field(None, description="the precision, recall or FPR target")
    n_boot: int = 200
    seed: int = 0
