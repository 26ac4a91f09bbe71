"""The training chain without any framework: splits, search, calibration, threshold,
evaluation and registration, calling the same step functions the Dagster assets call one by one.

`train_candidate` runs the whole chain on a training window (the benchmarks and the Adult script
use it); `split`, `register` and `decide` (the champion decision after registration) are the
steps that are more than one call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.evidence import day_clusters, row_weights_of
from binclf.evaluate.steps import Evaluation, EvaluationSettings
from binclf.register import candidate
from binclf.register.candidate import RegisteredCandidate
from binclf.register.gates import GateResult, evaluate_gates
from binclf.register.loading import champion_study
from binclf.register.promotion import challenge_champion, comparison_plots, score_pair
from binclf.register.registry import Registry
from binclf.register.unseen_rows import unseen_by_champion
from binclf.spec import DatasetSpec
from binclf.train import steps
from binclf.train.inputs import data_version
from binclf.train.lineage import require_same_data
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.search import SearchSettings
from binclf.train.settings import (
    CalibrationSettings,
    ScreeningSettings,
    SplitSettings,
    ThresholdSettings,
)
from binclf.train.splits import make_splits
from binclf.train.threshold import ThresholdChoice

StepTimer = Callable[[str], AbstractContextManager[object]]


class PromotionSettings(BaseModel):
    """How the challenger must compare with the champion on the same test rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["pr_auc", "roc_auc", "log_loss", "brier"] = Field(
        "pr_auc", description="pr_auc, roc_auc, log_loss or brier"
    )
    margin: float = Field(0.01, description="non-inferiority margin on the metric")
    require_improvement: bool = Field(False, description="also require a proven improvement")
    n_boot: int = 500
    seed: int = 0
    min_comparison_rows: int = Field(
        100, ge=1, description="fewer test rows unseen by the champion refuse the comparison"
    )


class TrainingSettings(BaseModel):
    """The settings of every step of the chain; each default is the step's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    splits: SplitSettings = SplitSettings()
    screening: ScreeningSettings = ScreeningSettings()
    search: SearchSettings = Field(default_factory=SearchSettings)
    calibration: CalibrationSettings = CalibrationSettings()
    threshold: ThresholdSettings = ThresholdSettings()
    evaluation: EvaluationSettings = EvaluationSettings()


@dataclass(frozen=True)
class TrainedCandidate:
    """What each step of the chain returned, and the gates' verdict on the candidate."""

    splits: pl.DataFrame
    search: SearchOutcome
    calibration: CalibrationOutcome
    threshold: ThresholdChoice
    evaluation: Evaluation
    registered: RegisteredCandidate
    gates: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


def split(window: pl.DataFrame, spec: DatasetSpec, settings: SplitSettings) -> pl.DataFrame:
    """Disjoint train / validation / calibration / test rows, ordered by time."""
    return make_splits(window, spec, fractions=settings.fractions, seed=settings.seed)


def register(
    registry: Registry,
    spec: DatasetSpec,
    *,
    search: SearchOutcome,
    calibration: CalibrationOutcome,
    threshold: ThresholdChoice,
    evaluation: Evaluation,
    splits: pl.DataFrame,
) -> tuple[RegisteredCandidate, list[GateResult]]:
    """Judge the candidate by the gates, then register it with the rejection (if one failed) in
    the same registry change, so no killed run leaves a gate-failed version as a challenger."""
    made_from = {
        "model_search": search.data_version,
        "calibration": calibration.data_version,
        "decision_threshold": threshold.data_version,
        "candidate_evaluation": evaluation.data_version,
    }
    require_same_data("model_candidate", data_version(splits), made_from)
    gates = evaluate_gates(evaluation.evidence, spec.gates)
    registered = candidate.register_candidate(
        registry,
        spec,
        search=search,
        calibration=calibration,
        threshold=threshold,
        evaluation=evaluation,
        splits=splits,
        decision=candidate.gate_rejection(gates),
    )
    return registered, gates


