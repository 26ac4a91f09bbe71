"""Probability calibration: none, sigmoid (Platt) or isotonic, chosen by cross-validated log loss.

Fitting goes through scikit-learn's `CalibratedClassifierCV(FrozenEstimator(model))`, where the
model is a fitted stand-in whose decision function is the log-odds of the model's score. Working
on log-odds lets the sigmoid express "leave the scores as they are" (a = -1, b = 0), so a model
that is already calibrated is not bent. The fitted parameters are kept as plain numbers and
serialized to JSON; `Calibrator.transform` applies them with the formulas scikit-learn uses.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold

from binclf.stats.metrics import calibration_summary, log_loss, row_log_loss, validate_inputs

CALIBRATION_METHODS = ("none", "sigmoid", "isotonic")
# Scores of exactly 0 or 1 get finite log-odds (about +-34.5).
_SCORE_CLIP = 1e-15


class CalibrationError(ValueError):
    """A calibration request or serialized calibrator that cannot be used."""


def _log_odds(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores, _SCORE_CLIP, 1.0 - _SCORE_CLIP)
    return np.log(clipped) - np.log1p(-clipped)


def _check_scores(scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise CalibrationError(f"scores must be 1-D, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or (values.size and (values.min() < 0 or values.max() > 1)):
        raise CalibrationError("scores must be finite probabilities in [0, 1]")
    return values


class _ScoreModel(ClassifierMixin, BaseEstimator):
    """A binary classifier over one column, the score; its decision function is the log-odds."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _ScoreModel:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return _log_odds(np.asarray(X, dtype=np.float64)[:, 0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(np.int64)]


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map from scores to probabilities.

    sigmoid: p = 1 / (1 + exp(a * logit(score) + b)) (scikit-learn's sign convention).
    isotonic: piecewise-linear interpolation of `y_thresholds` over `x_thresholds` (log-odds of
    the score), constant beyond the ends.
    """

    method: str = "none"
    a: float | None = None
    b: float | None = None
    x_thresholds: tuple[float, ...] = field(default=())
    y_thresholds: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise CalibrationError(
                f"method must be one of {CALIBRATION_METHODS}, got {self.method!r}"
            )
        if self.method == "sigmoid" and not (
            self.a is not None and self.b is not None and np.isfinite([self.a, self.b]).all()
        ):
            raise CalibrationError(f"sigmoid needs finite a and b, got a={self.a}, b={self.b}")
        if self.method == "isotonic":
            x, y = np.asarray(self.x_thresholds), np.asarray(self.y_thresholds)
            if x.size == 0 or x.shape != y.shape:
                raise CalibrationError("isotonic needs equally long, non-empty x and y thresholds")
            if np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
                raise CalibrationError("isotonic thresholds must increase (x strictly)")

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of `scores`."""
        values = _check_scores(scores)
        if self.method == "none":
            return values.copy()
        log_odds = _log_odds(values)
        if self.method == "sigmoid":
            return expit(-(self.a * log_odds + self.b))
        x, y = np.asarray(self.x_thresholds), np.asarray(self.y_thresholds)
        return np.interp(np.clip(log_odds, x[0], x[-1]), x, y)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a, "b": self.b}
        if self.method == "isotonic":
            return {
                "method": "isotonic",
                "x_thresholds": list(self.x_thresholds),
                "y_thresholds": list(self.y_thresholds),
            }
        return {"method": "none"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator from `to_dict` output."""
        method = data.get("method")
        try:
            if method == "sigmoid":
                return cls("sigmoid", a=float(data["a"]), b=float(data["b"]))
            if method == "isotonic":
                return cls(
                    "isotonic",
                    x_thresholds=tuple(float(v) for v in data["x_thresholds"]),
                    y_thresholds=tuple(float(v) for v in data["y_thresholds"]),
                )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, CalibrationError):
                raise
            raise CalibrationError(
                f"{method} calibrator is missing or has a bad value: {error!r}"
            ) from error
        return cls(method if isinstance(method, str) else repr(method))


def fit_calibrator(
    scores: np.ndarray, y: np.ndarray, *, method: str, weights: np.ndarray | None = None
) -> Calibrator:
    """Fit one calibration method on all given rows with scikit-learn."""
    if method not in CALIBRATION_METHODS:
        raise CalibrationError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    y, scores, w = validate_inputs(y, _check_scores(scores), weights=weights)
    if method == "none":
        return Calibrator("none")
    X = scores.reshape(-1, 1)
    # The frozen model ignores the folds; two is the least scikit-learn accepts.
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(_ScoreModel().fit(X, y)), method=method, cv=2
    )
    with warnings.catch_warnings():
        # Weights are meant for the calibration map only, which is what scikit-learn warns about.
        warnings.filterwarnings("ignore", message=".*does not appear to accept sample_weight")
        calibrated.fit(X, y, sample_weight=None if weights is None else w)
    fitted = calibrated.calibrated_classifiers_[0].calibrators[0]
    if method == "sigmoid":
        return Calibrator("sigmoid", a=float(fitted.a_), b=float(fitted.b_))
    return Calibrator(
        "isotonic",
        x_thresholds=tuple(float(v) for v in fitted.X_thresholds_),
        y_thresholds=tuple(float(v) for v in fitted.y_thresholds_),
    )


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen calibrator and the evidence for it.

    `before` and `after` (log_loss, brier, ece) are over the calibration rows: `before` for the
    raw scores, `after` for the out-of-fold predictions of the chosen method, so neither is an
    in-sample fit.
    """

    calibrator: Calibrator
    cv_log_loss: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]
    n_folds: int
    seed: int
    min_gain_se: float

    @property
    def method(self) -> str:
        return self.calibrator.method

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "calibrator": self.calibrator.to_dict(),
            "cv_log_loss": dict(self.cv_log_loss),
            "before": dict(self.before),
            "after": dict(self.after),
            "n_folds": self.n_folds,
            "seed": self.seed,
            "min_gain_se": self.min_gain_se,
        }


