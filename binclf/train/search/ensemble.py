"""The ensemble as a candidate: greedy selection over the best trials, refit only if it wins.

The candidates are the `ENSEMBLE_CANDIDATES` best completed trials of this run (their
prior-corrected validation probabilities are kept in memory as they finish; trials of an earlier,
resumed run have none and are left out). It is formed only when trials were compared on every
trial row: on a top rung below it the candidates' predictions are not those of the models that
would be refit. The ensemble competes with the best single trial on the validation objective,
both scored the same way on every validation row, and is kept only when it is better by at
least `MIN_GAIN_SE` standard errors with at least two members; its members are then refit like
the winner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from binclf.train.ensemble import EnsembleModel, Selection, greedy_selection
from binclf.train.models import BinaryModel
from binclf.train.search.objectives import TrialData, score
from binclf.train.search.refit import refit
from binclf.train.search.settings import OBJECTIVES, SearchSettings

logger = logging.getLogger(__name__)

ENSEMBLE_CANDIDATES = 10
# The ensemble wins only when its validation gain over the best single trial is at least this
# many standard errors of that gain (a seeded bootstrap of the validation rows): selection on
# validation fits validation, and a gain smaller than its noise is not worth more models.
MIN_GAIN_SE = 1.0
N_BOOT = 50


@dataclass(frozen=True)
class EnsembleChoice:
    """The selected trials (by number) with their weights, and both validation scores."""

    members: dict[int, float]
    score: float
    best_single_score: float


def choose_ensemble(study: Any, data: TrialData, settings: SearchSettings) -> EnsembleChoice | None:
    """The greedy ensemble of this run's best trials, when it beats the best of them."""
    maximize = OBJECTIVES[settings.objective] == "maximize"
    scored = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.name == "COMPLETE" and t.number in data.valid_predictions
    ]
    scored.sort(key=lambda t: ((-1.0 if maximize else 1.0) * t.value, t.number))
    candidates = scored[:ENSEMBLE_CANDIDATES]
    if len(candidates) < 2:
        return None

    def objective(p: np.ndarray) -> float:
        return score(data.y_valid, p, data.valid_weight, settings.objective)

    predictions = [data.valid_predictions[t.number] for t in candidates]
    selection: Selection = greedy_selection(predictions, objective, maximize=maximize)
    single = objective(predictions[0])
    blended = blend(predictions, selection)
    gain, se = gain_and_se(data, blended, predictions[0], maximize)
    logger.info(
        "ensemble of %d trials: %.5f against the best single trial's %.5f (gain %.5f, se %.5f)",
        len(selection.weights),
        selection.score,
        single,
        gain,
        se,
    )
    if len(selection.weights) < 2 or gain <= 0 or gain < MIN_GAIN_SE * se:
        return None
    members = {candidates[i].number: w for i, w in selection.weights.items()}
    return EnsembleChoice(members=members, score=selection.score, best_single_score=single)


def blend(predictions: list[np.ndarray], selection: Selection) -> np.ndarray:
    """The selected candidates' probabilities averaged in log-odds with their weights."""
    total = sum(
        w * logit(np.clip(predictions[i], 1e-15, 1 - 1e-15)) for i, w in selection.weights.items()
    )
    return expit(total)


def gain_and_se(
    data: TrialData, ensemble: np.ndarray, single: np.ndarray, maximize: bool
) -> tuple[float, float]:
    """The ensemble's validation gain over the single trial and its bootstrap standard error."""
    sign = 1.0 if maximize else -1.0
    objective = data.settings.objective

    def gain(rows: np.ndarray) -> float:
        weight = None if data.valid_weight is None else data.valid_weight[rows]
        y = data.y_valid[rows]
        return sign * (
            score(y, ensemble[rows], weight, objective) - score(y, single[rows], weight, objective)
        )

    rng = np.random.default_rng(data.settings.seed)
    n = len(data.y_valid)
    boots = [gain(rng.integers(0, n, n)) for _ in range(N_BOOT)]
    return gain(np.arange(n)), float(np.std(boots, ddof=1))


def refit_ensemble(
    choice: EnsembleChoice,
    study: Any,
    winner: tuple[int, BinaryModel, float],
    X: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray | None,
    settings: SearchSettings,
) -> EnsembleModel:
    """Refit every member on the refit rows (the winner, already refit, is reused)."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    members, weights, shifts = [], [], []
    for number, member_weight in choice.members.items():
        if number == winner[0]:
            model, shift = winner[1], winner[2]
        else:
            model, _, shift = refit(trials[number], X, y, weight, settings)
        members.append(model)
        weights.append(member_weight)
        shifts.append(shift)
    return EnsembleModel(members, weights, shifts)