@dataclass(frozen=True)
class DecisionOutcome:
    """The stored decision record and both models' curves on the shared test rows (PNG)."""

    record: dict[str, Any]
    plots: dict[str, bytes] = field(default_factory=dict)


def test_window(test: pl.DataFrame, spec: DatasetSpec) -> tuple[date, date] | None:
    """The first and last day of the test rows (None for snapshot data or no rows)."""
    if spec.time_column is None or test.height == 0:
        return None
    times = test[spec.time_column]
    return times.min().date(), times.max().date()


def decide(
    registry: Registry,
    spec: DatasetSpec,
    version: str,
    splits: pl.DataFrame,
    settings: PromotionSettings,
    *,
    unchanged: bool = False,
) -> DecisionOutcome:
    """Promote the version if its stored evidence passes every gate and it holds up against
    the champion on the same test rows; the decision record with both models' curves. A
    candidate whose inputs were registered before is `UNCHANGED`: nothing is compared or
    promoted."""
    if unchanged:
        record = {
            "decision": "unchanged",
            "promote": False,
            "reason_codes": ["UNCHANGED"],
            "version": version,
            "headline": f"UNCHANGED {version}: the same inputs were registered before",
        }
        return DecisionOutcome(record)
    evidence = candidate.stored_evidence(registry, spec, version)
    made_from = {f"version {version}": str(evidence.get("data_version", ""))}
    require_same_data("champion_decision", data_version(splits), made_from)
    test, y = evaluation_steps.test_rows(splits, spec)
    pair = score_pair(registry, spec.name, version, test)
    record = challenge_champion(
        registry,
        spec.name,
        version,
        test,
        y,
        gates=evaluate_gates(evidence, spec.gates),
        metric=settings.metric,
        margin=settings.margin,
        require_improvement=settings.require_improvement,
        n_boot=settings.n_boot,
        seed=settings.seed,
        weights=row_weights_of(test, spec),
        clusters=day_clusters(test, spec),
        unseen_rows=functools.partial(
            unseen_by_champion, test, y, spec, min_rows=settings.min_comparison_rows
        ),
        window=test_window(test, spec),
        scored=pair,
    )
    return DecisionOutcome(record, comparison_plots(pair, y))


@contextmanager
def _untimed(_: str) -> Iterator[None]:
    yield


def train_candidate(
    spec: DatasetSpec,
    window: pl.DataFrame | Callable[[], pl.DataFrame],
    settings: TrainingSettings,
    registry: Registry,
    *,
    storage: str,
    timer: StepTimer = _untimed,
) -> TrainedCandidate:
    """Train, evaluate and register a candidate from a training window, step by step.

    `window` is the frame or a function that reads it: then the chain holds it only until the
    splits exist, as the Dagster run does. `storage` is the optuna storage URL of the search;
    `timer(step)` wraps each step (named as the asset that runs it), e.g. to measure it.
    """
    if callable(window):
        with timer("training_window"):
            window = window()
    with timer("training_splits"):
        splits = split(window, spec, settings.splits)
    del window
    with timer("model_search"):
        search = steps.search(
            splits,
            spec,
            settings=settings.search,
            storage=storage,
            study_name=steps.study_name(spec, splits, settings.search, settings.screening),
            screening=settings.screening,
            warm_start_from=champion_study(registry, spec.name),
        )
    with timer("calibration"):
        calibration = steps.calibrate(search, splits, spec, settings=settings.calibration)
    with timer("decision_threshold"):
        threshold = steps.threshold(search, calibration, splits, spec, settings=settings.threshold)
    with timer("candidate_evaluation"):
        evaluation = evaluation_steps.evaluate(
            search, calibration, threshold, splits, spec, settings=settings.evaluation
        )
    with timer("model_candidate"):
        registered, gates = register(
            registry,
            spec,
            search=search,
            calibration=calibration,
            threshold=threshold,
            evaluation=evaluation,
            splits=splits,
        )
    return TrainedCandidate(splits, search, calibration, threshold, evaluation, registered, gates)