def _gain_in_standard_errors(gain: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean of per-row gains divided by its standard error."""
    total = np.sum(w)
    mean = np.sum(w * gain) / total
    standard_error = np.sqrt(np.sum(w**2 * (gain - mean) ** 2)) / total
    if standard_error == 0.0:
        return float(np.inf) if mean > 0 else 0.0
    return float(mean / standard_error)


def _out_of_fold(
    scores: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    methods: list[str],
    *,
    n_folds: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Each method's out-of-fold probabilities over seeded stratified k folds."""
    out_of_fold = {method: scores.copy() for method in methods}
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(scores.reshape(-1, 1), y):
        for method in methods:
            calibrator = fit_calibrator(
                scores[train],
                y[train],
                method=method,
                weights=None if weights is None else weights[train],
            )
            out_of_fold[method][test] = calibrator.transform(scores[test])
    return out_of_fold


def out_of_fold_probabilities(
    scores: np.ndarray,
    y: np.ndarray,
    *,
    method: str,
    n_folds: int = 5,
    seed: int = 0,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Calibrated probabilities of each row from a calibrator fitted without that row's fold.

    The folds are those of `choose_calibration` with the same `n_folds` and `seed`. A threshold
    chosen on these probabilities is not tuned to the calibrator's fit of the same rows, which
    (for isotonic most of all) makes in-sample probabilities look better separated than new
    data's will be.
    """
    if method not in CALIBRATION_METHODS:
        raise CalibrationError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    y, scores, w = validate_inputs(y, _check_scores(scores), weights=weights)
    if method == "none":
        return scores.copy()
    fit_weights = None if weights is None else w
    return _out_of_fold(scores, y, fit_weights, [method], n_folds=n_folds, seed=seed)[method]


def choose_calibration(
    scores: np.ndarray,
    y: np.ndarray,
    *,
    methods: tuple[str, ...] = CALIBRATION_METHODS,
    n_folds: int = 5,
    seed: int = 0,
    weights: np.ndarray | None = None,
    n_bins: int = 10,
    min_gain_se: float = 1.0,
) -> CalibrationChoice:
    """Pick the method with the lowest out-of-fold log loss over seeded stratified k folds.

    "none" is always a candidate. Another method replaces it only if it lowers the out-of-fold
    log loss by more than `min_gain_se` standard errors of the per-row difference, so
    calibration never makes the cross-validated log loss worse and does not bend scores that are
    already calibrated to fit noise. The chosen method is then refitted on all rows.
    """
    unknown = sorted(set(methods) - set(CALIBRATION_METHODS))
    if unknown:
        raise CalibrationError(f"unknown calibration methods {unknown}; use {CALIBRATION_METHODS}")
    if n_folds < 2:
        raise CalibrationError(f"n_folds must be at least 2, got {n_folds}")
    if not min_gain_se >= 0.0:
        raise CalibrationError(f"min_gain_se must be non-negative, got {min_gain_se}")
    y, scores, w = validate_inputs(y, _check_scores(scores), weights=weights)
    smallest_class = int(min(np.sum(y == 0), np.sum(y == 1)))
    if smallest_class < n_folds:
        raise CalibrationError(
            f"{n_folds}-fold calibration needs at least {n_folds} rows of each class, "
            f"the smaller class has {smallest_class}"
        )
    candidates = ["none", *(m for m in CALIBRATION_METHODS if m in methods and m != "none")]
    fit_weights = None if weights is None else w
    out_of_fold = _out_of_fold(scores, y, fit_weights, candidates[1:], n_folds=n_folds, seed=seed)
    out_of_fold["none"] = scores.copy()

    cv_log_loss = {m: log_loss(y, out_of_fold[m], weights=w) for m in candidates}
    none_loss = row_log_loss(y, scores)
    significant = [
        m
        for m in candidates[1:]
        if _gain_in_standard_errors(none_loss - row_log_loss(y, out_of_fold[m]), w) > min_gain_se
    ]
    chosen = min(significant, key=lambda m: cv_log_loss[m], default="none")
    return CalibrationChoice(
        calibrator=fit_calibrator(scores, y, method=chosen, weights=fit_weights),
        cv_log_loss=cv_log_loss,
        before=calibration_summary(y, scores, weights=w, n_bins=n_bins),
        after=calibration_summary(y, out_of_fold[chosen], weights=w, n_bins=n_bins),
        n_folds=n_folds,
        seed=seed,
        min_gain_se=float(min_gain_se),
    )
