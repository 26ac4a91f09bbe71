"""Calibration: sklearn-identical fits, JSON round trips and a choice that never hurts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from binclf.stats.metrics import log_loss
from binclf.train.calibration import (
    CalibrationError,
    Calibrator,
    choose_calibration,
    fit_calibrator,
)


def _rows(n: int, rng: np.random.Generator, *, distortion=None):
    """True probabilities, labels drawn from them, and the scores a model would output."""
    truth = rng.beta(1.2, 6.0, n)
    y = (rng.uniform(size=n) < truth).astype(np.int8)
    return (truth if distortion is None else distortion(truth)), y


def _overconfident(truth: np.ndarray) -> np.ndarray:
    return expit(2.5 * logit(truth) + 1.0)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_json_restored_calibrator_reproduces_sklearn(method: str) -> None:
    rng = np.random.default_rng(0)
    scores, y = _rows(1_500, rng, distortion=_overconfident)
    new_scores, _ = _rows(500, rng, distortion=_overconfident)
    # A fitted sklearn classifier whose decision function is an increasing affine map of the
    # score's log-odds: sigmoid and isotonic calibration are unchanged by such a map.
    model = LogisticRegression().fit(logit(scores)[:, None], y)
    reference = CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(
        logit(scores)[:, None], y
    )

    restored = Calibrator.from_dict(
        json.loads(json.dumps(fit_calibrator(scores, y, method=method).to_dict()))
    )

    expected = reference.predict_proba(logit(new_scores)[:, None])[:, 1]
    np.testing.assert_allclose(restored.transform(new_scores), expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_integer_weights_act_like_repeated_rows(method: str) -> None:
    rng = np.random.default_rng(1)
    scores, y = _rows(600, rng, distortion=_overconfident)
    repeats = rng.integers(1, 4, len(y))
    weighted = fit_calibrator(scores, y, method=method, weights=repeats.astype(float))
    repeated = fit_calibrator(np.repeat(scores, repeats), np.repeat(y, repeats), method=method)

    grid = np.linspace(0.001, 0.999, 200)
    np.testing.assert_allclose(weighted.transform(grid), repeated.transform(grid), atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibrated_scores_are_left_alone_and_heldout_log_loss_never_worsens(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores, y = _rows(2_000, rng)
    heldout_scores, heldout_y = _rows(20_000, rng)

    choice = choose_calibration(scores, y, seed=seed)

    assert choice.method == "none"
    calibrated = choice.calibrator.transform(heldout_scores)
    assert log_loss(heldout_y, calibrated) <= log_loss(heldout_y, heldout_scores) + 1e-12
    assert choice.cv_log_loss[choice.method] <= choice.cv_log_loss["none"]


@pytest.mark.parametrize("seed", [0, 1])
def test_overconfident_scores_are_recalibrated_and_every_measure_improves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores, y = _rows(2_000, rng, distortion=_overconfident)
    heldout_scores, heldout_y = _rows(20_000, rng, distortion=_overconfident)

    choice = choose_calibration(scores, y, seed=seed)

    assert choice.method != "none"
    improvement = log_loss(heldout_y, heldout_scores) - log_loss(
        heldout_y, choice.calibrator.transform(heldout_scores)
    )
    assert improvement > 0.05
    for measure in ("log_loss", "brier", "ece"):
        assert choice.after[measure] < choice.before[measure], measure


def test_isotonic_is_chosen_for_a_step_that_no_sigmoid_fits() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.01, 0.99, 2_000)
    y = (rng.uniform(size=len(scores)) < np.where(scores > 0.5, 0.9, 0.1)).astype(np.int8)

    choice = choose_calibration(scores, y, seed=0)

    assert choice.method == "isotonic"
    assert choice.cv_log_loss["isotonic"] < choice.cv_log_loss["sigmoid"]
    np.testing.assert_allclose(
        choice.calibrator.transform(np.array([0.2, 0.8])), [0.1, 0.9], atol=0.05
    )


def test_choice_is_reproducible_and_json_ready() -> None:
    rng = np.random.default_rng(4)
    scores, y = _rows(800, rng, distortion=_overconfident)
    first = choose_calibration(scores, y, seed=11, methods=("none", "sigmoid"))
    again = choose_calibration(scores, y, seed=11, methods=("none", "sigmoid"))

    assert first.to_dict() == again.to_dict()
    assert set(first.cv_log_loss) == {"none", "sigmoid"}
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()


def test_none_calibrator_is_the_identity() -> None:
    scores = np.array([0.0, 0.3, 1.0])
    calibrator = Calibrator.from_dict(Calibrator().to_dict())
    np.testing.assert_array_equal(calibrator.transform(scores), scores)


def test_bad_requests_are_rejected_with_the_reason() -> None:
    scores = np.linspace(0.05, 0.95, 20)
    y = np.array([0, 1] * 10)
    with pytest.raises(CalibrationError, match="unknown calibration methods \\['platt'\\]"):
        choose_calibration(scores, y, methods=("none", "platt"))
    with pytest.raises(CalibrationError, match="at least 15 rows of each class"):
        choose_calibration(scores, y, n_folds=15)
    with pytest.raises(CalibrationError, match=r"probabilities in \[0, 1\]"):
        fit_calibrator(scores * 2, y, method="sigmoid")
    with pytest.raises(CalibrationError, match="method must be one of"):
        Calibrator.from_dict({"method": "beta"})
    with pytest.raises(CalibrationError, match="sigmoid calibrator is missing or has a bad value"):
        Calibrator.from_dict({"method": "sigmoid", "a": 1.0})
    with pytest.raises(CalibrationError, match="sigmoid needs finite a and b"):
        Calibrator("sigmoid", a=float("nan"), b=0.0)
    with pytest.raises(CalibrationError, match="must increase"):
        Calibrator("isotonic", x_thresholds=(1.0, 0.0), y_thresholds=(0.1, 0.2))
