"""Training: window, splits, search, calibration, threshold, evaluation, registry, promotion."""

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import polars as pl
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    asset,
)

from assets import training_metadata as meta
from assets.champion import champion_observation
from assets.resources import StateResource
from assets.training_config import (
    CalibrationConfig,
    EvaluationConfig,
    PromotionConfig,
    SearchConfig,
    SplitConfig,
    ThresholdConfig,
    WindowConfig,
)
from binclf import chain
from binclf.evaluate import steps as evaluation_steps
from binclf.evaluate.steps import Evaluation
from binclf.ingest.sources import keys_in_window
from binclf.register.candidate import RegisteredCandidate
from binclf.register.headline import rejection_line
from binclf.register.loading import champion_study
from binclf.spec import DatasetSpec
from binclf.train import inputs as training_inputs
from binclf.train import steps
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.threshold import ThresholdChoice
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
# What each check asks, in words, with the spec's thresholds filled in.
GATE_CHECK_TEXT = {
    "min_test_volume": "The test split has at least {min_test_rows} rows and "
    "{min_test_positives} positives, enough to judge the model",
    "min_roc_auc": "ROC-AUC on the test split is at least {min_roc_auc}",
    "min_pr_auc": "PR-AUC (average precision) on the test split is at least {min_pr_auc}",
    "max_ece": "Calibration: the expected calibration error on the test split is at most {max_ece}",
    "max_fairness_disparity": "Fairness: the largest gap between the groups of a sensitive "
    "attribute is at most {max_fairness_disparity}",
    "min_slice_recall": "Every slice with at least {min_slice_positives} positives keeps a "
    "recall of at least {min_slice_recall}",
    "no_label_leakage": "No single feature predicts the label with a ROC-AUC above "
    "{max_single_feature_auc} (a sign of label leakage)",
}


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
            warm_start_from=champion_study(state.registry(), spec.name),
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
            AssetCheckSpec(
                name,
                asset="model_candidate",
                blocking=True,
                description=GATE_CHECK_TEXT[name].format(**spec.gates.model_dump()),
            )
            for name in GATE_CHECKS
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
        verdict = rejection_line(registered.version, gates)
        if verdict is not None:
            context.log.error(verdict)
        yield meta.candidate_output(registered, gates)  # first: checks then target this version
        yield from meta.gate_check_results(gates, GATE_CHECKS)

    @asset(**group)
    def champion_decision(
        context: AssetExecutionContext,
        config: PromotionConfig,
        state: StateResource,
        model_candidate: RegisteredCandidate,
        training_splits: pl.DataFrame,
    ) -> dict[str, Any]:
        """Promote the candidate if every gate passed and it holds up against the champion."""
        outcome = chain.decide(
            state.registry(),
            spec,
            model_candidate.version,
            training_splits,
            config.settings(),
            unchanged=model_candidate.unchanged,
        )
        context.add_output_metadata(meta.decision_metadata(outcome))
        if outcome.record["promote"]:  # the pointer moved: the scored days are now stale
            context.log_event(champion_observation(state.registry(), spec.name))
        return outcome.record

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
