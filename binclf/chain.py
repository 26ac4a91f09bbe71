"""The training chain without any framework: splits, search, calibration, threshold,
evaluation and registration, calling the same step functions the Dagster assets call one by one.

`train_candidate` runs the whole chain on a training window (the benchmarks and the Adult script
use it); `split` and `register` are the two steps that are more than one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.steps import Evaluation, EvaluationSettings
from binclf.register import candidate
from binclf.register.candidate import RegisteredCandidate
from binclf.register.gates import GateResult, evaluate_gates
from binclf.register.registry import Registry
from binclf.spec import DatasetSpec
from binclf.train import steps
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


class TrainingSettings(BaseModel):
    """The settings of every step of the chain; each default is the step's own."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

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
    """Register the candidate, judge it by the gates and record a rejection if one failed."""
    registered = candidate.register_candidate(
        registry,
        spec,
        search=search,
        calibration=calibration,
        threshold=threshold,
        evaluation=evaluation,
        splits=splits,
    )
    gates = evaluate_gates(evaluation.evidence, spec.gates)
    if not all(g.passed for g in gates):
        candidate.record_gate_rejection(registry, spec, registered.version, gates)
    return registered, gates


@contextmanager
def _untimed(_: str) -> Iterator[None]:
    yield


def train_candidate(
    spec: DatasetSpec,
    window: pl.DataFrame,
    settings: TrainingSettings,
    registry: Registry,
    *,
    storage: str,
    timer: StepTimer = _untimed,
) -> TrainedCandidate:
    """Train, evaluate and register a candidate from a training window, step by step.

    `storage` is the optuna storage URL of the search; `timer(step)` wraps each step (named as
    the asset that runs it), e.g. to measure it.
    """
    with timer("training_splits"):
        splits = split(window, spec, settings.splits)
    with timer("model_search"):
        search = steps.search(
            splits,
            spec,
            settings=settings.search,
            storage=storage,
            study_name=steps.study_name(spec, splits, settings.search, settings.screening),
            screening=settings.screening,
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
