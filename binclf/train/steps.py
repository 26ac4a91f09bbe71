"""The steps of training a candidate, as plain functions over frames and typed results.

Each step takes the training splits and what the earlier steps returned: the search gives a
`SearchOutcome`, the calibration a `CalibrationOutcome`, the threshold a `ThresholdChoice`.
The Dagster assets call them one by one, `binclf.chain` calls them in a row.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import polars as pl

from binclf.io.atomic import to_json_safe
from binclf.spec import DatasetSpec
from binclf.stats.plots import plot_reliability
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator, choose_calibration, out_of_fold_probabilities
from binclf.train.inputs import data_version, model_inputs
from binclf.train.lineage import require_same_data
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.search import SearchSettings, search_model
from binclf.train.search import study_name as search_study_name
from binclf.train.settings import CalibrationSettings, ScreeningSettings, ThresholdSettings
from binclf.train.threshold import ThresholdChoice, ThresholdPolicy, choose_threshold


def search(
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: SearchSettings,
    storage: str,
    study_name: str,
    screening: ScreeningSettings | None = None,
    warm_start_from: str | None = None,
) -> SearchOutcome:
    """Screen the features, search on (train, validation), refit on the training rows.

    A new study starts with the best trials of the study `warm_start_from` (the champion's).
    """
    screening = screening or ScreeningSettings()
    version = data_version(splits)
    inputs = model_inputs(
        splits,
        spec,
        names=("train", "validation"),
        min_positives=screening.min_positives,
        leak_auc=screening.leak_auc,
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
        warm_start_from=warm_start_from,
        in_time_order=spec.time_column is not None,
    )
    return replace(SearchOutcome.from_result(result, schema, exclusions), data_version=version)


def build_bundle(
    search: SearchOutcome, calibration: CalibrationOutcome | None, threshold: float
) -> ScoringBundle:
    """The scoring bundle of a candidate from its search, calibration and threshold."""
    return ScoringBundle(
        schema=search.schema,
        model=search.model(),
        prior_log_odds_shift=search.prior_log_odds_shift,
        calibrator=calibration.choice.calibrator if calibration else Calibrator("none"),
        threshold=threshold,
    )


def study_name(
    spec: DatasetSpec,
    splits: pl.DataFrame,
    settings: SearchSettings,
    screening: ScreeningSettings | None = None,
) -> str:
    """The study a search resumes: named by the search package from data, definition, settings."""
    screening = screening or ScreeningSettings()
    parts = to_json_safe({**asdict(settings), **screening.model_dump()})
    return search_study_name(spec, splits, parts)


def _scores(search: SearchOutcome, frame: pl.DataFrame) -> np.ndarray:
    """Prior-corrected model probabilities, before calibration."""
    return build_bundle(search, None, 0.5).raw_scores(frame)


def calibrate(
    search: SearchOutcome,
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: CalibrationSettings,
) -> CalibrationOutcome:
    """Choose and fit the calibration on the calibration rows, with a reliability plot."""
    version = data_version(splits)
    require_same_data("calibration", version, {"model_search": search.data_version})
    inputs = model_inputs(splits, spec, names=("calibration",), schema=search.schema)
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    raw = _scores(search, frame)
    choice = choose_calibration(
        raw,
        y,
        methods=settings.methods,
        n_folds=settings.n_folds,
        seed=settings.seed,
        weights=inputs.weights("calibration"),
    )
    calibrated = choice.calibrator.transform(raw)
    plot = plot_reliability(y, {"before": raw, "after": calibrated}, title="Calibration rows")
    return CalibrationOutcome(choice, plots={"calibration_rows": plot}, data_version=version)


def threshold(
    search: SearchOutcome,
    calibration: CalibrationOutcome,
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    settings: ThresholdSettings,
) -> ThresholdChoice:
    """Choose the decision threshold on the calibration rows' out-of-fold probabilities.

    Each row's probability comes from the chosen calibration fitted on the other folds (the
    folds `choose_calibration` used), so the threshold is not tuned to the calibrator's fit of
    the same rows. The choice's own cost is still measured on the rows it was chosen on; the
    forecast of the cost on new data is the test rows' (`binclf.evaluate`).
    """
    version = data_version(splits)
    require_same_data(
        "decision_threshold",
        version,
        {"model_search": search.data_version, "calibration": calibration.data_version},
    )
    inputs = model_inputs(splits, spec, names=("calibration",), schema=search.schema)
    frame, y = inputs.frames["calibration"], inputs.labels("calibration")
    weights = inputs.weights("calibration")
    choice = calibration.choice
    p = out_of_fold_probabilities(
        _scores(search, frame),
        y,
        method=choice.method,
        n_folds=choice.n_folds,
        seed=choice.seed,
        weights=weights,
    )
    choice = choose_threshold(
        p,
        y,
        policy=ThresholdPolicy(kind=settings.policy, target=settings.target),
        cost_fp=spec.costs.false_positive,
        cost_fn=spec.costs.false_negative,
        weights=weights,
        n_boot=settings.n_boot,
        seed=settings.seed,
    )
    return replace(choice, data_version=version)
