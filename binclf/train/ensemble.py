"""An ensemble of searched models: greedy selection on validation, stored as its members' files.

Greedy ensemble selection (Caruana et al., 2004): starting from nothing, add with replacement
the candidate whose addition gives the best validation score, `ENSEMBLE_STEPS` times, and keep
the best ensemble seen on the way, so it is never worse than the best single candidate (the
first step picks it). Weights are how often each member was picked.

Members are averaged in log-odds, each with its own prior shift: the ensemble's log-odds is
the weighted sum of its members' prior-corrected log-odds, so the weighted sum of their
explanations (per-feature log-odds contributions, the shifts in the bias) adds up to it exactly.
An ensemble's files are `ensemble.json` (members, their weights and shifts) and each member's
own files under a `member<i>__` prefix; nothing executable is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from binclf.train.models import BinaryModel, ModelError, model_from_files

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_STEPS = 20
MAX_MEMBERS = 4


def _log_odds(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, 1e-15, 1 - 1e-15))


@dataclass(frozen=True)
class Selection:
    """Weights per candidate index (summing to 1) and the ensemble's validation score."""

    weights: dict[int, float]
    score: float


def greedy_selection(
    predictions: Sequence[np.ndarray],
    score: Callable[[np.ndarray], float],
    *,
    maximize: bool,
    steps: int = ENSEMBLE_STEPS,
    max_members: int = MAX_MEMBERS,
) -> Selection:
    """Caruana's selection with replacement over candidates' validation probabilities.

    `score(p)` scores a probability vector on validation. At most `max_members` distinct
    candidates are used. Ties keep the lower candidate index, so the result is deterministic.
    """
    if not predictions:
        raise ValueError("greedy selection needs at least one candidate")
    odds = [_log_odds(np.asarray(p, dtype=np.float64)) for p in predictions]
    sign = -1.0 if maximize else 1.0
    counts: dict[int, int] = {}
    total = np.zeros_like(odds[0])
    best: Selection | None = None
    for step in range(1, steps + 1):
        allowed = list(counts) if len(counts) >= max_members else range(len(odds))
        trial_scores = [(sign * score(expit((total + odds[i]) / step)), i) for i in allowed]
        value, chosen = min(trial_scores)
        counts[chosen] = counts.get(chosen, 0) + 1
        total = total + odds[chosen]
        if best is None or value < sign * best.score:
            weights = {i: n / step for i, n in sorted(counts.items())}
            best = Selection(weights=weights, score=sign * value)
    assert best is not None
    return best


class EnsembleModel:
    """Weighted members averaged in prior-corrected log-odds (its own prior shift is 0)."""

    family = "ensemble"

    def __init__(
        self, members: Sequence[BinaryModel], weights: Sequence[float], shifts: Sequence[float]
    ) -> None:
        if not members or len(members) != len(weights) or len(members) != len(shifts):
            raise ModelError("an ensemble needs one weight and one shift per member")
        if not np.isclose(sum(weights), 1.0) or min(weights) <= 0:
            raise ModelError(f"ensemble weights must be positive and sum to 1, got {weights}")
        self.members = list(members)
        self.weights = [float(w) for w in weights]
        self.shifts = [float(s) for s in shifts]
        self.params = {
            "members": [
                {"family": m.family, "weight": w, "prior_log_odds_shift": s, "params": m.params}
                for m, w, s in zip(self.members, self.weights, self.shifts, strict=True)
            ]
        }

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        total = np.zeros(len(X))
        for model, weight, shift in zip(self.members, self.weights, self.shifts, strict=True):
            total += weight * (_log_odds(model.predict_raw(X)) + shift)
        return expit(total)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Weighted members' contributions over X's columns, (n, n_features + 1); last = bias."""
        columns = list(X.columns)
        combined = np.zeros((len(X), len(columns) + 1))
        for model, weight, shift in zip(self.members, self.weights, self.shifts, strict=True):
            own = model.contributions(X)
            names = _feature_names(model, columns)
            index = [columns.index(name) for name in names]
            combined[:, index] += weight * own[:, :-1]
            combined[:, -1] += weight * (own[:, -1] + shift)
        return combined

    def feature_importance(self) -> dict[str, float]:
        """Members' importance shares, weighted."""
        importance: dict[str, float] = {}
        for model, weight in zip(self.members, self.weights, strict=True):
            for name, share in model.feature_importance().items():
                importance[name] = importance.get(name, 0.0) + weight * share
        return importance

    def to_files(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        manifest = []
        for i, (model, weight, shift) in enumerate(
            zip(self.members, self.weights, self.shifts, strict=True)
        ):
            own = model.to_files()
            prefix = f"member{i}__"
            files.update({prefix + name: data for name, data in own.items()})
            manifest.append(
                {
                    "family": model.family,
                    "weight": weight,
                    "prior_log_odds_shift": shift,
                    "files": sorted(own),
                }
            )
        files[ENSEMBLE_FILE] = json.dumps({"members": manifest}, indent=1).encode()
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> EnsembleModel:
        manifest = json.loads(files[ENSEMBLE_FILE])["members"]
        members, weights, shifts = [], [], []
        for i, member in enumerate(manifest):
            if member["family"] == cls.family:
                raise ModelError("an ensemble member cannot be an ensemble")
            prefix = f"member{i}__"
            own = {name: files[prefix + name] for name in member["files"]}
            members.append(model_from_files(member["family"], own))
            weights.append(member["weight"])
            shifts.append(member["prior_log_odds_shift"])
        return cls(members, weights, shifts)


def _feature_names(model: Any, columns: list[str]) -> list[str]:
    """The model's features in the order of its contribution columns."""
    encoding = getattr(model, "encoding", None)
    if encoding is not None:
        return list(encoding.feature_names)
    booster = getattr(model, "booster", None)
    if booster is not None and len(booster.feature_name()) == len(columns):
        return columns  # LightGBM keeps the frame's column order
    raise ModelError(f"cannot align the contributions of a {model.family} member")
